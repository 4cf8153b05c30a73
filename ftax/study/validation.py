"""Trust the numbers: ftax's timing against independent methods on the same prepared callables.

Methods; each round visits every callable and runs the in-process ones on it back to back, so
drift of a shared machine hits them alike and the rounds' spread shows how much it drifted:
- `ftax`: ftax.measure.timing.measure (synchronized per-call samples, adaptive stop; its median).
- `torch-benchmark`: torch.utils.benchmark.Timer.adaptive_autorange (blocks of calls; median
  of per-call block means), with ftax's thread count (the Timer's own default is 1 thread).
- `timeit-loop`: the paper's style -- W warm-up calls, then N calls and one clock pair; the mean.
- `subprocess`: once, after the first round, a fresh Python process builds the same callables and
  times each with a bare perf_counter loop, so nothing of this process's state (allocator, caches,
  ftax) is shared; it also runs ftax's own measure there, to tell process from harness.

Callables: an empty function (harness overhead), a sleep of known length, bert-tiny and
bert-base eager and bert-tiny onnxruntime. Sensitivity runs vary threads, warm-up and GC on
bert-tiny eager, interleaved in rounds too. On CUDA a study compares synchronized wall time,
CUDA events, pipelined and unsynchronized timing. `open_validation` is the page's one call: it
measures a run where this machine has none stored for the plan and appends it, with its provenance,
to `<results_dir>/validation/<machine_id>.jsonl` (`ftax.measure.validation_store`), and otherwise reads the
stored run back, so the report-only build shows numbers. What is measured and the result's shape are
`ftax.measure.validation_spec` (shared with the read layer); `ftax.appendix.validation_report` turns the rows into the
tables and sentences the book's appendix states; `ftax.appendix.validation_plots` draws its figures.
"""
from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ftax.measure import measure_lock, validation_store
from ftax.run import backends, models
from ftax.measure.devices import resolve_device, sync_for
from ftax.store.env import fingerprint, load_avg_1m
from ftax.store.errors import InvalidConfigError, UnsupportedError
from ftax.sweep.profiles import PROFILES, RULES
from ftax.measure.timing import StopRule, measure
from ftax.measure.validation_spec import (CUDA_BATCH_SIZES, PROFILE_TARGETS, SENSITIVITY_TARGET, SLEEP_S, TARGETS, ValidationPlan,
                                  Target, ValidationRun)

