"""One config -> one Record: build (or reuse) the model, prepare the backend, check parity, time it.

Per-config failures never escape as exceptions: an unavailable combination or a size the
model cannot take becomes an `unsupported` record, running out of memory an `oom` record
(memory is freed first), anything else an `error` record with the exception type and
message. Only names that do not exist (unknown model/backend/dtype/device) raise, because
they are the caller's bug and a sweep validates them before it starts.

`setup.first_call_ms` is the backend's first call after it was built, i.e. the cold call
(for compiled backends it includes compilation); `setup.first_timed_call_ms` is the first
call the timing loop made, before its own warm-up.
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import ftax
from ftax import backends, models
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


def validate(config: MeasureConfig) -> None:
    """Raise InvalidConfigError for names that do not exist or sizes the model cannot take."""
    spec = models.get_spec(config.model)
    backends.check_name(config.backend)
    backends.dtype_of(config.dtype)
    backends.resolve_device(config.device)
    models.validate_overrides(spec, dict(config.overrides))
    models.validate_shape(spec, config.batch_size, config.seq_len)


@dataclass
class ModelCache:
    """Keeps the last built model so a sweep builds each (model, dtype, overrides, device) once."""

    key: tuple | None = None
    model: models.BuiltModel | None = None
    build_s: float = 0.0

    def get(self, config: MeasureConfig) -> models.BuiltModel:
        key = (config.model, config.dtype, config.overrides, config.device)
        if key != self.key:
            self.key, self.model = None, None
            free_memory()
            t0 = time.perf_counter()
            self.model = models.build(config.model, dict(config.overrides), backends.dtype_of(config.dtype),
                                      config.device)
            self.build_s, self.key = time.perf_counter() - t0, key
        return self.model


def _sync_for(device: str):
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


@dataclass
class MeasureOptions:
    """How to measure (not what): stopping rule, threads, profiling, cache location."""

    rule: StopRule = field(default_factory=StopRule)
    threads: int | None = None
    decompose: bool = False
    count_flops: bool = True
    trace_dir: Path | None = None
    cache_dir: Path | None = None


def measure_config(config: MeasureConfig, options: MeasureOptions | None = None,
                   cache: ModelCache | None = None) -> Record:
    """Measure one config and return its Record (status ok/unsupported/oom/error)."""
    options = options or MeasureOptions()
    device = backends.resolve_device(config.device)
    config = MeasureConfig(config.model, config.backend, config.dtype, device, config.batch_size,
                           config.seq_len, config.overrides)
    if options.threads:
        torch.set_num_threads(options.threads)
    env = fingerprint()

    def record(status: str, message: str = "", **fields) -> Record:
        return Record(config=config, status=status, message=message, env=env, ftax_version=ftax.__version__,
                      **fields)

    spec = models.get_spec(config.model)  # unknown names raise: they are the caller's bug
    backends.check_name(config.backend)
    backends.dtype_of(config.dtype)
    try:  # a size this model cannot take is a property of the config: a row, not a crash
        models.validate_overrides(spec, dict(config.overrides))
        models.validate_shape(spec, config.batch_size, config.seq_len)
    except InvalidConfigError as exc:
        return record("unsupported", str(exc))
    ok, reason = backends.available(config.backend, device, config.dtype)
    if not ok:
        return record("unsupported", reason)

    cache = cache or ModelCache()
    prepared = None
    try:
        model = cache.get(config)
        inputs = model.inputs(config.batch_size, config.seq_len)
        prepared = backends.prepare(config.backend, model, inputs, options.cache_dir)
        with torch.inference_mode():  # after prepare, so that prepare's first call is the cold one
            reference = prepared.output() if config.backend == "eager" else model.module(*inputs)
        parity = backends.check_parity(prepared.output(), reference, config.dtype)
        del reference
        sync = _sync_for(device)
        with torch.inference_mode():
            timing = measure(prepared.call, options.rule, sync=sync)
        extra = _profile_fields(config, model, inputs, prepared, options)
        setup = {"prepare_s": prepared.prepare_s, "first_call_ms": prepared.first_call_ms,
                 "first_timed_call_ms": timing.first_call_ms,
                 "warmup_iters": timing.warmup_iters, "model_build_s": cache.build_s,
                 "total_time_s": timing.total_time_s, "target_met": timing.target_met,
                 "stop_reason": timing.stop_reason, "target_rel_ci": options.rule.target_rel_ci,
                 "threads": torch.get_num_threads(), "backend_detail": prepared.detail}
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else ""


def _profile_fields(config: MeasureConfig, model: models.BuiltModel, inputs: tuple, prepared,
                    options: MeasureOptions) -> dict:
    """FLOPs of one eager forward and, if asked, the profiled decomposition (a separate run)."""
    from ftax import profile

    fields: dict = {}
    if options.count_flops:
        fields["flops"] = profile.count_flops(model.module, inputs)
    if options.decompose:
        fields["profile"] = profile.decompose(prepared.call, config.device, trace_dir=options.trace_dir,
                                              trace_name=config.label().replace(" ", "_"))
    return fields
