"""Studies: measuring grids as one sweep (`measure_grids`, `measure_studies`), and `open_study`, what a page calls.

A notebook page makes one call, `open_study(...)`: it validates the page's parameters (papermill passes list
parameters as strings; `ftax.study.page_parameters`), measures what this machine has not stored yet, and loads the
study's records. Which grids a study measures is the catalogue's (`ftax.study.catalogue`); the probes a sweep takes
between its rounds are the probe store's (`ftax.study.probe_store`). The grids are expanded into configs here, once:
the read layer gets each grid's rows as plain data (`GridRows`) and the device already resolved, so a page selects
its rows with pandas and never resolves a device or expands a grid again.
"""
from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ftax.measure import measure_lock
from ftax.measure.devices import resolve_device
from ftax.store import dataframe
from ftax.sweep import rounds as sweep
from ftax.study.catalogue import STUDIES
from ftax.store.env import fingerprint
from ftax.store.errors import InvalidConfigError
from ftax.store.grid_rows import GridRows
from ftax.store.schema import MeasureConfig
from ftax.sweep.grids import Grid, study_configs
from ftax.study.page_parameters import grids_of_studies, page_values, study_grids
from ftax.study.probe_store import any_probe_stored, ensure_probe
from ftax.sweep.profiles import ROUNDS
from ftax.run.runner import MeasureOptions

# The fields of a grid that a page may select rows by when the grid sweeps them (`GridRows.sweeps`).
SWEEPABLE = ("models", "backends", "dtypes", "batch_sizes", "seq_lens", "overrides", "phases")


@measure_lock.holding  # the probes too: no other process measures between a sweep's rounds and its probes
def measure_grids(grids: Sequence[Grid], results_dir: str | Path = "results", rounds: int = 1,
                  options: MeasureOptions | None = None, progress: bool = False, probes: bool = False,
                  costs: Mapping[tuple[MeasureConfig, int], float] | None = None, **sweep_args) -> sweep.SweepSummary:
    """Sweep `grids` as one (`sweep.run_sweep`), under their rule (they share one: a profile's) and `rounds`,
    decomposing the configs of the grids that ask for it: one sweep, not one per grid, so the backends of a
    shape that two grids name are timed together, and a config two grids share is measured once. With
    `probes`, the throughput probe of each device and dtype swept, measured before each round that measures
    anything and after the last, so new curves are read with probes taken between their rounds
    (`curve_probes.probe_for` averages those around a curve); when nothing was measured, only where none is stored
    at all (of any version), so a build from stored records reads them with the probes stored beside them.

    With `progress`, the run says first what it will cost: the planner's estimate of the visits to make and where
    its costs came from (records of this device type, or labelled defaults), printed before anything is measured;
    its per-visit `costs` (or those given) weight the progress bar, and the summary ends with the time taken
    against the estimate."""
    rules = {grid.rule for grid in grids}
    if len(rules) != 1:
        raise InvalidConfigError(f"grids swept together must share one stop rule, got {sorted(r.name for r in rules)}")
    options = replace(options or MeasureOptions(), rule=rules.pop())
    configs = study_configs(grids)
    profiled = configs if options.decompose else study_configs(g for g in grids if g.decompose)
    swept = list(dict.fromkeys((c.device, c.dtype) for c in configs)) if probes else []

    if progress and costs is None:  # the planner only when a person watches: a page's quiet call never loads it
        from ftax.plan.schedule import plan_sweep

        plan = plan_sweep(grids, results_dir, rounds, math.inf, decompose_all=options.decompose,
                          seed=sweep_args.get("seed", 0))
        costs = plan.costs()
        if costs:
            print(f"ftax: {plan.headline()}", file=sys.stderr, flush=True)

    def probe_each(_round: int = 0) -> None:
        for device, dtype in swept:
            ensure_probe(results_dir, device, dtype, max_age_s=0.0)

    summary = sweep.run_sweep(configs, results_dir, replace(options, decompose=False), progress=progress,
                              rounds=rounds, decompose=profiled, before_round=probe_each if swept else None,
                              costs=costs, **sweep_args)
    if sum(summary.counts.values()) > 0:
        probe_each()
    for device, dtype in swept:
        if not any_probe_stored(results_dir, device, dtype):
            ensure_probe(results_dir, device, dtype, max_age_s=0.0)
    return summary


