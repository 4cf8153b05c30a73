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

import torch

import ftax
from ftax import backends, decompose, models
from ftax.devices import resolve_device, sync_for
from ftax.env import fingerprint
from ftax.errors import InvalidConfigError, UnsupportedError
from ftax.results import MeasureConfig, Record
from ftax.timing import StopRule, measure

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
    try:
        overrides = models.validate_overrides(spec, dict(config.overrides))
        models.validate_shape(spec, config.batch_size, config.seq_len)
    except InvalidConfigError as exc:
        return CheckedConfig(config, spec, dtype, dict(config.overrides), invalid_size=str(exc))
    ok, reason = backends.available(config.backend, config.device, config.dtype)
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
        key = (config.model, config.dtype, config.overrides, config.device)
        if key != self.key:
            self.key, self.model, self.fp32_twin = None, None, None
            free_memory()
            t0 = time.perf_counter()
            self.model = models.build_validated(checked.spec, checked.overrides, checked.dtype, config.device)
            self.build_s, self.key = time.perf_counter() - t0, key
        return self.model

    def fp32_reference(self, checked: CheckedConfig) -> models.BuiltModel:
        """The current model's fp32 twin (same seed, so the same weights before the cast), built once per group."""
        if checked.dtype == torch.float32:
            return self.get(checked)
        if self.fp32_twin is None:
            self.fp32_twin = models.build_validated(checked.spec, checked.overrides, torch.float32,
                                                    checked.config.device)
        return self.fp32_twin


@dataclass
class MeasureOptions:
    """How to measure (not what): stopping rule, threads, decomposition and its traces."""

    rule: StopRule = field(default_factory=StopRule)
    threads: int | None = None
    decompose: bool = False
    count_flops: bool = True
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
    checked = config if isinstance(config, CheckedConfig) else check(config)
    config, options = checked.config, options or MeasureOptions()
    if options.threads:
        torch.set_num_threads(options.threads)
    env = fingerprint()

    def record(status: str, message: str = "", **fields) -> Record:
        return Record(config=config, status=status, message=message, env=env, ftax_version=ftax.__version__,
                      round=round_, rule=options.rule.name, **fields)

    if checked.problem is not None:
        return record("unsupported", checked.problem)
    cache = cache or ModelCache()
    prepared = None
    try:
        model = cache.get(checked)
        inputs = model.inputs(config.batch_size, config.seq_len)
        prepared = backends.prepare(config.backend, model, inputs)
        parity = _parity(config, cache.fp32_reference(checked), inputs, prepared)
        with torch.inference_mode():
            timing = measure(prepared.call, options.rule, sync=sync_for(config.device))
        extra = _decomposition_fields(config, model, inputs, prepared, options)
        setup = {"prepare_s": prepared.prepare_s, "first_call_ms": prepared.first_call_ms,
                 "first_timed_call_ms": timing.first_timed_call_ms,
                 "warmup_iters": timing.warmup_iters, "model_build_s": cache.build_s,
                 "total_time_s": timing.total_time_s, "target_met": timing.target_met,
                 "stop_reason": timing.stop_reason, "target_rel_ci": options.rule.target_rel_ci,
                 "threads": torch.get_num_threads(), "backend_detail": prepared.detail, "order_seed": order_seed}
        message = "" if parity.ok else (f"parity failed: max |diff| {parity.max_abs_diff:.3g} > "
                                        f"tolerance {parity.tolerance:.3g}")
        return record("ok", message, stats=timing.stats.to_dict(), samples_ms=timing.samples_ms,
                      pipelined_ms=timing.pipelined_ms, setup=setup,
                      parity={"max_abs_diff": parity.max_abs_diff, "tolerance": parity.tolerance, "ok": parity.ok},
                      model_info=dict(model.info), **extra)
    except UnsupportedError as exc:
        return record("unsupported", str(exc))
    except Exception as exc:  # noqa: BLE001 -- a sweep must never die on one config
        if is_oom(exc):
            prepared = None
            cache.key, cache.model = None, None
            free_memory()
            return record("oom", f"{type(exc).__name__}: {_first_line(exc)}")
        return record("error", f"{type(exc).__name__}: {_first_line(exc)}")
    finally:
        del prepared


def _parity(config: MeasureConfig, reference_model: models.BuiltModel, inputs: tuple,
            prepared: backends.Prepared) -> backends.Parity:
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
    return backends.check_parity(prepared.output(), reference, config.dtype)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else ""


def _decomposition_fields(config: MeasureConfig, model: models.BuiltModel, inputs: tuple, prepared,
                          options: MeasureOptions) -> dict:
    """FLOPs of one eager forward and, if asked, the profiled decomposition (a separate run)."""
    fields: dict = {}
    if options.count_flops:
        fields["flops"] = decompose.count_flops(model.module, inputs)
    if options.decompose:
        fields["decomposition"] = decompose.decompose(prepared.call, config.device, trace_dir=options.trace_dir,
                                                      trace_name=config.label().replace(" ", "_"))
    return fields
