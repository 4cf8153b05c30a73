"""Backends: how a built model is run (eager, TorchScript, torch.compile, CUDA graphs, ONNX Runtime, AOTInductor).

`prepare(backend, model, inputs)` does everything a backend needs before it reaches its
steady state (trace, compile, export, capture, and the first calls that trigger lazy
compilation) and returns a `Prepared` whose `call()` runs one forward on the bound
inputs. The time that took is `prepare_s`; it is never mixed into the timed samples.

`available(backend, device, dtype)` says up front whether a combination can run here
and why not; an unavailable combination is never silently replaced by another.
Whether a prepared backend's output matches eager's is checked by `ftax.run.parity`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from ftax.measure import memory, ort_profile
from ftax.measure.devices import resolve_device, sync_for
from ftax.store.errors import InvalidConfigError, UnsupportedError
from ftax.run.models import BuiltModel, dynamic_axes, input_names
from ftax.measure.timing import timed_call_ms

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

@dataclass
class Prepared:
    """A backend ready to be timed: `call()` runs one forward on the bound inputs."""

    backend: str
    call: Callable[[], object]
    output: Callable[[], torch.Tensor]  # the last call's output, as a torch tensor on CPU
    prepare_s: float
    detail: str = ""
    first_call_ms: float | None = None  # the first call after building: cold (or compiling)
    # Counts the weights this backend holds, from its own tensors or file; called after timing, because
    # reading an ONNX file's initializers would itself allocate what the memory figures are to measure.
    count_weights: Callable[[], int] | None = None
    run: Callable[..., torch.Tensor] | None = None  # the same callable on other inputs (a decoder's greedy steps)
    # builds the call a decomposition profiles where it differs from `call` (AOTInductor: a package whose kernels the
    # profiler sees, too slow to time); None: `call` itself
    profiled: Callable[[], Callable[[], object]] | None = None
    own_split: Callable[[], dict] | None = None  # a runtime torch's profiler cannot see splits its time (ONNX Runtime)


def dtype_of(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise InvalidConfigError(f"unknown dtype {name!r}; allowed: {', '.join(DTYPES)}") from None


def _cuda_only(device: str, what: str) -> str | None:
    if not device.startswith("cuda"):
        return f"{what} needs a CUDA device (device is {device})"
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch"
    return None


def _ort_reason(device: str, dtype: str) -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed (pip install ftax[onnx])"
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return (f"this onnxruntime build has no CUDAExecutionProvider "
                    f"(providers: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu")
    elif dtype != "fp32":
        return f"onnxruntime's CPU execution provider lacks {dtype} kernels for most transformer ops"
    return None


def _aoti_reason(device: str, dtype: str) -> str | None:
    if device == "cpu" and shutil.which("g++") is None and shutil.which("c++") is None:
        return "aot-inductor compiles C++ ahead of time and no C++ compiler (g++) is on PATH"
    return None


_AVAILABILITY: dict[str, Callable[[str, str], str | None]] = {
    "eager": lambda device, dtype: None,
    "torchscript": lambda device, dtype: None,
    "compile": lambda device, dtype: None,
    "compile-reduce-overhead": lambda device, dtype: _cuda_only(
        device, "compile-reduce-overhead (it is CUDA graphs inside torch.compile)"),
    "cudagraph": lambda device, dtype: _cuda_only(device, "cudagraph"),
    "onnxruntime": _ort_reason,
    "aot-inductor": _aoti_reason,
}

# Backends that cannot time a decoder's prefill/decode step (a module that updates its KV cache buffers in place).
PHASE_UNSUPPORTED = {
    "torchscript": "torchscript's trace + freeze folds the KV cache buffers into constants, so the cache would "
                   "never be updated",
    "onnxruntime": "the ONNX export drops the in-place update of the KV cache buffers (ONNX graphs have no "
                   "mutable state)",
}


def phase_reason(backend: str, phase: str) -> str | None:
    """Why `backend` cannot run `phase` (None: it can); forward runs everywhere."""
    return None if phase == "forward" else PHASE_UNSUPPORTED.get(backend)


def names() -> list[str]:
    """Every backend name, in the order figures list them."""
    return list(_AVAILABILITY)


def check_name(backend: str) -> None:
    if backend not in _AVAILABILITY:
        raise InvalidConfigError(f"unknown backend {backend!r}; allowed: {', '.join(_AVAILABILITY)}")


def available(backend: str, device: str, dtype: str) -> tuple[bool, str]:
    """(True, "") if `backend` can run on `device` in `dtype` here, else (False, why not)."""
    check_name(backend)
    dtype_of(dtype)
    device = resolve_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        return False, "no CUDA device is visible to torch"
    reason = _AVAILABILITY[backend](device, dtype)
    return (reason is None), (reason or "")


# --- preparers ------------------------------------------------------------------------

def _torch_prepared(backend: str, fn: Callable[..., torch.Tensor], inputs: tuple, t0: float, warm_calls: int = 0,
                    detail: str = "", count_weights: Callable[[], int] | None = None) -> Prepared:
    """Wrap a torch callable; `warm_calls` (>= 1) calls that trigger lazy compilation count as prepare,
    and the first of them is timed as the cold first call."""
    last: dict[str, torch.Tensor] = {}

    def call() -> torch.Tensor:
        last["out"] = fn(*inputs)
        return last["out"]

    sync = sync_for(inputs[0].device if inputs else "cpu")
    with torch.inference_mode():
        first_call_ms = timed_call_ms(call, sync)
        for _ in range(warm_calls - 1):
            call()
    sync()
    return Prepared(backend, call, lambda: last["out"].detach().cpu(), time.perf_counter() - t0, detail,
                    first_call_ms, count_weights, run=fn)


def _prepare_eager(model: BuiltModel, inputs: tuple, cache_dir: Path) -> Prepared:
    """One call (the cold one) counts as prepare, so every backend's output exists before timing."""
    return _torch_prepared("eager", model.module, inputs, time.perf_counter(), warm_calls=1,
                           count_weights=lambda: memory.module_weights_bytes(model.module))


