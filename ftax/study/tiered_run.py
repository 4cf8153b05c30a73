"""Run a sweep's priority tiers in order under one deadline, holding the measuring lock across them.

A tiered run (`ftax sweep --budget-s`, the `gpu-reference` study) fits a GPU lease: each tier is planned on the
time left (`plan.estimate`) and swept once (`studies.measure_grids`) with the deadline handed down, so no visit
starts past it and every finished one is stored; an interrupted run has stored the most important records and a
rerun resumes the rest (`plan.visits_left`). Planning alone lives in `plan`; this module is the one that measures.
"""
from __future__ import annotations

import time
from typing import Sequence

from ftax.measure import measure_lock
from ftax.store import jsonl, resume
from ftax.study import studies
from ftax.sweep import rounds as sweep
from ftax.sweep.grids import Grid, study_configs
from ftax.plan.schedule import DEFAULT_BUDGET_S, check_counts, estimate, tiers, visits_left
from ftax.plan.cost_fit import calibration_for


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
