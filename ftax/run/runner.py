"""One config -> one Record: build (or reuse) the model, prepare the backend, check parity, time it.

Per-config failures never escape as exceptions: an unavailable combination or a size the
model cannot take becomes an `unsupported` record, running out of memory an `oom` record
(memory is freed first), anything else an `error` record with the exception type and
message. Only names that do not exist (unknown model/backend/dtype/device) raise, because
they are the caller's bug and a sweep validates them before it starts. A config is checked
once, by `check`, at the entry of this layer; what it found travels down as a CheckedConfig.

`setup.first_call_ms` is the backend's first call after it was built, i.e. the cold call
(for compiled backends it includes compilation); `setup.first_timed_call_ms` is the first
call the timing loop made, before its own warm-up.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import torch

import ftax
from ftax.measure import counting, decompose, memory
from ftax.measure.profiler_blind import blind_reason
from ftax.run import backends, decoding, models
from ftax.run.parity import Parity, check_parity
from ftax.measure.devices import resolve_device, sync_for
from ftax.store.env import fingerprint
from ftax.store.errors import InvalidConfigError, UnsupportedError
from ftax.store.schema import PHASES, MeasureConfig, Record
from ftax.measure.timing import StopRule, measure_alternating

_OOM_MARKERS = ("out of memory", "can't allocate memory", "failed to allocate memory", "bad_alloc")


def is_oom(exc: BaseException) -> bool:
    """CUDA OOM, host allocation failure, or an allocator message saying so (ORT, CPU allocator)."""
    if isinstance(exc, (MemoryError, getattr(torch.cuda, "OutOfMemoryError", MemoryError))):
        return True
    return any(marker in str(exc).lower() for marker in _OOM_MARKERS)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class CheckedConfig:
    """A config whose names exist, with what checking it found, passed down so nothing checks it again.

    `invalid_size` (a size or override the model cannot take) and `unavailable` (a backend this
    machine cannot run) are properties of the config: a sweep stores them as `unsupported` rows,
    while `ftax measure` refuses an invalid size as a usage error.
    """

    config: MeasureConfig  # device resolved (`auto` -> cpu/cuda)
    spec: models.ModelSpec
    dtype: torch.dtype
    overrides: dict[str, int]
    invalid_size: str | None = None
    unavailable: str | None = None

    @property
    def problem(self) -> str | None:
        return self.invalid_size or self.unavailable


def check(config: MeasureConfig) -> CheckedConfig:
    """The entry of the run layer: names that do not exist raise InvalidConfigError (the caller's bug,
    and a sweep checks its grids before it starts); sizes and availability become `problem`."""
    spec = models.get_spec(config.model)
    backends.check_name(config.backend)
    dtype = backends.dtype_of(config.dtype)
    config = replace(config, device=resolve_device(config.device))
    if config.phase not in PHASES:
        raise InvalidConfigError(f"unknown phase {config.phase!r}; allowed: {', '.join(PHASES)}")
    try:
        overrides = models.validate_overrides(spec, dict(config.overrides))
        models.validate_shape(spec, config.batch_size, config.seq_len)
        if config.phase == "decode" and config.seq_len + 1 > spec.max_seq_len:
            raise InvalidConfigError(f"decode at seq_len {config.seq_len} needs {config.seq_len + 1} positions; "
                                     f"{spec.name} has {spec.max_seq_len}")
    except InvalidConfigError as exc:
        return CheckedConfig(config, spec, dtype, dict(config.overrides), invalid_size=str(exc))
    ok, reason = backends.available(config.backend, config.device, config.dtype)
    if ok and config.phase != "forward":
        reason = (backends.phase_reason(config.backend, config.phase) or "" if spec.decoder else
                  f"phase {config.phase} needs a decoder; {spec.name} is not one (decoders: "
                  f"{', '.join(n for n, s in models.REGISTRY.items() if s.decoder)})")
        ok = not reason
    return CheckedConfig(config, spec, dtype, overrides, unavailable=None if ok else reason)


@dataclass
class ModelCache:
    """Keeps the last built model so a sweep builds each (model, dtype, overrides, device) once."""

    key: tuple | None = None
    model: models.BuiltModel | None = None
    build_s: float = 0.0
    fp32_twin: models.BuiltModel | None = None  # same weights in fp32: half precision's parity reference

    def get(self, checked: CheckedConfig) -> models.BuiltModel:
        config = checked.config
        key = (config.model, config.dtype, config.overrides, config.device, _causal(config))
        if key != self.key:
            self.key, self.model, self.fp32_twin = None, None, None
            free_memory()
            t0 = time.perf_counter()
            self.model = models.build_validated(checked.spec, checked.overrides, checked.dtype, config.device,
                                                causal_lm=_causal(config))
            self.build_s, self.key = time.perf_counter() - t0, key
        return self.model

    def fp32_reference(self, checked: CheckedConfig) -> models.BuiltModel:
        """The current model's fp32 twin (same seed, so the same weights before the cast), built once per group."""
        if checked.dtype == torch.float32:
            return self.get(checked)
        if self.fp32_twin is None:
            self.fp32_twin = models.build_validated(checked.spec, checked.overrides, torch.float32,
                                                    checked.config.device, causal_lm=_causal(checked.config))
        return self.fp32_twin