def plan(profile: str = "quick", device: str = "auto", rounds: int = 3) -> ValidationPlan:
    """Check the page's parameters and resolve them; raises before anything is measured."""
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise InvalidConfigError(f"rounds must be a positive integer (3 or more for repeatability), got {rounds!r}")
    device = resolve_device(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidConfigError(f"device {device!r} asked for, but torch sees no CUDA device here; use cpu or auto")
    targets = tuple(replace(t, device=device) if t.model else t for t in PROFILE_TARGETS[profile])
    return ValidationPlan(profile, device, rounds, RULES[profile], targets)


def build_callable(target: Target) -> Callable[[], object]:
    """The callable a target names, prepared exactly as ftax prepares it for a measurement."""
    if target.model is None:
        return (lambda: None) if target.name == "empty" else (lambda: time.sleep(SLEEP_S))
    model = models.build(target.model, device=target.device)
    inputs = model.inputs(target.batch_size, target.seq_len)
    prepared = backends.prepare(target.backend, model, inputs)

    def call() -> object:
        with torch.inference_mode():
            return prepared.call()

    return call


def _load_1m() -> float:
    load = load_avg_1m()
    return float("nan") if load is None else load


# --- the methods -------------------------------------------------------------------------------

def _ftax(fn: Callable[[], object], rule: StopRule, sync: Callable[[], None]) -> dict:
    timing = measure(fn, rule, sync=sync)
    s = timing.stats
    return {"center_ms": s.median_ms, "spread_ms": s.iqr_ms, "n": s.n, "time_s": timing.total_time_s,
            "target_met": timing.target_met, "mean_ms": s.mean_ms, "pipelined_ms": timing.pipelined_ms,
            "ci_low_ms": s.ci_low_ms, "ci_high_ms": s.ci_high_ms}


def _torch_benchmark(fn: Callable[[], object], rule: StopRule) -> dict:
    """The Timer synchronizes an accelerator itself before each clock read."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    start = time.perf_counter()
    m = timer.adaptive_autorange(threshold=rule.target_rel_ci, min_run_time=rule.min_time_s,
                                 max_run_time=rule.max_time_s)
    return {"center_ms": m.median * 1e3, "spread_ms": m.iqr * 1e3, "n": len(m.times) * m.number_per_run,
            "time_s": time.perf_counter() - start, "target_met": None}


def timeit_loop(fn: Callable[[], object], warmup: int, iters: int, repeats: int = 5,
                sync: Callable[[], None] = lambda: None) -> dict:
    """The paper-style loop: mean of `iters` back-to-back calls after `warmup`, `repeats` times."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    means = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        means.append((time.perf_counter() - t0) / iters * 1e3)
    return {"center_ms": statistics.median(means), "spread_ms": float(np.subtract(*np.percentile(means, [75, 25]))),
            "n": iters * repeats, "time_s": time.perf_counter() - start, "target_met": None}


def _iters_for(center_ms: float, budget_s: float) -> int:
    return int(max(1, min(10_000, budget_s * 1e3 / max(center_ms, 1e-4) / 5)))


# One fresh interpreter times every target in turn. Plain targets come first and need no torch:
# a bare interpreter defines the same callables; torch and ftax are imported for the first model.
_CHILD = """import json, sys, time
jobs, threads, rule, results = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), []
for spec, iters in jobs:
    ftax_ms, sync = None, lambda: None
    if spec["model"] is not None:
        import torch, transformers
        from ftax.measure.timing import StopRule, measure
        from ftax.measure.devices import sync_for
        from ftax.study.validation import build_callable
        from ftax.measure.validation_spec import Target
        torch.set_num_threads(threads)
    start = time.perf_counter()
    if spec["model"] is None:
        fn = (lambda: None) if spec["name"] == "empty" else (lambda: time.sleep(SLEEP_S))
    else:
        fn, sync = build_callable(Target(**spec)), sync_for(spec["device"])
    for _ in range(5):
        fn()
    samples = []
    for _ in range(iters):
        sync(); a = time.perf_counter(); fn(); sync(); samples.append(time.perf_counter() - a)
    seconds = time.perf_counter() - start
    if spec["model"] is not None:
        ftax_ms = measure(fn, StopRule(**rule), sync=sync).stats.median_ms
    results.append({"samples": samples, "time_s": seconds, "ftax_ms": ftax_ms})
print(json.dumps(results))
"""


def _subprocess(jobs: list[tuple[Target, int]], threads: int, rule: StopRule) -> list[dict]:
    """Time each (target, calls) in one fresh interpreter with a bare loop: per-call samples, median.
    A target's seconds count building it there, warm-up and sampling, not starting Python nor
    importing torch and transformers. For a
    model, ftax's own `measure` also runs there, after the loop (`ftax_fresh_ms`): it tells a
    difference made by the fresh process from one made by the bare loop."""
    code = _CHILD.replace("SLEEP_S", repr(SLEEP_S))
    plain_first = sorted(jobs, key=lambda job: job[0].model is not None)
    out = subprocess.run([sys.executable, "-c", code, json.dumps([(t.__dict__, n) for t, n in plain_first]),
                          str(threads), json.dumps(asdict(rule))], capture_output=True, text=True, timeout=1800,
                         check=True)
    timed = dict(zip((t.name for t, _ in plain_first), json.loads(out.stdout.strip().splitlines()[-1])))
    rows = []
    for target, _ in jobs:
        samples = np.array(timed[target.name]["samples"]) * 1e3
        q25, q50, q75 = np.percentile(samples, [25, 50, 75])
        rows.append({"center_ms": float(q50), "spread_ms": float(q75 - q25), "n": int(samples.size),
                     "time_s": timed[target.name]["time_s"], "target_met": None,
                     "ftax_fresh_ms": timed[target.name]["ftax_ms"]})
    return rows


def compare_methods(targets=TARGETS, rule: StopRule = StopRule(), rounds: int = 3,
                    subprocess_iters: int | None = None, progress: Callable[[str], None] = lambda s: None
                    ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """One row per (target, method, round). Each round visits every target and runs the in-process
    methods on it back to back, so a round spans the whole run and the rounds' spread includes the
    machine's drift. Their order rotates from round to round, so that whatever coming first (or
    after a given method) costs is spread over the methods instead of charged to one. After the first
    round one fresh process times every target (it rebuilds the models), each for about the profile's
    `max_time_s` (or `subprocess_iters` calls). Also (target, reason) for targets this machine cannot run."""
    rows, skipped, built = [], [], {}
    threads = torch.get_num_threads()
    for target in targets:
        progress(f"building {target.name}")
        try:
            built[target] = build_callable(target)
        except UnsupportedError as exc:
            skipped.append((target.name, str(exc)))
    centers: dict[str, float] = {}  # ftax's latest median per target: sizes the loop and the subprocess
    for round_ in range(rounds):
        for target, fn in built.items():
            progress(f"round {round_ + 1}/{rounds}: {target.name}")
            sync = sync_for(target.device)
            methods = {"ftax": lambda: _ftax(fn, rule, sync), "torch-benchmark": lambda: _torch_benchmark(fn, rule),
                       "timeit-loop": lambda: timeit_loop(fn, rule.warmup_iters,
                                                          _iters_for(centers[target.name], rule.min_time_s), sync=sync)}
            order = list(methods)[round_ % 3:] + list(methods)[:round_ % 3]  # ftax first in round 0 only
            for method in order:
                row = methods[method]()
                if method == "ftax":
                    centers[target.name] = row["center_ms"]
                rows.append({"target": target.name, "method": method, "round": round_, "load_1m": _load_1m(), **row})
        if round_ == 0 and built:
            progress("subprocess: every target in one fresh interpreter")
            jobs = [(t, subprocess_iters or int(np.clip(rule.max_time_s * 1e3 / max(centers[t.name], 1e-4),
                                                        rule.min_iters, 10_000))) for t in built]
            rows += [{"target": t.name, "method": "subprocess", "round": 0, "load_1m": _load_1m(), **r}
                     for (t, _), r in zip(jobs, _subprocess(jobs, threads, rule))]
    return pd.DataFrame(rows), skipped


def sensitivity(target: Target = SENSITIVITY_TARGET, rule: StopRule = StopRule(), rounds: int = 3,
                thread_counts: tuple[int, ...] | None = None, progress: Callable[[str], None] = lambda s: None
                ) -> pd.DataFrame:
    """What threads, warm-up length and GC do to ftax's median here, one row per setting and round.

    Settings alternate within each round (as the methods do), so drift of a shared machine does
    not pass for an effect. ftax's own setting (its threads, warm-up and GC off) is measured once a
    round and is the first row of every factor: the baseline its other settings are compared with."""
    fn = build_callable(target)
    sync = sync_for(target.device)
    original = torch.get_num_threads()
    others = [n for n in (thread_counts or (1,)) if n != original]
    no_warmup = replace(rule, warmup_iters=0, warmup_time_s=0.0, warmup_max_s=0.0)
    baseline = {"threads": f"{original} thread{'s' if original > 1 else ''} (ftax)",
                "warm-up": f"{rule.warmup_iters} calls (ftax)", "gc": "disabled (ftax)"}
    rows = []
    for round_ in range(rounds):
        progress(f"sensitivity: round {round_ + 1}/{rounds}")
        base = _ftax(fn, rule, sync)
        rows += [{"factor": f, "setting": label, "round": round_, "load_1m": _load_1m(), **base}
                 for f, label in baseline.items()]
        settings = [("threads", f"{n} thread{'s' if n > 1 else ''}", lambda: fn, rule, n) for n in others]
        settings += [("warm-up", "none, fresh model", lambda: build_callable(target), no_warmup, original),
                     ("gc", "enabled, collecting", lambda: _with_gc(fn), rule, original)]
        for factor, setting, make, used_rule, n in settings:
            call = make()
            torch.set_num_threads(n)
            try:
                rows.append({"factor": factor, "setting": setting, "round": round_, "load_1m": _load_1m(),
                             **_ftax(call, used_rule, sync)})
            finally:
                torch.set_num_threads(original)
    order = {f: i for i, f in enumerate(baseline)}
    return pd.DataFrame(rows).sort_values(["round", "factor"], key=lambda c: c.map(order) if c.name == "factor"
                                          else c, kind="stable").reset_index(drop=True)


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


def cuda_sync_study(batch_sizes=(1, 64), seq_len: int = 128, iters: int = 50, device: str = "cuda") -> pd.DataFrame:
    """GPU only: synchronized wall vs CUDA events vs pipelined vs no-sync timing of bert-base."""
    rows = []
    for batch in batch_sizes:
        fn = build_callable(Target("bert-base eager", "bert-base", batch_size=batch, seq_len=seq_len, device=device))
        sync = sync_for(device)
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


def run_validation(the_plan: ValidationPlan, measure: bool = True, progress: Callable[[str], None] = lambda s: None
                   ) -> ValidationRun:
    """Measure the plan live: methods on every target, sensitivity, and on CUDA the sync study."""
    if not measure:
        return ValidationRun(the_plan, measured=False)
    with measure_lock.measuring():
        start, load = time.perf_counter(), _load_1m()
        frame, skipped = compare_methods(the_plan.targets, the_plan.rule, the_plan.rounds, progress=progress)
        sens = sensitivity(replace(SENSITIVITY_TARGET, device=the_plan.device), the_plan.rule, the_plan.rounds,
                           progress=progress)
        cuda = pd.DataFrame()
        if the_plan.device.startswith("cuda"):
            progress("cuda sync study")
            cuda = cuda_sync_study(CUDA_BATCH_SIZES[the_plan.profile], device=the_plan.device,
                                   iters=20 if the_plan.profile == "smoke" else 50)
        return ValidationRun(the_plan, True, frame, sens, cuda, skipped, time.perf_counter() - start,
                             (load, _load_1m()))


def open_validation(the_plan: ValidationPlan, results_dir: str | Path = "results", measure: bool = True,
                    progress: Callable[[str], None] = lambda s: None) -> ValidationRun:
    """The appendix's run, as `ftax.study.studies.open_study` is a case study's: this machine's stored run for the plan
    (profile, device kind, rounds, torch version) if there is one; else, with `measure`, a new run, measured and
    appended to `<results_dir>/validation/<machine_id>.jsonl`; else the newest stored run of any machine
    (`validation_store.choose`); else a run that measured nothing (`measured=False`). With `measure` the store is
    read under the machine's measuring lock (`measure_lock`): a run another process is measuring is waited for
    and then read, not measured twice."""
    with measure_lock.measuring() if measure else nullcontext():
        return _open(the_plan, results_dir, measure, progress)


def _open(the_plan: ValidationPlan, results_dir: str | Path, measure: bool, progress: Callable[[str], None]) -> ValidationRun:
    here = fingerprint()
    found, mine = validation_store.choose(validation_store.stored(results_dir), the_plan, here["machine_id"],
                                          here["torch_version"])
    if found is not None and (mine or not measure):
        return validation_store.from_json(found, validation_store.path_of(results_dir, found))
    if not measure:
        return ValidationRun(the_plan, measured=False)
    return validation_store.append(run_validation(the_plan, True, progress), results_dir, here)