def _prepare_torchscript(model: BuiltModel, inputs: tuple, cache_dir: Path) -> Prepared:
    """Trace + freeze; two calls let the profiling executor specialize (counted as prepare)."""
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.module, inputs, check_trace=False, strict=False)
        frozen = torch.jit.freeze(traced.eval())
    return _torch_prepared("torchscript", frozen, inputs, t0, warm_calls=2,
                           count_weights=lambda: memory.script_weights_bytes(frozen))


_compiled_for: dict[str, object] = {}
PROFILED_WARM_S = 3.0  # calls right after a compile ran 200x slower for about a second (bert-tiny, 2-core CPU)


def _prepare_compile(model: BuiltModel, inputs: tuple, cache_dir: Path, mode: str | None = None) -> Prepared:
    """torch.compile as a user gets it (inductor, automatic dynamic shapes); the first call of a shape compiles,
    which counts as prepare time (the inductor cache on disk makes reruns cheaper). Dynamo's caches are reset
    whenever the model or mode changes, so compiled code of an earlier model never counts against the recompile
    limit (hitting it would silently fall back to eager). Within one model, a new shape first recompiles with
    dynamic shapes, then reuses that graph."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "inductor"))
    # Inductor compiles C++ in a pool of worker processes that outlive the compile and compete with whatever is
    # timed next (on a 2-core CPU, bert-tiny at batch 64 ran about 4x slower in the round that compiled than in the
    # later rounds, eager and ONNX Runtime alike). One thread compiles in this process.
    import torch._inductor.config as inductor_config

    inductor_config.compile_threads = 1
    t0 = time.perf_counter()
    owner = (id(model.module), mode)
    if _compiled_for.get("owner") != owner:
        torch._dynamo.reset()
        _compiled_for["owner"] = owner
    compiled = torch.compile(model.module, mode=mode)
    name = "compile" if mode is None else f"compile-{mode}"
    prepared = _torch_prepared(name, compiled, inputs, t0, 3 if mode else 1, f"mode={mode or 'default'}",
                               lambda: memory.module_weights_bytes(model.module))
    if mode is not None or inputs[0].device.type != "cpu":
        return prepared

    def profiled() -> Callable[[], object]:
        """The forward compiled again with kernel profiling (a CPU profile then sees Inductor's fused kernels); its own
        options keep it a Dynamo cache entry apart from the timed code."""
        seen = torch.compile(model.module, options={"cpp.enable_kernel_profile": True})
        with torch.inference_mode():
            warm_until = time.perf_counter() + PROFILED_WARM_S
            while time.perf_counter() < warm_until:
                seen(*inputs)
        return lambda: seen(*inputs)

    return replace(prepared, profiled=profiled)


def _prepare_cudagraph(model: BuiltModel, inputs: tuple, cache_dir: Path) -> Prepared:
    """Manual capture into static buffers; each call copies the inputs in and replays the graph."""
    t0 = time.perf_counter()
    static_inputs = tuple(x.clone() for x in inputs)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            model.module(*static_inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_output = model.module(*static_inputs)

    def replay() -> torch.Tensor:
        for static, fresh in zip(static_inputs, inputs):
            static.copy_(fresh)
        graph.replay()
        return static_output

    def run(*fresh: torch.Tensor) -> torch.Tensor:
        for static, x in zip(static_inputs, fresh):
            static.copy_(x)
        graph.replay()
        return static_output.clone()

    first_call_ms = timed_call_ms(replay, sync_for(model.device))
    return Prepared("cudagraph", replay, lambda: static_output.detach().cpu(), time.perf_counter() - t0,
                    first_call_ms=first_call_ms, count_weights=lambda: memory.module_weights_bytes(model.module),
                    run=run)


def onnx_path(model: BuiltModel, dtype: str, cache_dir: Path) -> Path:
    """Cache file of the exported model: one per weights (config + seed + torch version), dtype and device."""
    key = f"{model.weights_id}|{dtype}|{model.device.type}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir / "onnx" / f"{model.spec.name}-{dtype}-{digest}.onnx"


def _export_onnx(model: BuiltModel, inputs: tuple, path: Path) -> None:
    """TorchScript-based exporter (dynamo=False): it needs no onnxscript; dynamic batch/seq axes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    names = list(input_names(model.spec))
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.module, inputs, str(tmp), input_names=names, output_names=["output"],
                          dynamic_axes={**dynamic_axes(model.spec), "output": {0: "batch"}},
                          opset_version=17, **kwargs)
    tmp.replace(path)