def _causal(config: MeasureConfig) -> bool:
    """A decoder's prefill/decode runs the causal LM (its LM head picks the next token); a forward runs the base
    model, the body the paper's forward passes time."""
    return config.phase != "forward"


@dataclass
class MeasureOptions:
    """How to measure (not what): stopping rule, threads, decomposition and its traces."""

    rule: StopRule = field(default_factory=StopRule)
    threads: int | None = None
    decompose: bool = False
    # In a sweep, the rounds that profile (the first N): one describes the config; the ledger's kernel part takes its
    # between-round interval from several (`ftax.read.ledger`).
    decompose_rounds: int = 1
    count_flops: bool = True
    check_parity: bool = True  # against fp32 eager: a property of the config, so a sweep checks it in round 0 only
    resources: bool = True  # memory and energy (ftax.measure.memory), also a config's: round 0 only in a sweep
    trace_dir: Path | None = None


def measure_config(config: MeasureConfig | CheckedConfig, options: MeasureOptions | None = None,
                   cache: ModelCache | None = None, round_: int | None = None, order_seed: int | None = None
                   ) -> Record:
    """Measure one config and return its Record (status ok/unsupported/oom/error).

    Pass a CheckedConfig (from `check`) when the caller already checked it; a MeasureConfig is checked here.
    `round_` is the sweep round this visit belongs to (None outside rounds); the record carries it and
    the stop rule's name, the two things that tell its visits apart; `order_seed` (kept in `setup`) is the
    seed of the round's interleaved order, so the order can be rebuilt.
    """
    return measure_compared([config], options, cache, round_, order_seed)[0]


@dataclass
class _Live:
    """A config prepared and checked, waiting for its timing."""

    index: int
    checked: CheckedConfig
    model: models.BuiltModel
    inputs: tuple
    prepared: backends.Prepared
    parity: Parity | None  # None: not checked on this visit (MeasureOptions.check_parity)
    memory: dict | None = None  # peak above the baseline before prepare (ftax.measure.memory), if taken


def measure_compared(configs: Sequence[MeasureConfig | CheckedConfig], options: MeasureOptions | None = None,
                     cache: ModelCache | None = None, round_: int | None = None, order_seed: int | None = None
                     ) -> list[Record]:
    """Measure configs that a page compares (the backends of one model, dtype and shape) together: one Record each.

    All are prepared first, then timed by `timing.measure_alternating` in alternating short blocks, so
    drift hits every side of a speedup alike (a sweep's rounds alone leave a paired speedup's interval
    too wide on a shared CPU, as benchmarks/calibration.py measures). A config that fails to prepare becomes its
    failure record and the others go on; one config alone is timed by `timing.measure`.
    """
    options, cache = options or MeasureOptions(), cache or ModelCache()
    checked = [c if isinstance(c, CheckedConfig) else check(c) for c in configs]
    if options.threads:
        torch.set_num_threads(options.threads)
    env = fingerprint()

    def record(c: CheckedConfig, status: str, message: str = "", **fields) -> Record:
        return Record(config=c.config, status=status, message=message, env=env, ftax_version=ftax.__version__,
                      round=round_, rule=options.rule.name, **fields)

    records: list[Record | None] = [None] * len(checked)
    live: list[_Live] = []
    for i, c in enumerate(checked):
        if c.problem is not None:
            records[i] = record(c, "unsupported", c.problem)
            continue
        try:
            model, inputs = _model_and_inputs(c, cache)
            baseline = memory.Baseline(c.config.device) if options.resources else None
            prepared = backends.prepare(c.config.backend, model, inputs)
            peak = baseline.peak() if baseline else None  # before parity, which runs the fp32 reference model
            parity = _checked_parity(c, cache, model, inputs, prepared, options)
            live.append(_Live(i, c, model, inputs, prepared, parity, peak))
        except Exception as exc:  # noqa: BLE001 -- a sweep must never die on one config
            records[i] = record(c, *_failure(exc, cache))
    try:
        with torch.inference_mode():
            timings = measure_alternating([x.prepared.call for x in live], options.rule,
                                          sync=sync_for(live[0].checked.config.device)) if live else []
        work = _work_by_phase(live) if options.count_flops else {}
        for x, timing in zip(live, timings):
            records[x.index] = record(x.checked, "ok", _parity_message(x.parity, x.checked.config.phase),
                                      **_ok_fields(x, timing, options, cache, order_seed),
                                      **work.get(x.checked.config.phase, {}))
    except Exception as exc:  # noqa: BLE001 -- a failure while timing is every compared config's row
        status, message = _failure(exc, cache)
        for x in live:
            records[x.index] = records[x.index] or record(x.checked, status, message)
    finally:
        live.clear()
    return records


