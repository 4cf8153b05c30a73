"""Sweeps: a grid of configs -> records in `results/<machine_id>.jsonl`, resumable, failure-proof.

- Resume: a config already stored (any status) with this software on this host is skipped (`resume.stack`);
  `retry_failed` re-runs the non-ok ones. A sweep that asks for a decomposition re-measures ok records that lack one.
- Failures are rows (see ftax.run.runner); one config never stops the sweep.
- `isolate` runs each model's configs in a child process: a crash in a native library then
  becomes an `error` row for the config in flight, and the sweep goes on with the rest.
- `ftax.sweep.ray_engine` runs the same configs on a Ray cluster (one device per task), with the same
  grouping (`group_key`) and resume rule (`resume.is_done`).
What to sweep (grids, studies, grid files) is `ftax.study.studies`; the `ftax sweep` command is `ftax.cli`.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping, Sequence

from ftax.measure import measure_lock
from ftax.store import jsonl, resume, schema
from ftax.store.env import default_threads, fingerprint
from ftax.store.errors import InvalidConfigError
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions, ModelCache, measure_compared


@dataclass
class SweepSummary:
    path: Path
    total: int
    skipped: int
    counts: Counter = field(default_factory=Counter)
    wall_s: float = 0.0
    unmeasured: int = 0  # visits to make that the deadline left for a later run (which resumes them)
    planned_s: float | None = None  # the planner's estimate of the visits this sweep had to make, if it was given

    def __add__(self, other: "SweepSummary") -> "SweepSummary":
        """Two sweeps' summaries as one (the later one's store path)."""
        planned = None if self.planned_s is None and other.planned_s is None else \
            (self.planned_s or 0.0) + (other.planned_s or 0.0)
        return SweepSummary(path=other.path, total=self.total + other.total, skipped=self.skipped + other.skipped,
                            counts=self.counts + other.counts, wall_s=self.wall_s + other.wall_s,
                            unmeasured=self.unmeasured + other.unmeasured, planned_s=planned)

    def __str__(self) -> str:
        measured = sum(self.counts.values())
        left = f"; the deadline left {self.unmeasured} visits unmeasured" if self.unmeasured else ""
        if measured == 0:
            if self.unmeasured:
                return f"measured nothing: the deadline had passed{left}; records in {self.path}"
            return f"nothing to measure: all {self.total} visits are already in {self.path}"
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        planned = f", planned {self.planned_s:.0f} s" if self.planned_s is not None else ""
        return (f"measured {measured} of {self.total} visits in {self.wall_s:.1f} s{planned} ({by_status}); "
                f"{self.skipped} already stored{left}; records in {self.path}")


def _todo(configs: Sequence[MeasureConfig], stored: dict, machine_id: str, round_: int, options: MeasureOptions,
          retry_failed: bool, stack_now: tuple, profiled: Collection[MeasureConfig]) -> list[MeasureConfig]:
    """Configs without a stored visit in this round under this rule, software and host (or with a failed one, if
    retrying; or ok but without the decomposition asked for)."""
    return [c for c in configs
            if (data := stored.get((schema.config_key(c, machine_id), round_, options.rule.name))) is None
            or not resume.is_done(data, retry_failed, round_ < options.decompose_rounds and c in profiled,
                                  stack_now)]


def group_key(config: MeasureConfig) -> tuple:
    """Configs with the same key share one built model: a sweep visits them back to back."""
    return (config.model, config.dtype, config.overrides, config.device)


def grouped(configs: Iterable[MeasureConfig]) -> list[MeasureConfig]:
    """`configs` without duplicates, each model group (`group_key`) contiguous, groups and configs in
    first-seen order: grids of several studies swept as one keep the backends of a shape together."""
    groups: dict[tuple, list[MeasureConfig]] = {}
    for config in dict.fromkeys(configs):
        groups.setdefault(group_key(config), []).append(config)
    return [c for group in groups.values() for c in group]


def interleaved(configs: Sequence[MeasureConfig], seed: int) -> list[MeasureConfig]:
    """The order of one round: what a page compares sits next to each other in time.

    Model groups (`group_key`) keep their order, so each model is built once a round. Within a group
    the shapes come in a seeded random order, and the backends of one shape back to back, in a
    seeded random order too: a speedup compares visits seconds apart, and no backend is always
    first (or always right after another) in every round. The batch sizes of a curve share the
    group's stretch of time; where one order cannot keep both adjacent, backends win, because the
    speedups are the book's headline.
    """
    rng = random.Random(seed)
    ordered: list[MeasureConfig] = []
    for _, group in groupby(configs, key=group_key):
        shapes: dict[tuple, list[MeasureConfig]] = {}
        for config in group:
            shapes.setdefault((config.seq_len, config.batch_size), []).append(config)
        keys = list(shapes)
        rng.shuffle(keys)
        for key in keys:
            backs = shapes[key]
            rng.shuffle(backs)
            ordered += backs
    return ordered


def compared(group: Sequence[MeasureConfig]) -> list[list[MeasureConfig]]:
    """A model group's configs split into what is timed together: the consecutive configs of one shape
    (its backends, back to back in `interleaved` order), measured in alternating blocks."""
    return [list(part) for _, part in groupby(group, key=lambda c: (c.seq_len, c.batch_size))]


def _options_for(together: Sequence[MeasureConfig], options: MeasureOptions, profiled: Collection[MeasureConfig],
                 round_: int) -> MeasureOptions:
    """The options of configs timed together: decomposed (all of them) when one of them is to be profiled."""
    return for_round(replace(options, decompose=any(c in profiled for c in together)), round_)


def for_round(options: MeasureOptions, round_: int) -> MeasureOptions:
    """FLOPs, the profiler's decomposition, parity, memory and energy describe a config, not a visit: only the
    first round takes them (a decomposition profiles several calls, and half precision's parity builds an fp32 twin;
    three rounds would triple that for nothing). The read layer takes them from the visit that has them. The
    decomposition alone may be asked of the first `decompose_rounds` (the ledger's kernel interval)."""
    if round_ == 0:
        return options
    return replace(options, decompose=options.decompose and round_ < options.decompose_rounds, count_flops=False,
                   check_parity=False, resources=False)


def _measure_group(configs: list[MeasureConfig], path: str, options: MeasureOptions, round_: int, seed: int,
                   profiled: frozenset[MeasureConfig], deadline: float | None = None) -> None:
    """Child-process entry of `isolate`: measure and append each config itself, none started past `deadline`
    (`time.monotonic`, one clock for every process of the machine)."""
    cache = ModelCache()
    for together in compared(configs):
        if deadline is not None and time.monotonic() >= deadline:
            return
        for record in measure_compared(together, _options_for(together, options, profiled, round_), cache,
                                       round_=round_, order_seed=seed):
            jsonl.append(path, record)


def _run_isolated(configs: list[MeasureConfig], path: Path, options: MeasureOptions, machine_id: str,
                  round_: int, seed: int, profiled: frozenset[MeasureConfig], on_record,
                  deadline: float | None = None) -> None:
    """Run configs in child processes, restarting after a crash with the configs still missing."""
    ctx = multiprocessing.get_context("spawn")
    remaining = list(configs)

    def visits() -> set:
        return set(resume.best_records(path, key=resume.visit_key))

    while remaining:
        before = visits()
        child = ctx.Process(target=_measure_group, args=(remaining, str(path), options, round_, seed, profiled,
                                                         deadline))
        child.start()
        child.join()
        new = visits() - before
        done = [c for c in remaining if (schema.config_key(c, machine_id), round_, options.rule.name) in new]
        for config in done:
            on_record(config, None)
        remaining = remaining[len(done):]
        if remaining and child.exitcode != 0:
            crashed = remaining.pop(0)
            record = Record(config=crashed, status="error", env=fingerprint(), round=round_, rule=options.rule.name,
                            message=f"worker process died (exit code {child.exitcode}) while measuring this config")
            jsonl.append(path, record)
            on_record(crashed, record)
        elif remaining and deadline is not None and time.monotonic() >= deadline:
            return
        elif remaining:
            raise RuntimeError(f"worker exited cleanly but left {len(remaining)} configs unmeasured")


def progress_weights(visits: Sequence[tuple[MeasureConfig, int]],
                     costs: Mapping[tuple[MeasureConfig, int], float] | None) -> dict[tuple[MeasureConfig, int], int]:
    """What each (config, round) visit moves the progress bar by: its planned seconds, whole (at least 1, so the
    bar reads in plain seconds), a visit the plan did not price at the mean of those it did; 1 each without a plan."""
    if not costs:
        return {visit: 1 for visit in visits}
    priced = [costs[v] for v in visits if v in costs]
    fallback = sum(priced) / len(priced) if priced else 1.0
    return {visit: max(1, round(costs.get(visit, fallback))) for visit in visits}


@measure_lock.holding  # one measuring process per machine; the store is read once the lock is held
def run_sweep(configs: Iterable[MeasureConfig], out_dir: str | Path = "results", options: MeasureOptions | None = None,
              retry_failed: bool = False, isolate: bool = False, progress: bool = True, rounds: int = 1,
              seed: int = 0, decompose: Iterable[MeasureConfig] | None = None,
              before_round: Callable[[int], None] | None = None, deadline: float | None = None,
              clock: Callable[[], float] = time.monotonic,
              costs: Mapping[tuple[MeasureConfig, int], float] | None = None) -> SweepSummary:
    """Measure every config in `rounds` rounds, one record per visit in `<out_dir>/<machine_id>.jsonl`.

    A round visits every config not yet stored for that round, in `interleaved` order (seed
    `seed + round`), each under `options.rule.share(rounds)`: the profile's time budget split over
    the rounds. The backends of one shape are timed together, in alternating blocks (`compared`,
    `runner.measure_compared`), so sweep every grid a page compares in one call (`grouped` puts
    them together). Visits are stored as they finish, so a killed sweep loses at most the one in flight
    and a rerun resumes with the visits still missing. FLOPs, parity and a decomposition are taken in
    round 0 only (`for_round`); the decomposition of the configs in `decompose` (default: all of them
    if `options.decompose`, else none) and of those timed with them. Torch threads are fixed
    (`options.threads`, else `env.default_threads()`) and recorded. Visits stored with other software
    do not count. `before_round(r)` runs before each round that has visits to make (the tax model's throughput
    probe, `studies.measure_grids`: so the machine's speed is read between the rounds it describes).

    `deadline` (a `clock()` reading; `time.monotonic` by default, the clock `isolate`'s children read too): no visit,
    round or probe starts at or after it, so a sweep given a lease's time returns with everything it finished stored
    and passes the deadline by at most the visit in flight; `SweepSummary.unmeasured` counts the visits it left.

    `costs` (the planner's seconds per (config, round), `ftax.plan.schedule`) weight the progress bar: a compile, an
    AOTInductor package or a decomposition moves it by what it costs, not by one visit, so its ETA does not swing
    from minutes to hours as cheap and expensive visits alternate. Without them the bar counts visits.
    """
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise InvalidConfigError(f"rounds must be a positive integer, got {rounds!r}")
    options = options or MeasureOptions()
    options = replace(options, rule=options.rule.share(rounds), threads=options.threads or default_threads())
    configs = grouped(configs)
    profiled = frozenset(configs if decompose is None and options.decompose else decompose or ())
    env = fingerprint()
    machine_id, stack_now = env["machine_id"], resume.stack(env)
    path = jsonl.store_path(out_dir, machine_id)
    stored = resume.best_records(path, key=resume.visit_key)
    plan = [(r, _todo(configs, stored, machine_id, r, options, retry_failed, stack_now, profiled))
            for r in range(rounds)]
    pending = sum(len(todo) for _, todo in plan)
    visits = [(c, r) for r, todo in plan for c in todo]
    weight = progress_weights(visits, costs)
    summary = SweepSummary(path=path, total=len(configs) * rounds, skipped=len(configs) * rounds - pending,
                           planned_s=sum(costs[v] for v in visits if v in costs) if costs else None)
    if not pending:
        return summary
    from tqdm.auto import tqdm

    bar = tqdm(total=sum(weight.values()), desc="ftax sweep", unit="planned s" if costs else "visit",
               disable=not progress, file=sys.stderr)
    start = time.perf_counter()
    current = {"round": 0, "done": 0}  # the round being swept, and visits finished (the bar may count seconds)

    def late() -> bool:  # read before each start: a visit begun in time runs to its end
        return deadline is not None and clock() >= deadline

    def on_record(config: MeasureConfig, record: Record | None) -> None:
        status = record.status if record else "ok*"
        summary.counts[status] += 1
        current["done"] += 1
        bar.set_postfix_str(f"visit {current['done']}/{pending}: {config.label()} -> {status}", refresh=False)
        bar.update(weight.get((config, current["round"]), 0))

    try:
        for round_, todo in plan:
            if late():
                break
            current["round"] = round_
            if before_round and todo:
                before_round(round_)
            for _, group in groupby(interleaved(todo, seed + round_), key=group_key):
                group = list(group)
                if late():
                    break
                if isolate:
                    _run_isolated(group, path, options, machine_id, round_, seed + round_, profiled, on_record,
                                  deadline if clock is time.monotonic else None)
                    continue
                cache = ModelCache()
                for together in compared(group):
                    if late():
                        break
                    bar.set_description(f"ftax sweep, round {round_ + 1}/{rounds}", refresh=False)
                    bar.set_postfix_str(" | ".join(c.label() for c in together), refresh=True)
                    visits = measure_compared(together, _options_for(together, options, profiled, round_), cache,
                                              round_=round_, order_seed=seed + round_)
                    for config, record in zip(together, visits):
                        jsonl.append(path, record)
                        on_record(config, record)
    finally:
        bar.close()
    if isolate:  # child processes wrote the records: count them by their stored status
        summary.counts = _stored_counts(path, [c for _, todo in plan for c in todo], machine_id, options.rule.name)
    summary.wall_s = time.perf_counter() - start
    summary.unmeasured = max(pending - sum(summary.counts.values()), 0)
    return summary


def _stored_counts(path: Path, configs: list[MeasureConfig], machine_id: str, rule: str) -> Counter:
    keys = {schema.config_key(c, machine_id) for c in configs}
    latest = {resume.visit_key(d): d["status"] for d in jsonl.iter_records(path)
              if d["config_key"] in keys and d.get("rule") == rule}
    return Counter(latest.values())
