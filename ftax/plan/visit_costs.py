"""What one sweep visit costs: the cost model's figures (`Calibration`) and the formulas that price a visit.

A sweep's plan (`plan`) prices each visit in the order `sweep.run_sweep` spends it:

- building the model, once per model group and round (`runner.ModelCache`), plus once per process the
  imports (transformers; on CUDA the context) that the first build pays (`build_s`);
- preparing the backend, every visit (`backends.prepare`, `prepare_s`): TorchScript's trace, the ONNX export
  (once per model and dtype: it is cached on disk), the CUDA graph's capture, and torch.compile's graphs,
  counted by `compile_graphs` from Dynamo's rule (a new graph per size-1 specialization and once per dimension
  that turns dynamic), reset whenever the model or mode changes;
- the timing under the stop rule shared by the rounds (`StopRule.share`, `timing_s`): warm-up, the samples
  (at least the rule's floor, times a factor fitted from stored records: how far past the floor the CI target
  took), the dropped first call of each alternating block, the pipelined rounds;
- round 0's extras (FLOPs, parity, memory; energy where a counter exists; the decomposition where asked),
  and a fixed cost per visit (the fingerprint, the append), fitted from stored records' timestamps.

Each figure comes from stored records of the same device type where they exist (`cost_fit.calibrate`), named
with its source; where none exist the `DEFAULTS` table gives a documented default, labelled `default` wherever
it is used. The per-call latency is the stored median of the same config, else a straight line in tokens
through the same curve's stored points, else host + work (`latency_s`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ftax.run import backends, models
from ftax.store import dataframe
from ftax.store.schema import MeasureConfig
from ftax.measure.timing import StopRule

COMPILE_BACKENDS = {"compile": None, "compile-reduce-overhead": "reduce-overhead"}
# Calls a backend's prepare makes after building its runtime (backends.py): the cold one and the warm ones.
PREPARE_CALLS = {"eager": 1, "torchscript": 2, "compile": 1, "compile-reduce-overhead": 3, "cudagraph": 5,
                 "onnxruntime": 1}
# name -> (value, why): used only where no stored record of the device type gives the figure.
DEFAULTS: dict[str, tuple[float, str]] = {
    "import_s": (5.0, "first build of a process: transformers' import, CUDA context"),
    "build_s_per_mparam": (0.02, "random init of 1M parameters on the host"),
    "prepare_host_s": (0.05, "a backend's own prepare work besides its calls: Python-side set-up"),
    "torchscript_s": (1.5, "trace + freeze of a BERT-base-sized graph"),
    "cudagraph_s": (0.3, "CUDA graph capture besides its 5 calls"),
    "export_s": (8.0, "ONNX export of a BERT-base-sized model, once per model and dtype"),
    "compile_graph_s": (25.0, "one torch.compile graph on CUDA compiled cold: Dynamo + Inductor + Triton kernels, "
                              "in-process (compile_threads=1)"),
    "compile_warm_s": (3.0, "one torch.compile graph whose Inductor code the on-disk cache holds: Dynamo's trace "
                            "and the cache's load"),
    "aoti_package_s": (30.0, "one AOTInductor package: torch.export, Inductor and the C++ compiler, once per shape "
                             "(then cached on disk)"),
    "sampling_share": (0.5, "sampling time's share of the way from the rule's floor to its time limit (a GPU's "
                            "steadier timings meet the CI target sooner than a shared CPU's)"),
    "visit_s": (0.05, "fixed cost of a visit: fingerprint, record, append"),
    "step_s": (0.0, "a decoder step's visit besides a forward's: its KV cache set up around the timing"),
    "step_calls": (0.0, "a decoder step's visit besides a forward's, in calls"),
    "round_s": (0.0, "a round's start besides its visits: the probes a book's sweep takes between its rounds"),
    "round0_s": (0.1, "round 0's fixed extras: FLOP count, parity, memory baseline"),
    "round0_calls": (6.0, "round 0's extra forward calls: FLOP and GEMM counting, parity"),
    "decompose_s": (1.0, "a profiled decomposition besides its calls"),
    "decompose_calls": (20.0, "a decomposition's calls: warm, unprofiled and profiled steps"),
    "host_us_per_op": (10.0, "eager host cost per aten op on a GPU host"),
    "ops_per_layer": (40.0, "aten ops per encoder layer of a BERT"),
    "cuda_fp32_flops": (25e12, "fp32 FLOP/s a BERT reaches on an H100/H200 without TF32"),
    "cuda_half_flops": (250e12, "fp16/bf16 FLOP/s a BERT reaches on an H100/H200 (a third of the "
                                "788 TFLOP/s bf16 GEMM read on an H200 in the device notes)"),
}
# Host cost per op relative to eager (CUDA defaults): what each runtime removes of the dispatch.
# A visit's seconds by term, in the order a sweep spends them (`visit_terms`); the back-test compares each.
TERMS = ("import", "build", "prepare", "compile", "export", "sampling", "timing", "round0", "decompose", "visit")
HOST_FACTOR = {"eager": 1.0, "torchscript": 0.7, "compile": 0.3, "compile-reduce-overhead": 0.05,
               "cudagraph": 0.03, "onnxruntime": 0.5}


@dataclass(frozen=True)
class Figure:
    """One constant of the cost model and where it came from (`records: ...` or `default`)."""

    value: float
    source: str


def default(name: str) -> Figure:
    value, why = DEFAULTS[name]
    return Figure(value, f"default: {why}")


@dataclass
class Calibration:
    """The cost model's constants for one device type, from stored records where they exist."""

    device: str
    source: str  # which records: "records: N visits of <machine>" or "no records of <device>: defaults"
    latency: dict[tuple, dict[int, float]] = field(default_factory=dict)  # curve -> {tokens: median s}
    flops_per_token: dict[tuple, float] = field(default_factory=dict)  # (model, overrides) -> FLOPs / token
    build_s: dict[tuple, float] = field(default_factory=dict)  # (model, overrides) -> seconds
    prepare_host_s: dict[tuple, float] = field(default_factory=dict)  # (backend, model) -> s besides its calls
    backend_ratio: dict[str, float] = field(default_factory=dict)  # backend -> latency / eager's, same shape
    package_s: dict[str, float] = field(default_factory=dict)  # model -> an AOTInductor package's compile, stored
    figures: dict[str, Figure] = field(default_factory=dict)

    def figure(self, name: str) -> Figure:
        return self.figures.get(name) or default(name)

    def describe(self) -> list[str]:
        names = sorted(set(self.figures) | {k for k in DEFAULTS if k not in self.figures})
        return [f"  {name:<18} {self.figure(name).value:<10.4g} {self.figure(name).source}" for name in names]


