"""Trust the numbers: ftax's timing against independent methods on the same prepared callables.

Methods, interleaved round by round so that drift of a shared machine hits all of them alike:
- `ftax`: ftax.timing.measure (synchronized per-call samples, adaptive stop; its median).
- `torch-benchmark`: torch.utils.benchmark.Timer.adaptive_autorange (blocks of calls; median
  of per-call block means), with ftax's thread count (the Timer's own default is 1 thread).
- `timeit-loop`: the paper's style -- W warm-up calls, then N calls and one clock pair; the mean.
- `subprocess`: a fresh Python process builds the same callable and times it with a bare
  perf_counter loop, so nothing of this process's state (allocator, caches, ftax) is shared.

Callables: an empty function (harness overhead), a sleep of known length, bert-tiny and
bert-base eager and bert-tiny onnxruntime (CPU). Sensitivity runs vary threads, warm-up
and GC on bert-tiny eager. Everything is measured live; nothing here is stored in results/.
"""
from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ftax import backends, models
from ftax.timing import StopRule, measure

SLEEP_S = 0.001


@dataclass(frozen=True)
class Target:
    """A callable to validate on: a name and how to build it (also inside a fresh process)."""

    name: str
    model: str | None = None  # None: a plain Python callable (empty / sleep)
    backend: str = "eager"
    batch_size: int = 1
    seq_len: int = 16


TARGETS = (
    Target("empty"),
    Target("sleep-1ms"),
    Target("bert-tiny eager", "bert-tiny"),
    Target("bert-tiny onnxruntime", "bert-tiny", "onnxruntime"),
    Target("bert-base eager", "bert-base"),
)


def build_callable(target: Target) -> Callable[[], object]:
    """The callable a target names, prepared exactly as ftax prepares it for a measurement."""
    if target.model is None:
        return (lambda: None) if target.name == "empty" else (lambda: time.sleep(SLEEP_S))
    model = models.build(target.model)
    inputs = model.inputs(target.batch_size, target.seq_len)
    prepared = backends.prepare(target.backend, model, inputs)

    def call() -> object:
        with torch.inference_mode():
            return prepared.call()

    return call


def _ftax(fn: Callable[[], object], rule: StopRule) -> dict:
    timing = measure(fn, rule)
    return {"center_ms": timing.stats.median_ms, "spread_ms": timing.stats.iqr_ms, "n": timing.stats.n,
            "time_s": timing.total_time_s, "target_met": timing.target_met}


def _torch_benchmark(fn: Callable[[], object], rule: StopRule) -> dict:
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    start = time.perf_counter()
    m = timer.adaptive_autorange(threshold=rule.target_rel_ci, min_run_time=rule.min_time_s,
                                 max_run_time=rule.max_time_s)
    return {"center_ms": m.median * 1e3, "spread_ms": m.iqr * 1e3, "n": len(m.times) * m.number_per_run,
            "time_s": time.perf_counter() - start, "target_met": None}


def timeit_loop(fn: Callable[[], object], warmup: int, iters: int, repeats: int = 5) -> dict:
    """The paper-style loop: mean of `iters` back-to-back calls after `warmup`, `repeats` times."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    means = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        means.append((time.perf_counter() - t0) / iters * 1e3)
    return {"center_ms": statistics.median(means), "spread_ms": float(np.subtract(*np.percentile(means, [75, 25]))),
            "n": iters * repeats, "time_s": time.perf_counter() - start, "target_met": None}


def _iters_for(center_ms: float, budget_s: float) -> int:
    return int(max(1, min(10_000, budget_s * 1e3 / max(center_ms, 1e-4) / 5)))


def _subprocess(target: Target, iters: int, threads: int) -> dict:
    """Time the target in a fresh interpreter with a bare loop (per-call samples, median)."""
    start = time.perf_counter()
    code = ("import json,sys,time,torch; from ftax.validation import Target, build_callable; "
            f"torch.set_num_threads({threads}); t=Target(**json.loads(sys.argv[1])); fn=build_callable(t); "
            f"[fn() for _ in range(5)]; s=[]\n"
            f"for _ in range({iters}):\n a=time.perf_counter(); fn(); s.append(time.perf_counter()-a)\n"
            "print(json.dumps(s))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(target.__dict__)], capture_output=True, text=True,
                         timeout=600, check=True)
    samples = np.array(json.loads(out.stdout.strip().splitlines()[-1])) * 1e3
    q25, q50, q75 = np.percentile(samples, [25, 50, 75])
    return {"center_ms": float(q50), "spread_ms": float(q75 - q25), "n": int(samples.size),
            "time_s": time.perf_counter() - start, "target_met": None}


def compare_methods(targets=TARGETS, rule: StopRule = StopRule(), rounds: int = 3,
                    subprocess_iters: int | None = None, progress: Callable[[str], None] = lambda s: None
                    ) -> pd.DataFrame:
    """One row per (target, method, round). Methods are interleaved within each round."""
    rows = []
    threads = torch.get_num_threads()
    for target in targets:
        progress(f"building {target.name}")
        fn = build_callable(target)
        for round_ in range(rounds):
            progress(f"{target.name}: round {round_ + 1}/{rounds}")
            ftax_row = _ftax(fn, rule)
            iters = _iters_for(ftax_row["center_ms"], rule.min_time_s)
            measured = {"ftax": ftax_row, "torch-benchmark": _torch_benchmark(fn, rule),
                        "timeit-loop": timeit_loop(fn, warmup=rule.warmup_iters, iters=iters)}
            if round_ == 0:
                measured["subprocess"] = _subprocess(target, subprocess_iters or max(iters * 5, 20), threads)
            rows += [{"target": target.name, "method": m, "round": round_, **r} for m, r in measured.items()]
    return pd.DataFrame(rows)


def agreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: median of rounds, spread, ratio to ftax's median, time and n needed."""
    table = (frame.groupby(["target", "method"], sort=False)
             .agg(center_ms=("center_ms", "median"), spread_ms=("spread_ms", "median"), n=("n", "median"),
                  time_s=("time_s", "median"), rounds=("round", "count")).reset_index())
    ftax_center = table[table.method == "ftax"].set_index("target")["center_ms"]
    table["ratio_to_ftax"] = table["center_ms"] / table["target"].map(ftax_center)
    return table