def _prepare_onnxruntime(model: BuiltModel, inputs: tuple, cache_dir: Path) -> Prepared:
    """Export once (cached), then an ORT session with as many intra-op threads as torch uses, not spinning: ORT's
    threads spin after each call by default, holding the cores for whatever runs next (timed in alternation with
    ORT on 2 cores, eager bert-tiny at batch 1 took 3.3-8.4 ms with spinning and 2.1-3.4 ms without, 6 rounds each).
    Inputs are bound as numpy arrays once; on CUDA the host<->device copies of inputs and outputs are part of every
    call, as for a user of `session.run`. On a CPU its split is ONNX Runtime's own profile, of a second session."""
    import onnxruntime as ort

    t0 = time.perf_counter()
    dtype = next(k for k, v in DTYPES.items() if v == model.dtype)
    path = onnx_path(model, dtype, cache_dir)
    cached = path.exists()
    if not cached:
        _export_onnx(model, inputs, path)
    providers = ["CUDAExecutionProvider"] if model.device.type == "cuda" else ["CPUExecutionProvider"]

    def session(profile: bool = False) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.log_severity_level = torch.get_num_threads(), 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_profiling, options.profile_file_prefix = profile, str(path.parent / f"profile-{os.getpid()}")
        return ort.InferenceSession(str(path), options, providers=providers)

    timed, feed = session(), {name: x.detach().cpu().numpy() for name, x in zip(input_names(model.spec), inputs)}
    last: dict[str, object] = {}

    def call() -> object:
        last["out"] = timed.run(None, feed)
        return last["out"]

    def own_split() -> dict:
        seen = session(profile=True)
        return ort_profile.decompose_ort(call, lambda: seen.run(None, feed), seen.end_profiling)

    first_call_ms = timed_call_ms(call)
    return Prepared("onnxruntime", call, lambda: torch.from_numpy(last["out"][0]), time.perf_counter() - t0,
                    detail=f"{'cached' if cached else 'exported'} {path.name}, no spinning",
                    first_call_ms=first_call_ms, count_weights=lambda: memory.onnx_weights_bytes(path),
                    own_split=own_split if model.device.type == "cpu" else None)


# AOTInductor's kernels open a profiler event each only in a package compiled with `cpp.enable_kernel_profile`, and
# those events cost a bert-tiny forward 1.96x [1.62, 2.24] on the 2-core AMD EPYC (results/aoti-profile-cost): the
# timed package is compiled without them; a decomposition profiles a second one with them (`Prepared.profiled`).