# --- the stop rule's part -------------------------------------------------------------------

def timing_parts(rule: StopRule, t_s: float, sampling_share: float = 1.0,
                 spent_s: float | None = None) -> tuple[float, float]:
    """(sampling, the rest) of the seconds `timing.measure_alternating` spends on one callable of `t_s` seconds
    per call under `rule`. Sampling is `spent_s` if known, else the rule's floor plus `sampling_share` of the way
    from it to the rule's time limit (0 stops at the floor, 1 at `max_time_s`); the rest is the warm-up, the
    dropped first call of each alternating block and the pipelined rounds."""
    t = max(t_s, 1e-6)
    warm_calls = max(1, min(max(rule.warmup_iters, math.ceil(rule.warmup_time_s / t)),
                            math.ceil(rule.warmup_max_s / t)))
    floor = max(rule.min_time_s, rule.min_iters * t)
    limit = max(rule.max_time_s, rule.min_iters * t)
    spent = spent_s if spent_s is not None else floor + max(sampling_share, 0.0) * (limit - floor)
    dropped = math.ceil(spent / max(rule.block_s, t)) * t
    pipelined_calls = max(1, min(rule.pipelined_calls, int(rule.pipelined_max_s / (t * rule.pipelined_rounds))))
    return spent, warm_calls * t + dropped + rule.pipelined_rounds * pipelined_calls * t


def timing_s(rule: StopRule, t_s: float, sampling_share: float = 1.0, spent_s: float | None = None) -> float:
    """Seconds `timing.measure_alternating` spends on one callable of `t_s` seconds per call under `rule`
    (`timing_parts`, added up)."""
    return sum(timing_parts(rule, t_s, sampling_share, spent_s))


# --- how many torch.compile graphs ------------------------------------------------------------