def repeatability(frame: pd.DataFrame) -> pd.DataFrame:
    """Coefficient of variation of ftax's medians over the repeated rounds, per target."""
    ftax = frame[frame.method == "ftax"].groupby("target", sort=False)["center_ms"]
    return pd.DataFrame({"runs": ftax.count(), "cv_of_medians": ftax.std(ddof=1) / ftax.mean()}).reset_index()


def sensitivity(target: Target = Target("bert-tiny eager", "bert-tiny"), rule: StopRule = StopRule(),
                thread_counts: tuple[int, ...] | None = None) -> pd.DataFrame:
    """What threads, warm-up length and GC do to ftax's median on this machine."""
    fn = build_callable(target)
    original_threads = torch.get_num_threads()
    rows = []
    for threads in thread_counts or tuple(sorted({1, original_threads})):
        torch.set_num_threads(threads)
        rows.append({"factor": "threads", "setting": str(threads), **_ftax(fn, rule)})
    torch.set_num_threads(original_threads)
    cold = build_callable(target)  # a fresh callable: its first calls are truly cold
    rows.append({"factor": "warm-up", "setting": "none", **_ftax(cold, replace(rule, warmup_iters=0,
                                                                                warmup_time_s=0.0, warmup_max_s=0.0))})
    rows.append({"factor": "warm-up", "setting": f"{rule.warmup_iters} calls", **_ftax(fn, rule)})
    rows.append({"factor": "gc", "setting": "disabled (ftax)", **_ftax(fn, rule)})
    rows.append({"factor": "gc", "setting": "enabled, collecting", **_ftax(_with_gc(fn), rule)})
    return pd.DataFrame(rows)


def _with_gc(fn: Callable[[], object]) -> Callable[[], object]:
    """The callable with garbage collection enabled inside it (ftax disables GC around timing);
    a cheap generation-0 collection every call stands in for what a busy Python heap does."""
    def call() -> object:
        gc.enable()
        gc.collect(0)
        try:
            return fn()
        finally:
            gc.disable()
    return call


def cuda_sync_study(batch_sizes=(1, 64), seq_len: int = 128, iters: int = 50) -> pd.DataFrame:
    """GPU only: synchronized wall vs CUDA events vs pipelined vs no-sync timing of bert-base."""
    rows = []
    for batch in batch_sizes:
        fn = build_callable(Target("bert-base eager", "bert-base", batch_size=batch, seq_len=seq_len))
        sync = torch.cuda.synchronize
        for _ in range(10):
            fn()
        sync()
        walls, events, nosync = [], [], []
        for _ in range(iters):
            sync()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter()
            start.record()
            fn()
            end.record()
            t_nosync = time.perf_counter()
            sync()
            walls.append((time.perf_counter() - t0) * 1e3)
            nosync.append((t_nosync - t0) * 1e3)
            events.append(start.elapsed_time(end))
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        pipelined = (time.perf_counter() - t0) * 1e3 / iters
        rows.append({"batch_size": batch, "sync_wall_ms": float(np.median(walls)),
                     "cuda_events_ms": float(np.median(events)), "pipelined_ms": pipelined,
                     "no_sync_ms": float(np.median(nosync))})
    return pd.DataFrame(rows)