def aoti_path(model: BuiltModel, dtype: str, inputs: tuple, cache_dir: Path, kernel_profile: bool = False) -> Path:
    """Cache file of the AOTInductor package: one per weights, dtype, device, input shapes, KV cache length, torch
    threads (the generated C++ fixes its OpenMP thread count when it is compiled) and kernel profiling (the timed
    package has none, the profiled one has it: never one for the other)."""
    shapes = ",".join("x".join(map(str, x.shape)) for x in inputs)
    key = (f"{model.weights_id}|{dtype}|{model.device.type}|{model.info.get('cache_len')}|{shapes}|"
           f"threads={torch.get_num_threads()}|{torch.__version__}|kernel_profile={kernel_profile}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_dir / "aot-inductor" / f"{model.spec.name}-{dtype}-{digest}.pt2"


def package_aoti(model: BuiltModel, inputs: tuple, path: Path, kernel_profile: bool = False) -> None:
    """torch.export (static shapes), then AOTInductor compiles the graph and its weights into a package; with
    `kernel_profile` each kernel is wrapped in a profiler event, so that a decomposition sees its busy time."""
    import torch._inductor as inductor
    import torch._inductor.config as inductor_config

    inductor_config.compile_threads = 1  # as for compile: no worker pool left running behind a measurement
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exported = torch.export.export(model.module, tuple(inputs), strict=False)
    except Exception as exc:  # noqa: BLE001 -- what export refuses is a property of the model: a row, not a crash
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise UnsupportedError(f"torch.export cannot export {model.spec.name}: {type(exc).__name__}: {first}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.pt2")
    with warnings.catch_warnings(), inductor_config.patch({"cpp.enable_kernel_profile": kernel_profile}):
        warnings.simplefilter("ignore")
        inductor.aoti_compile_and_package(exported, package_path=str(tmp))
    tmp.replace(path)


def _prepare_aot_inductor(model: BuiltModel, inputs: tuple, cache_dir: Path) -> Prepared:
    """The model exported with torch.export and compiled ahead of time by AOTInductor into a package (cached on
    disk like the ONNX file), then run from the package: the forward is generated C++ with no Python in it;
    Python only calls the package's runner. Shapes are static (one package per shape)."""
    import torch._inductor as inductor

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "inductor"))
    t0 = time.perf_counter()
    dtype = next(k for k, v in DTYPES.items() if v == model.dtype)
    path = aoti_path(model, dtype, inputs, cache_dir)
    cached = path.exists()
    if not cached:
        package_aoti(model, inputs, path)
    runner = inductor.aoti_load_package(str(path))
    prepared = _torch_prepared("aot-inductor", runner, inputs, t0, warm_calls=1,
                               detail=f"{'cached' if cached else 'compiled'} {path.name}, static shapes",
                               count_weights=lambda: memory.module_weights_bytes(model.module))

    def profiled() -> Callable[[], object]:
        """The same forward from the package compiled with kernel profiling (compiled here once, then cached)."""
        seen = aoti_path(model, dtype, inputs, cache_dir, kernel_profile=True)
        if not seen.exists():
            package_aoti(model, inputs, seen, kernel_profile=True)
        profiled_runner = inductor.aoti_load_package(str(seen))
        return lambda: profiled_runner(*inputs)

    return replace(prepared, profiled=profiled)


_PREPARERS: dict[str, Callable[[BuiltModel, tuple, Path], Prepared]] = {
    "eager": _prepare_eager,
    "torchscript": _prepare_torchscript,
    "compile": _prepare_compile,
    "compile-reduce-overhead": lambda m, i, c: _prepare_compile(m, i, c, mode="reduce-overhead"),
    "cudagraph": _prepare_cudagraph,
    "onnxruntime": _prepare_onnxruntime,
    "aot-inductor": _prepare_aot_inductor,
}


_BUILTIN = frozenset(_PREPARERS)
# Backends whose call reads and writes the prepared module's own buffers (a decoder's KV cache among them), so an
# eager call of the module changes the state they see (`decoding.fill_cache`); AOTInductor's package and ONNX
# Runtime's session hold copies of their own, and CUDA graphs are left out until tested on a GPU.
RUN_ON_MODULE_BUFFERS = frozenset({"eager", "compile"})


def register(name: str, preparer: Callable[[BuiltModel, tuple, Path], Prepared],
             availability: Callable[[str, str], str | None] = lambda device, dtype: None) -> None:
    """Add a backend: one preparer and one availability check (tests register failing backends)."""
    _PREPARERS[name] = preparer
    _AVAILABILITY[name] = availability


def unregister(name: str) -> None:
    """Remove a backend added by `register` (tests clean up after themselves); built-ins cannot be removed."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in backend")
    _PREPARERS.pop(name, None)
    _AVAILABILITY.pop(name, None)


def default_cache_dir() -> Path:
    """Where exports and compiler caches live: $FTAX_CACHE_DIR, else ~/.cache/ftax."""
    return Path(os.environ.get("FTAX_CACHE_DIR", Path.home() / ".cache" / "ftax"))


def prepare(backend: str, model: BuiltModel, inputs: tuple, cache_dir: Path | None = None) -> Prepared:
    """Prepare `backend` for `model` on `inputs`; raises UnsupportedError if it cannot run here."""
    dtype = next(k for k, v in DTYPES.items() if v == model.dtype)
    ok, reason = available(backend, model.device.type, dtype)
    if not ok:
        raise UnsupportedError(reason)
    return _PREPARERS[backend](model, inputs, cache_dir or default_cache_dir())
