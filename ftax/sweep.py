"""Sweeps: a grid of configs -> records in `results/<machine_id>.jsonl`, resumable, failure-proof.

- Resume: a config already stored (any status) is skipped; `retry_failed` re-runs the non-ok
  ones. A sweep that asks for a decomposition re-measures ok records that lack one.
- Failures are rows (see ftax.runner); one config never stops the sweep.
- `isolate` runs each model's configs in a child process: a crash in a native library then
  becomes an `error` row for the config in flight, and the sweep goes on with the rest.
- `ftax.ray_engine` runs the same configs on a Ray cluster (one device per task), with the same
  grouping (`group_key`) and resume rule (`results.is_done`).
What to sweep (grids, studies, grid files) is `ftax.studies`; the `ftax sweep` command is `ftax.cli`.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Iterable, Sequence

from ftax import results
from ftax.env import fingerprint
from ftax.results import MeasureConfig, Record
from ftax.runner import MeasureOptions, ModelCache, measure_config


@dataclass
class SweepSummary:
    path: Path
    total: int
    skipped: int
    counts: Counter = field(default_factory=Counter)
    wall_s: float = 0.0

    def __add__(self, other: "SweepSummary") -> "SweepSummary":
        """Two sweeps' summaries as one (the later one's store path)."""
        return SweepSummary(path=other.path, total=self.total + other.total, skipped=self.skipped + other.skipped,
                            counts=self.counts + other.counts, wall_s=self.wall_s + other.wall_s)

    def __str__(self) -> str:
        measured = sum(self.counts.values())
        if measured == 0:
            return f"nothing to measure: all {self.total} configs are already in {self.path}"
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return (f"measured {measured} of {self.total} configs in {self.wall_s:.1f} s ({by_status}); "
                f"{self.skipped} already stored; records in {self.path}")


def _todo(configs: Sequence[MeasureConfig], path: Path, machine_id: str, retry_failed: bool,
          decompose: bool) -> list[MeasureConfig]:
    """Configs without a stored record (or with a failed one, if retrying; or ok but unprofiled)."""
    stored = results.best_records(path)
    return [c for c in configs
            if (data := stored.get(results.config_key(c, machine_id))) is None
            or not results.is_done(data, retry_failed, decompose)]


def group_key(config: MeasureConfig) -> tuple:
    """Configs with the same key share one built model: a sweep visits them back to back."""
    return (config.model, config.dtype, config.overrides, config.device)


def _measure_group(configs: list[MeasureConfig], path: str, options: MeasureOptions) -> None:
    """Child-process entry of `isolate`: measure and append each config itself."""
    cache = ModelCache()
    for config in configs:
        results.append(path, measure_config(config, options, cache))


def _run_isolated(configs: list[MeasureConfig], path: Path, options: MeasureOptions, machine_id: str,
                  on_record) -> None:
    """Run configs in child processes, restarting after a crash with the configs still missing."""
    ctx = multiprocessing.get_context("spawn")
    remaining = list(configs)
    while remaining:
        before = results.keys_with_status(path, results.STATUSES)
        child = ctx.Process(target=_measure_group, args=(remaining, str(path), options))
        child.start()
        child.join()
        after = results.keys_with_status(path, results.STATUSES)
        done = [c for c in remaining if results.config_key(c, machine_id) in after - before]
        for config in done:
            on_record(config, None)
        remaining = remaining[len(done):]
        if remaining and child.exitcode != 0:
            crashed = remaining.pop(0)
            record = Record(config=crashed, status="error", env=fingerprint(),
                            message=f"worker process died (exit code {child.exitcode}) while measuring this config")
            results.append(path, record)
            on_record(crashed, record)
        elif remaining:
            raise RuntimeError(f"worker exited cleanly but left {len(remaining)} configs unmeasured")


def run_sweep(configs: Iterable[MeasureConfig], out_dir: str | Path = "results", options: MeasureOptions | None = None,
        retry_failed: bool = False, isolate: bool = False, progress: bool = True) -> SweepSummary:
    """Measure every config not yet stored, appending one record each to `<out_dir>/<machine_id>.jsonl`."""
    options = options or MeasureOptions()
    configs = list(dict.fromkeys(configs))
    machine_id = fingerprint()["machine_id"]
    path = results.store_path(out_dir, machine_id)
    todo = _todo(configs, path, machine_id, retry_failed, options.decompose)
    summary = SweepSummary(path=path, total=len(configs), skipped=len(configs) - len(todo))
    if not todo:
        return summary
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="ftax sweep", unit="config", disable=not progress, file=sys.stderr)
    start = time.perf_counter()

    def on_record(config: MeasureConfig, record: Record | None) -> None:
        status = record.status if record else "ok*"
        summary.counts[status] += 1
        bar.set_postfix_str(f"{config.label()} -> {status}", refresh=False)
        bar.update()

    try:
        for _, group in groupby(todo, key=group_key):
            group = list(group)
            if isolate:
                _run_isolated(group, path, options, machine_id, on_record)
                continue
            cache = ModelCache()
            for config in group:
                bar.set_postfix_str(config.label(), refresh=True)
                record = measure_config(config, options, cache)
                results.append(path, record)
                on_record(config, record)
    finally:
        bar.close()
    if isolate:  # child processes wrote the records: count them by their stored status
        summary.counts = _stored_counts(path, todo, machine_id)
    summary.wall_s = time.perf_counter() - start
    return summary


def _stored_counts(path: Path, configs: list[MeasureConfig], machine_id: str) -> Counter:
    keys = {results.config_key(c, machine_id) for c in configs}
    latest = {d["config_key"]: d["status"] for d in results.iter_records(path) if d["config_key"] in keys}
    return Counter(latest.values())
