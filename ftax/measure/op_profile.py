"""Where one call's time goes by operator: torch.profiler's `key_averages()` of a few calls, per call, by op.

A roofline says how fast a decode step could be; it cannot say why a measured step is not. The profiler can:
which aten ops take the step's time, how many calls each makes, and, grouped by input shape, whether a matrix
product at batch 4 costs what it costs at batch 1 (a path whose cost follows the weights it reads) or grows with
the rows it multiplies. `ftax.read.decode_ops` reads these profiles; `benchmarks/decode_ops.py` takes them.

What it measures: `steps` calls after `warmup` untimed ones, each inside a `record_function(STEP)` range, so the
range's mean is the profiled call's wall time (the profiler's own cost included: these are shares, not latencies
to quote beside the timed records).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

STEP = "ftax step"  # the record_function range around each profiled call
DECODE_OPS = "decode-ops"  # results/decode-ops/<machine_id>.jsonl: per-op profiles and work counts of decode steps


@dataclass(frozen=True)
class OpTime:
    """One op (or one op at one input shape) per profiled call: calls, self and total CPU time in ms."""

    op: str
    calls: float
    self_ms: float
    total_ms: float
    shapes: str = ""


def profile_ops(call: Callable[[], object], steps: int, warmup: int = 3) -> tuple[float, list[OpTime], list[OpTime]]:
    """(profiled ms per call, ops by name, ops by name and input shapes), each per call, slowest self time first."""
    from torch.profiler import ProfilerActivity, profile, record_function

    with torch.inference_mode():
        for _ in range(warmup):
            call()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(steps):
                with record_function(STEP):
                    call()
    step = next(e for e in prof.key_averages() if e.key == STEP)
    return (step.cpu_time_total / step.count / 1e3, _per_call(prof.key_averages(), steps, False),
            _per_call(prof.key_averages(group_by_input_shape=True), steps, True))


def _per_call(events, steps: int, shapes: bool) -> list[OpTime]:
    rows = [OpTime(e.key, e.count / steps, e.self_cpu_time_total / steps / 1e3, e.cpu_time_total / steps / 1e3,
                   str(e.input_shapes) if shapes else "") for e in events if e.key != STEP]
    return sorted(rows, key=lambda r: -r.self_ms)