def compile_graphs(shapes: Sequence[tuple[int, int]]) -> list[bool]:
    """For shapes (batch, seq) visited in order after a Dynamo reset: whether each visit compiles a graph.

    Dynamo's automatic dynamic shapes: a graph guards each dimension on its value, or on being >= 2 once
    that dimension has been seen at two values; sizes 0 and 1 always specialize. On the stored CPU records
    this predicts every compile of page 02's rounds (4, 3 and 4 graphs for bert-tiny over batch 1..64).
    """
    graphs: list[tuple] = []
    seen: list[set[int]] = [set(), set()]
    out = []
    for shape in shapes:
        for dim, size in enumerate(shape):
            seen[dim].add(size)
        hit = any(all(g == s if g != "dyn" else s >= 2 for g, s in zip(graph, shape)) for graph in graphs)
        if not hit:
            graphs.append(tuple("dyn" if len(seen[d]) > 1 and s >= 2 else s for d, s in enumerate(shape)))
        out.append(not hit)
    return out


# --- latency and work of one config ------------------------------------------------------------

def _sizes(config: MeasureConfig) -> tuple[int, int, int]:
    """(layers, width, FFN width) of the config's model with its overrides, from its config (no weights built)."""
    spec = models.get_spec(config.model)
    if spec.build_config is None:
        return 4, 256, 1024
    cfg = spec.build_config()
    for key, value in models.implied_overrides(spec, dict(config.overrides)).items():
        setattr(cfg, spec.config_fields[key], value)
    get = lambda *names, fallback: next((getattr(cfg, n) for n in names if getattr(cfg, n, None)), fallback)
    width = get("hidden_size", "dim", "n_embd", fallback=768)
    return get("num_hidden_layers", "n_layers", "n_layer", fallback=12), width, get(
        "intermediate_size", "hidden_dim", "n_inner", fallback=4 * width)


def flops(config: MeasureConfig, cal: Calibration) -> tuple[float, str]:
    """FLOPs of one call: stored FLOPs per token of the model (any device: they do not depend on it), else
    2 x tokens x layers x (4 h^2 + 2 h i) from its config."""
    tokens = config.batch_size * config.seq_len
    stored = cal.flops_per_token.get((config.model, dataframe.overrides_json(dict(config.overrides))))
    if stored:
        return stored * tokens, "records"
    layers, h, i = _sizes(config)
    return 2.0 * tokens * layers * (4 * h * h + 2 * h * i), "config"


def latency_s(config: MeasureConfig, cal: Calibration) -> tuple[float, str]:
    """(seconds per call, how it was estimated): the stored median of the same config; a line in tokens
    through the same curve's stored points; the same model's eager curve times the backend's stored ratio
    to eager; else host + work (`DEFAULTS`), overlapping on CUDA, adding up on a CPU."""
    tokens = config.batch_size * config.seq_len
    over = dataframe.overrides_json(dict(config.overrides))

    def from_curve(backend: str) -> float | None:
        points = cal.latency.get((config.model, backend, config.dtype, over))
        if not points:
            return None
        if tokens in points:
            return points[tokens]
        xs, ys = np.array(list(points)), np.array(list(points.values()))
        if len(xs) < 2:
            return float(ys[0])
        near = np.argsort(np.abs(np.log(xs) - math.log(tokens)))[:2]  # the two nearest points, in log tokens
        slope, intercept = np.polyfit(xs[near], ys[near], 1)
        return float(max(intercept + slope * tokens, ys.min()))

    own = from_curve(config.backend)
    if own is not None:
        return own, "records"
    base = from_curve("eager")
    if base is not None and config.backend in cal.backend_ratio:
        return base * cal.backend_ratio[config.backend], "records (eager x ratio)"
    work, _ = flops(config, cal)
    layers = _sizes(config)[0]
    host = (layers * cal.figure("ops_per_layer").value * cal.figure("host_us_per_op").value * 1e-6
            * HOST_FACTOR.get(config.backend, 1.0))
    if cal.device == "cuda":
        rate = cal.figure("cuda_fp32_flops" if config.dtype == "fp32" else "cuda_half_flops").value
        return max(host, work / rate), "default (host, work)"
    return host + work / 5e10, "default (host + work)"


# --- build and prepare ------------------------------------------------------------------------

def build_s(config: MeasureConfig, cal: Calibration) -> float:
    """Seconds to build the config's model: the stored median of the same model and overrides, else its
    parameter count (from its config, no weights built) at the default rate."""
    stored = cal.build_s.get((config.model, dataframe.overrides_json(dict(config.overrides))))
    if stored is not None:
        return float(stored)
    layers, h, i = _sizes(config)
    mparams = layers * (4 * h * h + 2 * h * i) / 1e6 + 30522 * h / 1e6
    return mparams * cal.figure("build_s_per_mparam").value


