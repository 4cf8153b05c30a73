"""Run a sweep's priority tiers in order under one deadline, holding the measuring lock across them.

A tiered run (`ftax sweep --budget-s`, the `gpu-reference` study) fits a GPU lease: each tier is planned on the
time left (`plan.estimate`) and swept once (`studies.measure_grids`) with the deadline handed down, so no visit
starts past it and every finished one is stored; an interrupted run has stored the most important records and a
rerun resumes the rest (`plan.visits_left`). Planning alone lives in `plan`; this module is the one that measures.
The book's budgeted first run (`run_budgeted`) is the same run over the studies' grids, its tiers closed over
shared shapes (`plan.closed_tiers`), told before (each tier's estimate and where the budget cuts) and after (the
time it took, what was cut, how to measure it).
"""
from __future__ import annotations

import time
from typing import Sequence

from ftax.measure import measure_lock
from ftax.store import jsonl, resume
from ftax.study import studies
from ftax.sweep import rounds as sweep
from ftax.sweep.grids import Grid, study_configs
from ftax.plan.schedule import DEFAULT_BUDGET_S, check_counts, closed_tiers, estimate, plan_sweep, tiers, visits_left
from ftax.plan.cost_fit import calibration_for
from ftax.run.runner import MeasureOptions


@measure_lock.holding  # across every tier, so no other process measures between them
def run_tiers(grids: Sequence[Grid], results_dir, rounds: int, options, budget_s: float = DEFAULT_BUDGET_S,
              calibration_dir="results", progress: bool = True, log=print, clock=None, measure=None,
              **sweep_args) -> sweep.SweepSummary:
    """Measure `grids` in priority tiers with `budget_s` as the deadline of the whole run (its planning included).

    Each tier is planned on the time left (`estimate`: whole, or cut inside in priority order, and the run's first
    tier at least to its first shape) and swept once (`measure`, default `studies.measure_grids`), with the deadline
    passed down (`sweep.run_sweep`: no visit starts past it, every finished one is stored). A tier that finishes
    early gives its time to what follows, its own cut shapes first; no tier starts while an earlier one has visits
    left. Returns the sweeps' summaries as one, `unmeasured` being every visit the deadline left (a rerun resumes
    them). `clock` (default `time.monotonic`, the clock `isolate`'s children read) is for tests."""
    check_counts(rounds, budget_s)
    clock, measure = clock or time.monotonic, measure or studies.measure_grids
    deadline = clock() + budget_s
    cal, env = calibration_for(grids, results_dir, calibration_dir)
    path = jsonl.store_path(results_dir, env["machine_id"])
    configs = study_configs(grids)
    to_make = visits_left(grids, results_dir, rounds, options.decompose)[0]
    total = sweep.SweepSummary(path=path, total=len(configs) * rounds, skipped=len(configs) * rounds - to_make)
    started, named = False, tiers(grids)
    for index, (name, tier_grids) in enumerate(named):
        label = f"tier {index + 1}/{len(named)} {name or '-'}"
        while (left_s := deadline - clock()) > 0:
            stored = resume.best_records(path, key=resume.visit_key)
            tier_plan = estimate(tier_grids, rounds, grids[0].rule, cal, left_s, stored, options.decompose,
                                 sweep_args.get("seed", 0), imported=started, at_least_one=not started)
            if not tier_plan.tiers[0][2] or not tier_plan.kept[0]:
                break
            cut = tier_plan.cut_at is not None
            log(f"ftax: {label}: {len(tier_plan.kept_configs())} configs{', cut by the time left' if cut else ''}, "
                f"estimated {tier_plan.kept_s:.0f} s ({left_s:.0f} s of the {budget_s:g} s budget left)")
            summary = measure(tier_plan.kept[0], results_dir, rounds, options, progress=progress, deadline=deadline,
                              clock=clock, costs=tier_plan.costs(), **sweep_args)
            log(f"ftax: {label}: {summary}")
            started = True
            total.counts, total.wall_s = total.counts + summary.counts, total.wall_s + summary.wall_s
            if not cut or not sum(summary.counts.values()):
                break
        if visits_left(tier_grids, results_dir, rounds, options.decompose)[0]:
            break
    total.unmeasured, configs_left = visits_left(grids, results_dir, rounds, options.decompose)
    if total.unmeasured:
        log(f"ftax: the {budget_s:g} s deadline left {total.unmeasured} visits of {configs_left} configs unmeasured; "
            "a rerun resumes them")
    return total


def run_budgeted(grids: Sequence[Grid], results_dir, rounds: int, budget_s: float, calibration_dir="results",
                 progress: bool = True, log=print, clock=None, measure=None) -> sweep.SweepSummary:
    """The book's sweep of `grids` in priority tiers cut at `budget_s` (`run_tiers`, the probes taken between
    rounds), each grid's tier moved up to the earliest of the grids it shares a shape with (`closed_tiers`). Before
    measuring it logs the plan's tiers, each with its estimate and grids, and where the budget cuts; after, the time
    taken, the tiers and grids left unmeasured, and that a rerun measures them (it resumes: nothing is lost)."""
    grids = closed_tiers(grids)
    clock = clock or time.monotonic
    start = clock()
    plan = plan_sweep(grids, results_dir, rounds, budget_s, calibration_dir)
    log(f"ftax: the first run is budgeted: {budget_s:g} s of measuring (BUDGET=0 make book, or ftax book "
        f"--budget-s 0, measures everything); costs from {plan.calibration.source}")
    for line in plan.tier_lines(grid_names=True):
        log(line)
    if plan.cut_at is not None:
        log(f"ftax: the budget cuts in tier {plan.tiers[plan.cut_at][0]!r}: {plan.kept_s:.0f} s planned up to the cut")
    summary = run_tiers(grids, results_dir, rounds, MeasureOptions(), budget_s, calibration_dir, progress,
                        log=log, clock=clock, measure=measure, probes=True)
    log(closing_line(grids, results_dir, rounds, clock() - start, plan.kept_s))
    return summary


def closing_line(grids: Sequence[Grid], results_dir, rounds: int, seconds: float, planned_s: float) -> str:
    """What a budgeted run did: its time against the plan, and what it left (tiers and grids by name, a grid cut
    inside with its configs left), or that nothing was left."""
    cut: dict[str, list[str]] = {}
    for grid in grids:
        left, configs = visits_left([grid], results_dir, rounds)
        if left:
            total = len(grid.configs())
            cut.setdefault(grid.tier or "-", []).append(grid.name if configs == total else
                                                        f"{grid.name} ({configs} of {total} configs)")
    done = f"ftax: measured in {seconds:.0f} s, planned {planned_s:.0f} s"
    if not cut:
        return f"{done}; nothing was cut: every grid is measured"
    named = "; ".join(f"tier {tier!r}: {', '.join(dict.fromkeys(names))}" for tier, names in cut.items())
    return (f"{done}; cut, to measure later: {named}. Run `make book` (or `ftax book`) again to measure what was cut: "
            "it resumes where this run stopped, and nothing measured is lost; the book is built from what was measured")