def _model_and_inputs(c: CheckedConfig, cache: ModelCache) -> tuple[models.BuiltModel, tuple]:
    """The module a backend prepares and its timed inputs: the model's forward, or a decoder's step with its own
    static cache (`ftax.run.decoding`; one per config, so backends timed together never share a cache)."""
    config, model = c.config, cache.get(c)
    if config.phase == "forward":
        return model, model.inputs(config.batch_size, config.seq_len)
    step = decoding.step_model(model, config.batch_size, config.seq_len, config.phase)
    return step, decoding.step_inputs(step, config.batch_size, config.seq_len, config.phase)


def _checked_parity(c: CheckedConfig, cache: ModelCache, model: models.BuiltModel, inputs: tuple,
                    prepared: backends.Prepared, options: MeasureOptions) -> Parity | None:
    """Parity where asked for (round 0); for decode, greedy tokens against fp32 eager's, which also leaves the
    backend's cache holding seq_len tokens; without parity, decode fills the cache (`decoding.fill_cache`)."""
    config = c.config
    if config.phase != "decode":
        if not options.check_parity:
            return None
        reference = cache.fp32_reference(c)
        if config.phase == "prefill":
            reference = decoding.step_model(reference, config.batch_size, config.seq_len, config.phase)
        return _parity(config, reference, inputs, prepared)
    prompt_pass = _cache_fill(config) == decoding.PROMPT_PASS  # the reference takes the prompt the same way
    if not options.check_parity:
        decoding.fill_cache(prepared.run, model, config.batch_size, config.seq_len, prompt_pass=prompt_pass)
        return None
    tokens = decoding.greedy_tokens(prepared.run, model, config.batch_size, config.seq_len, prompt_pass=prompt_pass)
    if config.backend == "eager" and config.dtype == "fp32":
        expected = tokens
    else:
        reference = decoding.step_model(cache.fp32_reference(c), config.batch_size, config.seq_len, config.phase)
        expected = decoding.greedy_tokens(reference.module, reference, config.batch_size, config.seq_len,
                                          prompt_pass=prompt_pass)
    differ = int((tokens != expected).sum())
    return Parity(max_abs_diff=float(differ), tolerance=0.0, ok=differ == 0)


def _cache_fill(config: MeasureConfig) -> str | None:
    """How a decode config's cache takes its prompt (`decoding.take_prompt`): one eager prompt pass where the
    runtime decodes from the module's own buffers, else a token at a time through its step; None for other phases."""
    if config.phase != "decode":
        return None
    return (decoding.PROMPT_PASS if config.backend in backends.RUN_ON_MODULE_BUFFERS
            else decoding.TOKEN_AT_A_TIME)


def _failure(exc: BaseException, cache: ModelCache) -> tuple[str, str]:
    """(status, message) of a config that raised: unsupported, oom (memory freed first) or error."""
    if isinstance(exc, UnsupportedError):
        return "unsupported", str(exc)
    if is_oom(exc):
        cache.key, cache.model, cache.fp32_twin = None, None, None
        free_memory()
        return "oom", f"{type(exc).__name__}: {_first_line(exc)}"
    return "error", f"{type(exc).__name__}: {_first_line(exc)}"


def _parity_message(parity: Parity | None, phase: str = "forward") -> str:
    if parity is None or parity.ok:
        return ""
    if phase == "decode":
        return (f"parity failed: {parity.max_abs_diff:.0f} of the greedily decoded tokens differ from fp32 eager's "
                f"({decoding.GREEDY_TOKENS} per sequence)")
    return f"parity failed: max |diff| {parity.max_abs_diff:.3g} > tolerance {parity.tolerance:.3g}"