def batch_curve_grids(profile: str = "quick", device: str = "auto", among: Sequence[str] = STUDIES) -> list[Grid]:
    """Every batch curve the studies `among` sweep (their grids of two or more batch sizes: forward passes, and a
    decoder's prompt pass and decode step) with the smallest shape of each forward curve: what page 08 validates
    the tax model on, so that `benchmarks/tax_model_fresh.py --studies` can measure it afresh between probes."""
    curves = [grid for study in among for grid in study_grids(study, profile, device) if len(grid.batch_sizes) > 1]
    shown = {(c.model, c.backend, c.dtype, c.overrides) for c in study_configs(curves)}
    smallest = [grid for grid in study_grids("tax-model", profile, device) if grid.name == "tax-smallest"
                and any(key in shown for key in itertools.product(grid.models, grid.backends, grid.dtypes,
                                                                   grid.overrides))]
    return curves + smallest


def book_grids(studies: Sequence[str] = STUDIES, profile: str = "quick", device: str = "auto") -> list[Grid]:
    """Every grid the case studies of `profile` measure, in the catalogue's order: what the book sweeps."""
    return [grid for study in studies for grid in study_grids(study, profile, device)]


def measure_studies(studies: Sequence[str] = STUDIES, profile: str = "quick", device: str = "auto",
                    results_dir: str | Path = "results", progress: bool = True) -> sweep.SweepSummary:
    """Everything the case studies of `profile` measure, in one sweep: what `ftax book` runs before its pages,
    so a page's comparisons include configs another page measures (page 02's eager is page 01's). A budgeted
    first run sweeps the same grids in priority tiers instead (`tiered_run.run_budgeted`)."""
    return measure_grids(book_grids(studies, profile, device), results_dir, ROUNDS[profile], progress=progress,
                         probes=True)


@dataclass
class StudyData:
    """A case study's records, one row per visit (every round): `frame` (the study's configs, on every
    machine) and `all` (every record). The read layer turns visits into estimates (`ftax.read.estimates`).

    `profile` is the grid profile (smoke/quick/full) the page asked for; `device` the device it asked for,
    resolved on this machine (`auto` -> `cpu` or `cuda`); `grid_rows` each grid's name, swept fields and configs
    (what the read layer selects rows by); `summary` says what this call measured (None when it only read).
    """

    study: str
    profile: str
    grids: list[Grid]
    grid_rows: tuple[GridRows, ...]
    device: str
    machine_id: str
    frame: pd.DataFrame
    all: pd.DataFrame
    summary: sweep.SweepSummary | None
    results_dir: str



def open_study(study: str, profile: str = "quick", device: str = "auto", results_dir: str | Path = "results",
               measure: bool = True, progress: bool = False, **grid_values) -> StudyData:
    """Validate the study's grids, measure what is missing on this machine (if `measure`), load.

    Measuring runs the profile's rounds (`ROUNDS`), interleaved, with torch threads fixed.

    `grid_values` are the page's list parameters (`models`, `backends`, `dtypes`, `batch_sizes`,
    `seq_lens`, `phases`); None keeps the profile's value, anything else changes the grids it names
    (`study_grids`: an axis is replaced where a grid sweeps it, members narrow each grid).
    """
    grids = study_grids(study, profile, device, **page_values(grid_values))
    summary = (measure_grids(grids, results_dir, ROUNDS[profile], progress=progress, probes=study == "tax-model")
               if measure else None)
    return _study_data(study, profile, device, grids, dataframe.load(results_dir), summary, results_dir)


def open_studies(studies: Sequence[str] = STUDIES, profile: str = "quick", device: str = "auto",
                 results_dir: str | Path = "results", **grid_values) -> dict[str, StudyData]:
    """Several studies' stored records under one set of page parameters (the pages that summarize every study:
    the intro and the claims page), loaded once; nothing is measured.

    The parameters follow `study_grids`' rule over the studies' grids taken together: a value that no grid of
    any of them can take is refused, while a study whose grids hold none of the members named is opened with no
    grids (a page then says it has nothing for it), and an axis changes only the grids that sweep it."""
    changed = grids_of_studies(studies, profile, device, page_values(grid_values))
    everything = dataframe.load(results_dir)
    return {s: _study_data(s, profile, device, grids, everything, None, results_dir) for s, grids in changed.items()}


def grid_rows(grids: Sequence[Grid]) -> tuple[GridRows, ...]:
    """Each grid's name, the fields it sweeps and its configs: what the read layer selects a grid's rows by."""
    return tuple(GridRows(g.name, frozenset(f for f in SWEEPABLE if len(getattr(g, f)) > 1),
                          tuple(g.configs())) for g in grids)


def _study_data(study: str, profile: str, device: str, grids: list[Grid], everything: pd.DataFrame,
                summary: sweep.SweepSummary | None, results_dir: str | Path) -> StudyData:
    rows = grid_rows(grids)
    return StudyData(study=study, profile=profile, grids=grids, grid_rows=rows, device=resolve_device(device),
                     machine_id=fingerprint()["machine_id"],
                     frame=dataframe.rows_matching(everything, (c for r in rows for c in r.configs)), all=everything,
                     summary=summary, results_dir=str(results_dir))