def prepare_terms(config: MeasureConfig, t: float, cal: Calibration, state: dict, group: tuple) -> dict[str, float]:
    """A visit's prepare by term: `prepare`, the backend's own work (stored median, else a default) plus its calls;
    `compile`, torch.compile's graphs (`compile_graphs`, Dynamo reset on a new model or mode), each cold the first
    time its config is visited and warm after (Inductor's cache on disk holds its code), or AOTInductor's package,
    compiled on its config's first visit (then cached on disk); `export`, the ONNX export on the first ONNX visit of
    a model and dtype. `state` is the planned process's (the current compile owner and its shapes, the exports
    made, the configs visited, stored ones included): what one visit leaves the next, updated here."""
    terms = {"prepare": PREPARE_CALLS.get(config.backend, 1) * t, "compile": 0.0, "export": 0.0}
    seen = config in state["seen"]
    state["seen"].add(config)
    if config.backend in COMPILE_BACKENDS:
        owner = (group, COMPILE_BACKENDS[config.backend])
        if state["owner"] != owner:
            state["owner"], state["shapes"] = owner, []
        state["shapes"].append((config.batch_size, config.seq_len))
        if compile_graphs(state["shapes"])[-1]:
            terms["compile"] = cal.figure("compile_warm_s" if seen else "compile_graph_s").value
        return terms
    host = cal.prepare_host_s.get((config.backend, config.model))
    if host is None:
        stored = [v for (b, _), v in cal.prepare_host_s.items() if b == config.backend]
        host = float(np.median(stored)) if stored else {
            "torchscript": cal.figure("torchscript_s").value, "cudagraph": cal.figure("cudagraph_s").value,
        }.get(config.backend, cal.figure("prepare_host_s").value)
    terms["prepare"] += host
    if config.backend == "aot-inductor" and not seen:
        terms["compile"] = cal.package_s.get(config.model, cal.figure("aoti_package_s").value)
    if config.backend == "onnxruntime" and (config.model, config.dtype) not in state["exported"]:
        state["exported"].add((config.model, config.dtype))
        if not _onnx_cached(config):
            terms["export"] = cal.figure("export_s").value
    return terms


def new_state(imported: bool = False, seen: Iterable[MeasureConfig] = ()) -> dict:
    """What a planned process carries from visit to visit: imports paid, exports made, the current compile owner
    and its shapes, the configs visited (those of stored visits too: their compiled code is cached on disk)."""
    return {"imported": imported, "exported": set(), "owner": None, "shapes": [], "seen": set(seen)}


def copy_state(state: dict) -> dict:
    return {**state, "exported": set(state["exported"]), "shapes": list(state["shapes"]), "seen": set(state["seen"])}


def visit_terms(config: MeasureConfig, round_: int, cal: Calibration, rule: StopRule, state: dict, group: tuple,
                first: bool, decomposing: bool, energy_s: float = 0.0) -> tuple[dict[str, float], str]:
    """(seconds by term of the cost model, how its latency was estimated) of one visit that runs, in the order a
    sweep spends them: `import` and `build` on the first visit of a model group in a round (`first`; imports once
    a process, the fp32 twin in round 0 of a half-precision model), `prepare`, `compile` and `export`
    (`prepare_terms`), `sampling` and `timing` (the rest of `timing_parts`), `round0` (round 0's extras and energy
    window), `decompose` (a profiled decomposition), `visit` (the fixed cost of any visit). `group` names the model
    group's visit in its round (Dynamo resets between groups); `state` is `new_state()`'s, carried visit to visit."""
    fig = lambda name: cal.figure(name).value  # noqa: E731
    t, how = latency_s(config, cal)
    terms = dict.fromkeys(TERMS, 0.0)
    terms["visit"] = fig("visit_s")
    if first:
        terms["build"] = build_s(config, cal) * (2 if config.dtype != "fp32" and round_ == 0 else 1)
        if not state["imported"]:
            terms["import"], state["imported"] = fig("import_s"), True
    terms.update(prepare_terms(config, t, cal, state, group))
    terms["sampling"], terms["timing"] = timing_parts(rule, t, fig("sampling_share"))
    if round_ == 0:
        terms["round0"] = fig("round0_s") + fig("round0_calls") * t + energy_s
    if decomposing:
        terms["decompose"] = fig("decompose_s") + fig("decompose_calls") * t
    if config.phase != "forward":
        terms["visit"] += fig("step_s") + fig("step_calls") * t
    return terms, how


def _onnx_cached(config: MeasureConfig) -> bool:
    return any((backends.default_cache_dir() / "onnx").glob(f"{config.model}-{config.dtype}-*.onnx"))