def _ok_fields(x: _Live, timing, options: MeasureOptions, cache: ModelCache, order_seed: int | None) -> dict:
    """The fields of an ok record: statistics, samples, setup times, parity, model info, FLOPs, decomposition."""
    setup = {"prepare_s": x.prepared.prepare_s, "first_call_ms": x.prepared.first_call_ms,
             "first_timed_call_ms": timing.first_timed_call_ms, "warmup_iters": timing.warmup_iters,
             "model_build_s": cache.build_s, "total_time_s": timing.total_time_s, "target_met": timing.target_met,
             "stop_reason": timing.stop_reason, "target_rel_ci": options.rule.target_rel_ci,
             "threads": torch.get_num_threads(), "backend_detail": x.prepared.detail, "order_seed": order_seed,
             "cache_fill": _cache_fill(x.checked.config)}
    parity = (None if x.parity is None else
              {"max_abs_diff": x.parity.max_abs_diff, "tolerance": x.parity.tolerance, "ok": x.parity.ok})
    config = x.checked.config
    per_token = (None if config.phase == "forward" else
                 decoding.per_token(timing.stats.to_dict(), config.batch_size, config.seq_len, config.phase))
    return dict(stats=timing.stats.to_dict(), samples_ms=timing.samples_ms, pipelined_ms=timing.pipelined_ms,
                per_token=per_token,
                setup=setup, parity=parity, model_info=dict(x.model.info),
                **_decomposition_fields(x.checked.config, x.prepared, options), **_resource_fields(x, options))


def _resource_fields(x: _Live, options: MeasureOptions) -> dict:
    """Memory (the peak taken around prepare, the weights the backend holds) and energy per inference
    (a pipelined window after timing; `unavailable` with the reason where the machine has no counter)."""
    if not options.resources:
        return {}
    weights = x.prepared.count_weights() if x.prepared.count_weights else None
    device = x.checked.config.device
    energy = memory.measure_energy(x.prepared.call, sync_for(device), device)
    return {"memory": {**(x.memory or {}), "weights_bytes": weights}, "energy": energy.to_dict()}


def _parity(config: MeasureConfig, reference_model: models.BuiltModel, inputs: tuple,
            prepared: backends.Prepared) -> Parity:
    """The backend's output against fp32 eager's on the same inputs, within the dtype's tolerance.

    The reference is fp32 eager for every dtype: comparing fp16 eager with itself would always pass,
    while what a user wants to know is how far half precision moves the answer. Run after prepare, so
    that prepare's first call stays the cold one.
    """
    if config.backend == "eager" and config.dtype == "fp32":
        reference = prepared.output()
    else:
        fp32_inputs = tuple(x.float() if x.is_floating_point() else x for x in inputs)
        with torch.inference_mode():
            reference = reference_model.module(*fp32_inputs)
    return check_parity(prepared.output(), reference, config.dtype)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else ""


def _work_fields(model: models.BuiltModel, inputs: tuple) -> dict:
    """FLOPs, GEMM calls and bytes written (in all and by size) of one eager forward: a property of the model and
    shape, so the backends of one shape (timed together, same model and inputs) share one count instead of each
    paying its two passes."""
    counts = counting.count_ops(model.module, inputs)
    return {"flops": counting.count_flops(model.module, inputs), "gemm_calls": counts and counts.gemm_calls,
            "writes": counts and counts.writes, "written_bytes": counts and counts.written_bytes,
            "write_sizes": counts and [list(pair) for pair in counts.write_sizes]}


def _work_by_phase(live: Sequence[_Live]) -> dict[str, dict]:
    """`_work_fields` once per phase among configs timed together: a decoder's prefill and decode step of one
    shape are timed together but compute different things (the prompt's tokens vs one token), so each phase
    gets its own count."""
    work: dict[str, dict] = {}
    for x in live:
        if x.checked.config.phase not in work:
            work[x.checked.config.phase] = _work_fields(x.model, x.inputs)
    return work


def _decomposition_fields(config: MeasureConfig, prepared: backends.Prepared, options: MeasureOptions) -> dict:
    """The profiled decomposition of the prepared backend (a separate run), if asked for."""
    if not options.decompose:
        return {}
    blind = blind_reason(config.backend, config.device)
    if blind:
        return {"decomposition": decompose.not_measured("unavailable", blind)}
    if prepared.own_split is not None:  # ONNX Runtime on a CPU: its own profiler sees the nodes torch's cannot
        return {"decomposition": prepared.own_split()}
    call = prepared.profiled() if prepared.profiled else prepared.call
    return {"decomposition": decompose.decompose(call, config.device, trace_dir=options.trace_dir,
                                                 trace_name=config.label().replace(" ", "_"))}
