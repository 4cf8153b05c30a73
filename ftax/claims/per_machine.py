"""The claims decided on each machine alone, (a)-(e) and our (h): one verdict per machine and device.

Each is a function of the visits frame (`ftax.store.dataframe.load(path)`) returning one `ClaimResult` per machine and
device kind: the claim's tests on that machine's visits (one per curve, model or dtype), decided by the one rule of
`ftax.claims.verdicts.decide`, or "not testable here" naming the records the claim lacks. They sit together because
they share that loop over machines (`_per_unit`) and the paired comparisons against a baseline; the claims that
compare two machines are `ftax.claims.across_machines`. Read layer: pure functions; no torch, never measures.
"""
from __future__ import annotations

import json
from typing import Callable

import numpy as np
import pandas as pd

from ftax.read.analysis import FLAT_MAX_RATIO, REGIME_COLUMNS, UNTESTED, framework_bound_regimes
from ftax.claims.verdicts import (CONFIDENCE, ClaimResult, ClaimTest, config_name, decide_per_runtime, machine_units,
                                 of_unit, prepared_visits, rounds_of, same_as, untestable, value_text)
from ftax.read.estimates import curve_keys
from ftax.read.intervals import t_interval
from ftax.read.ratios import paired_ratios, speedups
from ftax.read.text import sig

SMALL_BATCH_GAIN_MIN_RATIO = 1.0
FREE_MAX_FACTOR = 1.25
NOT_FASTER_MIN_RATIO = 0.9
NO_HELP_MIN_RATIO = 0.9

STATIC_BACKENDS = ("torchscript", "compile", "compile-reduce-overhead", "cudagraph", "onnxruntime")
EFFICIENT_MODELS = ("mobilebert", "squeezebert")
CONTROL_MODEL, BASELINE_MODEL = "distilbert", "bert-base"
HALF_DTYPES = ("fp16", "bf16")


def _per_unit(claim: str, frame: pd.DataFrame | None, select: Callable[[pd.DataFrame], pd.DataFrame],
              tests_of: Callable[[pd.DataFrame], list[ClaimTest]], nothing: str, threshold: float,
              phase: str = "forward") -> list[ClaimResult]:
    """One row per machine and device with ok visits (per runtime where the runtimes' tests disagree): its verdict
    from the `select`ed visits, or not testable."""
    visits = prepared_visits(frame, phase)
    units = machine_units(visits)
    visits = select(visits)
    if not units:
        return [untestable(claim, ("", "", ""), f"no records of {nothing}", threshold)]
    out = []
    for unit in units:
        tests = tests_of(of_unit(visits, unit))
        out.extend(decide_per_runtime(claim, unit, tests) if tests else
                   [untestable(claim, unit, f"no records of {nothing} on this machine", threshold)])
    return out


def flat_at_small_batch(visits: pd.DataFrame) -> list[ClaimResult]:
    """(a) Every eager fp32 batch curve (model, sequence length, overrides) with batch 1 and 4.

    Statistic: T(4)/T(1), the paired ratio of batch 4 over batch 1 (T(2)/T(1) reported beside it), from
    `ftax.read.analysis.framework_bound_regimes`, whose rule (`flatness`) every page's framework-bound regime
    follows. Supported when every curve's upper bound <= FLAT_MAX_RATIO, contradicted when some curve's
    lower bound > FLAT_MAX_RATIO (the row reports the steepest such curve), else inconclusive.
    """
    return _per_unit("a", visits, _eager_small_batches, _flat_tests, "eager fp32 batch curves with batch 1 and 4",
                     FLAT_MAX_RATIO)


def _eager_small_batches(v: pd.DataFrame) -> pd.DataFrame:
    return v[(v["backend"] == "eager") & (v["dtype"] == "fp32") & v["batch_size"].isin([1, 2, 4])]


