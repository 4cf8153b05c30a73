"""ONNX Runtime's own profile: per run, the time inside its nodes' kernels, which torch's profiler cannot see.

ONNX Runtime runs outside the torch dispatcher, so a torch profile of its call holds no op and no kernel
(`ftax.measure.decompose` stores it as unavailable). Its own profiler (`SessionOptions.enable_profiling`) writes a
Chrome trace with one `model_run` span per run and one `<node>_kernel_time` span per node it executed. Busy time is
the union of a run's node spans; host is the rest of the run (the session's bookkeeping between nodes, the Python
binding, the copies of inputs and outputs). The node spans carry the profiler's own bookkeeping, so busy time may
overstate the kernels: each profiled run is paired with an unprofiled call made just before it, as for torch, and
what profiling added to the call (`profiled_wall_ms - wall_ms`) bounds that overstatement (`ftax.read.ledger`).
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Callable

from ftax.measure.decompose import WARM_CALLS, StepParts, not_measured, summarize, union_ms
from ftax.measure.timing import timed_call_ms

ORT_METHOD = "ort-node-kernels"
KERNEL_SUFFIX = "_kernel_time"


def run_spans(events: list[dict]) -> list[tuple[float, float, int]]:
    """Per `model_run` span of an ONNX Runtime trace, in run order: (its duration, the union of its node kernel
    spans, its node count), in microseconds."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    nodes = [(e["ts"], e["ts"] + e["dur"]) for e in events
             if e.get("cat") == "Node" and str(e.get("name", "")).endswith(KERNEL_SUFFIX)]
    spans = []
    for start, end in runs:
        inside = [(max(s, start), min(t, end)) for s, t in nodes if s < end and t > start]
        spans.append((end - start, union_ms(inside), len(inside)))
    return spans


def decompose_ort(call: Callable[[], object], profiled_run: Callable[[], object], end_profiling: Callable[[], str],
                  steps: int = 5) -> dict:
    """Split `call`'s wall time with ONNX Runtime's own profile: `profiled_run` runs the same session options with
    profiling on, `end_profiling` ends it and returns the trace's path (read, then deleted). Each profiled run is
    paired with an unprofiled call of `call` made just before it. Returns `ftax.measure.decompose`'s keys; never
    raises (a failure is a result with method "failed")."""
    walls: list[float] = []
    profiled: list[float] = []  # timed from Python like `walls`, so their difference is what profiling added
    path = None
    try:
        for _ in range(WARM_CALLS):
            call()
            profiled_run()
        for _ in range(steps):
            walls.append(timed_call_ms(call))
            profiled.append(timed_call_ms(profiled_run))
        path = Path(end_profiling())
        spans = run_spans(json.loads(path.read_text()))[-steps:]  # the warm runs come first
        if len(spans) != steps or not any(n for _, _, n in spans):
            return not_measured("failed", f"ONNX Runtime's profile held {len(spans)} runs with node spans of {steps}",
                                wall_ms=statistics.median(walls))
        parts = [StepParts(wall_ms * 1e3, busy, busy, nodes, 0) for wall_ms, (_, busy, nodes) in zip(profiled, spans)]
        return summarize(ORT_METHOD, walls, parts)
    except Exception as exc:  # noqa: BLE001 -- a decomposition failure must not kill the measurement
        return not_measured("failed", f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                            wall_ms=statistics.median(walls) if walls else math.nan)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