def _flat_tests(mine: pd.DataFrame) -> list[ClaimTest]:
    """T(4)/T(1) <= FLAT_MAX_RATIO per curve, by `ftax.read.analysis.framework_bound_regimes` (claims a and h)."""
    regimes = framework_bound_regimes(mine)
    regimes = regimes[regimes["regime"] != UNTESTED]
    group = [c for c in regimes.columns if c in mine.columns and c not in (*REGIME_COLUMNS, "machine_label")]
    out = []
    for _, row in regimes.iterrows():
        t2 = (row["t2"], row["t2_low"], row["t2_high"])
        note = f" (T(2)/T(1) = {value_text(*t2)})" if pd.notna(row["t2"]) else ""
        rows = mine[same_as(mine, row, group) & mine["batch_size"].isin([1, 2, 4])].index
        out.append(ClaimTest(config_name(row), "T(4)/T(1)", row["t4"], row["t4_low"], row["t4_high"],
                             row["t4_rounds"], FLAT_MAX_RATIO, "at_most", "flat means", frozenset(rows), note))
    return out


def decode_framework_bound(visits: pd.DataFrame) -> list[ClaimResult]:
    """(h) Per-token decode at batch 1 is framework-bound: every eager fp32 decode curve (model, KV cache length,
    overrides) is flat from batch 1 to 4 by claim (a)'s rule (T(4)/T(1) of the one-token step <= FLAT_MAX_RATIO).

    Not the paper's claim (it timed one forward pass): ours, for the regime most inference time is spent in today.
    """
    return _per_unit("h", visits, _eager_small_batches, _flat_tests, "eager fp32 decode steps with batch 1 and 4",
                     FLAT_MAX_RATIO, phase="decode")


def static_gain_at_small_batch(visits: pd.DataFrame) -> list[ClaimResult]:
    """(b) Paired speedups over eager of each static runtime (STATIC_BACKENDS) per curve.

    Statistic: speedup at the curve's smallest batch / speedup at its largest (batches where the
    runtime has a paired speedup). The two speedups come from different pairs, so the interval
    is the conservative one from their intervals: [low_small / high_large, high_small / low_large].
    Supported when every runtime's and curve's lower bound > SMALL_BATCH_GAIN_MIN_RATIO,
    contradicted when some upper bound <= it, else inconclusive; where the runtimes' tests decide differently,
    each runtime gets its own row (`ftax.claims.verdicts.decide_per_runtime`).
    """
    def select(v: pd.DataFrame) -> pd.DataFrame:
        return v[v["backend"].isin(("eager", *STATIC_BACKENDS))]

    def tests(mine: pd.DataFrame) -> list[ClaimTest]:
        if mine.empty or not (mine["backend"] == "eager").any() or (mine["backend"] == "eager").all():
            return []
        s = speedups(mine, confidence=CONFIDENCE)
        group = [c for c in s.columns if c in mine.columns and c not in ("batch_size", "machine_label", "parity_ok")]
        out = []
        for _, curve in s.groupby(group, dropna=False, sort=True):
            curve = curve.sort_values("batch_size")
            if curve["batch_size"].nunique() < 2:
                continue
            small, large = curve.iloc[0], curve.iloc[-1]
            stat = small["speedup"] / large["speedup"]
            low, high = small["speedup_low"] / large["speedup_high"], small["speedup_high"] / large["speedup_low"]
            each = [f"{value_text(x['speedup'], x['speedup_low'], x['speedup_high'])} at batch "
                    f"{int(x['batch_size'])}" for x in (small, large)]
            note = f" (speedup {each[0]}, {each[1]})"
            mask = (same_as(mine, small, [c for c in group if c != "backend"])
                    & mine["backend"].isin(["eager", small["backend"]])
                    & mine["batch_size"].isin([small["batch_size"], large["batch_size"]]))
            out.append(ClaimTest(config_name(small), f"speedup at batch {int(small['batch_size'])} / at batch "
                                 f"{int(large['batch_size'])}", stat, low, high,
                                 int(min(small["rounds"], large["rounds"])), SMALL_BATCH_GAIN_MIN_RATIO, "above",
                                 "gains most at small batch means", frozenset(mine[mask].index), note,
                                 str(small["backend"])))
        return out

    return _per_unit("b", visits, select, tests, "paired speedups of a static runtime at two batch sizes",
                     SMALL_BATCH_GAIN_MIN_RATIO)


def _override(visits: pd.DataFrame, key: str) -> pd.Series:
    if key in visits:
        return pd.to_numeric(visits[key], errors="coerce")
    return pd.to_numeric(visits["overrides"].map(lambda o: json.loads(o or "{}").get(key)), errors="coerce")


def _doubling_factors(grid: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Per round, log2 latency fitted on log2 width and log2 depth: the slopes (log2 factor per doubling)."""
    widths, depths = [], []
    for _, cells in grid.groupby("_round", sort=True):
        cells = cells.groupby(["_width", "_depth"])["median_ms"].median().reset_index()
        if cells["_width"].nunique() < 2 or cells["_depth"].nunique() < 2:
            continue
        design = np.column_stack([np.ones(len(cells)), np.log2(cells["_width"]), np.log2(cells["_depth"])])
        coef = np.linalg.lstsq(design, np.log2(cells["median_ms"].to_numpy(float)), rcond=None)[0]
        widths.append(coef[1])
        depths.append(coef[2])
    return widths, depths


def width_free_depth_not(visits: pd.DataFrame) -> list[ClaimResult]:
    """(c) The width x depth grid (visits with width and depth set) at batch 1.

    Per round, a least-squares fit of log latency on log width and log depth over the grid's cells
    (the round's drift goes into the intercept); the factor per doubling is 2^slope, its interval
    the t-interval over rounds. Two tests per grid: width factor <= FREE_MAX_FACTOR ("nearly
    free") and depth factor > FREE_MAX_FACTOR ("not free"). Supported when both hold with their
    intervals, contradicted when either fails with its interval, else inconclusive.
    """
    def select(v: pd.DataFrame) -> pd.DataFrame:
        if v.empty:
            return v
        v = v.assign(_width=_override(v, "width"), _depth=_override(v, "depth"), _round=rounds_of(v))
        return v[v["_width"].notna() & v["_depth"].notna() & (v["batch_size"] == 1) & v["_round"].notna()]

    def tests(mine: pd.DataFrame) -> list[ClaimTest]:
        if mine.empty:
            return []
        rest = mine["overrides"].map(lambda o: json.dumps({k: x for k, x in json.loads(o or "{}").items()
                                                          if k not in ("width", "depth")}, sort_keys=True))
        out = []
        grids = mine.assign(overrides=rest)
        for _, grid in grids.groupby(curve_keys(grids, ("width", "depth"), series=False), sort=True):
            widths, depths = _doubling_factors(grid)
            if not widths:
                continue
            (w, wl, wh), (d, dl, dh) = (tuple(2.0 ** x for x in t_interval(s, CONFIDENCE)) for s in (widths, depths))
            name = (f"{config_name(grid.iloc[0])} grid (width {sig(grid['_width'].min())}-{sig(grid['_width'].max())}, "
                    f"depth {sig(grid['_depth'].min())}-{sig(grid['_depth'].max())}) at batch 1")
            rows, k = frozenset(grid.index), len(widths)
            out.append(ClaimTest(name, "latency factor per doubling of width", w, wl, wh, k, FREE_MAX_FACTOR,
                                 "at_most", "nearly free means", rows,
                                 f" (per doubling of depth: {value_text(d, dl, dh)})"))
            out.append(ClaimTest(name, "latency factor per doubling of depth", d, dl, dh, k, FREE_MAX_FACTOR,
                                 "above", "not free means", rows, f" (per doubling of width: {value_text(w, wl, wh)})"))
        return out

    return _per_unit("c", visits, select, tests, "a width x depth grid at batch 1", FREE_MAX_FACTOR)


def _latency_ratios(visits: pd.DataFrame, column: str, baseline: object) -> tuple[pd.DataFrame, list[str]]:
    """Latency of each value of `column` over `baseline`'s, paired by round, and the columns of a pair's group."""
    if visits.empty or not (visits[column] == baseline).any() or (visits[column] == baseline).all():
        return pd.DataFrame(), []
    r = paired_ratios(visits, column, baseline, confidence=CONFIDENCE)
    r = r.assign(ratio=1 / r["ratio"], low=1 / r["ratio_high"], high=1 / r["ratio_low"])
    return r, [c for c in r.columns if c in visits.columns and c != column]


def _against_baseline(claim: str, visits: pd.DataFrame, column: str, baseline: str, tested: tuple[str, ...],
                      control: str | None, select: Callable, what: str, meaning: str, threshold: float,
                      nothing: str) -> list[ClaimResult]:
    """Latency of each `tested` value of `column` over `baseline`'s at batch 1, paired by round (claims d, e)."""
    def tests(mine: pd.DataFrame) -> list[ClaimTest]:
        r, group = _latency_ratios(mine, column, baseline)
        out = []
        for _, row in (r[r[column].isin(tested)].iterrows() if len(r) else ()):
            same = same_as(r, row, group)
            ctl = r[same & (r[column] == control)] if control else r.iloc[0:0]
            shown = value_text(*ctl[["ratio", "low", "high"]].iloc[0]) if len(ctl) else ""
            note = (f" ({control}, the control: {shown})" if len(ctl) else
                    (f" (no {control} control measured)" if control else ""))
            rows = mine[same_as(mine, row, group) & mine[column].isin([baseline, row[column]])].index
            out.append(ClaimTest(config_name(row) + " at batch 1", what, row["ratio"], row["low"], row["high"],
                                 row["rounds"], threshold, "at_least", meaning, frozenset(rows), note))
        return out

    return _per_unit(claim, visits, select, tests, nothing, threshold)


def efficient_models_not_faster(visits: pd.DataFrame) -> list[ClaimResult]:
    """(d) MobileBERT and SqueezeBERT latency / BERT-base at batch 1, eager fp32, paired by round.

    Pairs share backend, dtype, device, batch and sequence length. Supported when every lower
    bound >= NOT_FASTER_MIN_RATIO (no more than 10% faster), contradicted when some upper bound is
    below it, else inconclusive. DistilBERT, the control that should be faster, is reported beside.
    """
    def select(v: pd.DataFrame) -> pd.DataFrame:
        return v[(v["backend"] == "eager") & (v["dtype"] == "fp32") & (v["batch_size"] == 1)
                 & v["model"].isin((BASELINE_MODEL, CONTROL_MODEL, *EFFICIENT_MODELS))]

    return _against_baseline("d", visits, "model", BASELINE_MODEL, EFFICIENT_MODELS, CONTROL_MODEL, select,
                             f"latency / {BASELINE_MODEL}", "not faster means", NOT_FASTER_MIN_RATIO,
                             f"{' or '.join(EFFICIENT_MODELS)} with {BASELINE_MODEL} (eager fp32, batch 1)")


def half_precision_no_help(visits: pd.DataFrame) -> list[ClaimResult]:
    """(e) fp16 and bf16 latency / fp32 at batch 1, eager, every model, paired by round.

    Supported when every lower bound >= NO_HELP_MIN_RATIO (no gain of 10% or more), contradicted
    when some upper bound is below it (half precision helps), else inconclusive.
    """
    def select(v: pd.DataFrame) -> pd.DataFrame:
        return v[(v["backend"] == "eager") & (v["batch_size"] == 1) & v["dtype"].isin(("fp32", *HALF_DTYPES))]

    return _against_baseline("e", visits, "dtype", "fp32", HALF_DTYPES, None, select, "latency / fp32",
                             "no help means", NO_HELP_MIN_RATIO, "fp16 or bf16 with fp32 (eager, batch 1)")
