"""The paper's claims as verdicts on the records: supported, contradicted, inconclusive or not testable here.

Fernandez et al., "The Framework Tax: Disparities Between Inference Efficiency in NLP Research
and Deployment" (EMNLP 2023) conclude (a)-(g) of `CLAIMS` from 2022 GPUs and CPUs; (h) is ours, the same
question asked of an LLM's decode step (page 09). Each claim
here is a function of the visits frame (`ftax.results.load(path)`) that
returns one `ClaimResult` per machine and device (per pair of them for (f) and (g)): the
statistic that decides, its interval, the threshold it is held to, and one sentence saying what
was compared. Comparisons are paired within rounds where the data allows (`ftax.estimates`), so a
machine's drift cancels; a comparison without an interval (records from before rounds, or one
round) is `inconclusive`: a point estimate alone decides nothing.

Most claims are universal ("latency is flat at small batch"), so one rule aggregates the tests
of a machine (one per curve, model or dtype): `contradicted` when some test's interval lies on
the wrong side of the threshold, `supported` when every test's lies on the right side, else
`inconclusive`; the row reports the test that decides (the most contradicting one, or the one
closest to breaking the claim). Read layer: pure functions; no torch, never measures.

Why one module of ~600 lines (over the ~350 of ARCHITECTURE's habit): the eight rules share one
decision procedure (`_decide`) and one row shape, and a reader checking the verdict table needs
every rule and threshold side by side; split by claim, each file would be a few dozen lines that
import the same private helpers. Split it when a claim gains a second rule.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats as scistats

from ftax.analysis import (FLAT_MAX_RATIO, REGIME_COLUMNS, UNTESTED, batch_ratios, flat_regime_end,
                           framework_bound_regimes)
from ftax.estimates import (SERIES_COLUMNS, curve_keys, estimates, paired_ratios, require_visits, speedups,
                            t_interval, with_format_version)
from ftax.text import plural, sig

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE = "supported", "contradicted", "inconclusive", "not testable here"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE)
NO_INTERVAL = "one round: no between-run interval"
CONFIDENCE = 0.95

SMALL_BATCH_GAIN_MIN_RATIO = 1.0
FREE_MAX_FACTOR = 1.25
NOT_FASTER_MIN_RATIO = 0.9
NO_HELP_MIN_RATIO = 0.9
LATER_INFLECTION_MIN_RATIO = 1.0
TAX_GROWTH_MIN_SHARE_DIFF = 0.0
# claim -> (the statistic, the threshold, its reason in one line): what the claims page states.
THRESHOLDS: dict[str, tuple[str, float, str]] = {
    "a": ("T(4)/T(1) <=", FLAT_MAX_RATIO, "within 25%: \"flat\" as the paper's figures show it (4x the work, a quarter "
          "more time); the same rule decides every page's framework-bound regime (`ftax.analysis`)"),
    "b": ("speedup at the smallest batch / at the largest >", SMALL_BATCH_GAIN_MIN_RATIO,
          "any excess is \"most at small batch\""),
    "c": (f"latency factor per doubling of width <= {FREE_MAX_FACTOR:g} and of depth >", FREE_MAX_FACTOR,
          "within 25% is \"nearly free\", as flat in (a)"),
    "d": ("latency / BERT-base >=", NOT_FASTER_MIN_RATIO, "within 10% of BERT-base (or slower) is no practical gain"),
    "e": ("fp16 or bf16 latency / fp32 >=", NO_HELP_MIN_RATIO, "a gain under 10% does not help"),
    "f": ("inflection batch on the faster device / on the slower >", LATER_INFLECTION_MIN_RATIO,
          "any later inflection moves it up"),
    "g": ("overhead share on the faster device - on the slower (share points) >", TAX_GROWTH_MIN_SHARE_DIFF,
          "any increase is growth"),
    "h": ("decode step T(4)/T(1) <=", FLAT_MAX_RATIO,
          "claim (a)'s rule, applied to one token's step over the KV cache"),
}

STATIC_BACKENDS = ("torchscript", "compile", "compile-reduce-overhead", "cudagraph", "onnxruntime")
EFFICIENT_MODELS = ("mobilebert", "squeezebert")
CONTROL_MODEL, BASELINE_MODEL = "distilbert", "bert-base"
HALF_DTYPES = ("fp16", "bf16")

CLAIMS: dict[str, str] = {
    "a": "At small batch, eager inference is framework-bound: latency stays nearly flat as the batch grows, until "
         "an inflection past which it grows with the work.",
    "b": "Static and compiled runtimes (TorchScript, torch.compile, CUDA graphs, ONNX Runtime) cut latency most at "
         "small batch, and their gains shrink as the batch grows and the model becomes compute-bound.",
    "c": "While framework-bound, a wider model costs almost no extra latency, while a deeper one does (each layer "
         "adds operators to launch).",
    "d": "MobileBERT and SqueezeBERT, with fewer FLOPs but more or costlier operators, are not faster than BERT-base "
         "at batch 1, while DistilBERT, with fewer layers, is.",
    "e": "Half precision (FP16/BF16) does not reduce latency while a model is framework-bound; it helps only past "
         "the inflection.",
    "f": "Faster hardware stays framework-bound up to larger batches: the inflection batch moves up.",
    "g": "The framework tax grows as hardware gets faster: overhead is a larger share of latency on the faster device.",
    "h": "(Not the paper's: our extension to LLM decoding.) One eager decode step per token over a KV cache is "
         "framework-bound at batch 1: its latency stays nearly flat from batch 1 to 4, by claim (a)'s rule.",
}
CLAIM_TITLES: dict[str, str] = {
    "a": "eager latency is flat at small batch", "b": "static runtimes gain most at small batch",
    "c": "width is nearly free, depth is not", "d": "MobileBERT and SqueezeBERT are not faster than BERT-base",
    "e": "FP16/BF16 does not help at batch 1", "f": "faster hardware moves the inflection batch up",
    "g": "the tax grows on faster hardware",
    "h": "per-token decode is framework-bound at batch 1",
}
COLUMNS = ("claim", "machine_id", "verdict", "statistic", "low", "high", "threshold", "why", "records", "device",
           "machine_label")
_NEEDED = ("model", "backend", "dtype", "device", "batch_size", "seq_len", "machine_id", "median_ms")
_OPERATOR = {"at_most": "<=", "above": ">", "at_least": ">="}


@dataclass(frozen=True)
class ClaimResult:
    """One verdict: `claim` (letter) on `machine_id` and `device` ("+"-joined for the pair (f)/(g) compare).

    `statistic` with its interval `low`/`high` (NaN: no interval), held to `threshold`; `why` says what
    was compared, on what, with the number; `records` counts the visits the verdict used.
    """

    claim: str
    machine_id: str
    verdict: str
    statistic: float
    low: float
    high: float
    threshold: float
    why: str
    records: int
    device: str = ""
    machine_label: str = ""


@dataclass(frozen=True)
class _Test:
    """One curve's (model's, dtype's, pair's) statistic held to a threshold in direction `holds`."""

    name: str
    what: str
    statistic: float
    low: float
    high: float
    rounds: int
    threshold: float
    holds: str
    meaning: str
    rows: frozenset = field(default_factory=frozenset)
    note: str = ""

    def verdict(self) -> str:
        if not _has_interval(self.low, self.high):
            return INCONCLUSIVE
        t = self.threshold
        good, bad = {"at_most": (self.high <= t, self.low > t), "above": (self.low > t, self.high <= t),
                     "at_least": (self.low >= t, self.high < t)}[self.holds]
        return SUPPORTED if good else CONTRADICTED if bad else INCONCLUSIVE

    def breaking(self) -> float:
        """How far the point lies on the claim-breaking side of the threshold (negative: on the claim's side)."""
        return self.statistic - self.threshold if self.holds == "at_most" else self.threshold - self.statistic

    def why(self) -> str:
        return (f"{self.name}: {self.what} = {_value(self.statistic, self.low, self.high, self.rounds)}{self.note}; "
                f"{self.meaning} {_OPERATOR[self.holds]} {sig(self.threshold)}")


# --- shared pieces ---------------------------------------------------------------------------------

def _has_interval(low: float, high: float) -> bool:
    return low is not None and high is not None and not (math.isnan(low) or math.isnan(high))


def _num(x: float) -> str:
    return "inf" if x == math.inf else sig(x)


def _value(statistic: float, low: float, high: float, rounds: int | None = None) -> str:
    """'1.62 [1.51, 1.74], 3 rounds', or '1.62 (one round: no between-run interval)'; without `rounds`
    (a number beside the deciding one) '1.62 [1.51, 1.74]' or '1.62'."""
    if not _has_interval(low, high):
        return f"{_num(statistic)} ({NO_INTERVAL})" if rounds is not None else _num(statistic)
    return f"{_num(statistic)} [{_num(low)}, {_num(high)}]" + (f", {plural(rounds, 'round')}" if rounds else "")


def _prepared(frame: pd.DataFrame | None, phase: str = "forward") -> pd.DataFrame:
    """Ok visits of `phase` with a positive median, `overrides` filled and `_kind` (cpu, cuda); empty when columns
    lack. Records without a phase are forward (written before phases existed). Raises on a frame that is not the
    visits (`ftax.estimates.require_visits`): the newest visit per config would decide without intervals."""
    if frame is not None:
        require_visits(frame, "the claims")
    if frame is None or frame.empty or any(c not in frame for c in _NEEDED):
        return pd.DataFrame(columns=[*_NEEDED, "overrides", "_kind", "machine_label"])
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    phases = ok["phase"].fillna("forward") if "phase" in ok else pd.Series("forward", index=ok.index)
    ok = ok[phases == phase]  # the paper's claims (a)-(g) are about one forward pass, (h) about a decode step
    ok = ok.assign(median_ms=pd.to_numeric(ok["median_ms"], errors="coerce"))
    ok = with_format_version(ok[ok["median_ms"] > 0])
    ok["overrides"] = ok["overrides"].fillna("{}") if "overrides" in ok else "{}"
    ok["_kind"] = ok["device"].astype(str).str.split(":").str[0]
    if "machine_label" not in ok:
        ok["machine_label"] = ok["machine_id"]
    return ok.reset_index(drop=True)


def _units(visits: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(machine_id, device kind, label) of every machine and device in `visits`, sorted."""
    out = []
    for (mid, kind), g in visits.groupby(["machine_id", "_kind"], sort=True):
        labels = g["machine_label"].dropna()
        out.append((str(mid), str(kind), str(labels.mode().iloc[0]) if len(labels) else f"{mid} ({kind})"))
    return out


def _mine(visits: pd.DataFrame, unit: tuple[str, str, str]) -> pd.DataFrame:
    return visits[(visits["machine_id"] == unit[0]) & (visits["_kind"] == unit[1])]


def _same(visits: pd.DataFrame, row: Mapping, columns: list[str]) -> pd.Series:
    """Rows of `visits` equal to `row` in `columns` (missing equals missing)."""
    mask = pd.Series(True, index=visits.index)
    for c in columns:
        value = row[c]
        missing = value is None or (not isinstance(value, str) and pd.isna(value))
        mask &= visits[c].isna() if missing else (visits[c] == value)
    return mask


def _name(row: Mapping) -> str:
    """'bert-tiny eager fp32 seq 128', with non-default overrides ('width 256 depth 4')."""
    parts = [str(row["model"]), str(row["backend"]), str(row["dtype"]), f"seq {int(row['seq_len'])}"]
    extra = json.loads(row.get("overrides") or "{}")
    return " ".join(parts + [f"{k} {v}" for k, v in sorted(extra.items())])


def _latency_ratios(visits: pd.DataFrame, column: str, baseline: object) -> tuple[pd.DataFrame, list[str]]:
    """Latency of each value of `column` over `baseline`'s, paired by round, and the columns of a pair's group."""
    if visits.empty or not (visits[column] == baseline).any() or (visits[column] == baseline).all():
        return pd.DataFrame(), []
    r = paired_ratios(visits, column, baseline, confidence=CONFIDENCE)
    r = r.assign(ratio=1 / r["ratio"], low=1 / r["ratio_high"], high=1 / r["ratio_low"])
    return r, [c for c in r.columns if c in visits.columns and c != column]


def _rounds_of(visits: pd.DataFrame) -> pd.Series:
    """Round id per visit; visits without a round (old records) are pooled as one round: no interval."""
    r = pd.to_numeric(visits["round"], errors="coerce") if "round" in visits else pd.Series(np.nan, visits.index)
    return r.fillna(-1) if r.isna().all() else r


def _decide(claim: str, unit: tuple[str, str, str], tests: list[_Test]) -> ClaimResult:
    """The universal rule (module docstring) over one machine's tests; the row reports the deciding test."""
    verdicts = [t.verdict() for t in tests]
    if CONTRADICTED in verdicts:
        verdict, pool = CONTRADICTED, [t for t, v in zip(tests, verdicts) if v == CONTRADICTED]
    elif all(v == SUPPORTED for v in verdicts):
        verdict, pool = SUPPORTED, tests
    else:
        undecided = [t for t, v in zip(tests, verdicts) if v == INCONCLUSIVE]
        verdict, pool = INCONCLUSIVE, [t for t in undecided if _has_interval(t.low, t.high)] or undecided
    chosen = max(pool, key=lambda t: t.breaking())
    why = chosen.why() + (f"; the deciding one of {len(tests)} tests" if len(tests) > 1 else "")
    rows = frozenset().union(*(t.rows for t in tests))
    return ClaimResult(claim, unit[0], verdict, float(chosen.statistic), float(chosen.low), float(chosen.high),
                       float(chosen.threshold), why, len(rows), unit[1], unit[2])


def _untestable(claim: str, unit: tuple[str, str, str], why: str, threshold: float) -> ClaimResult:
    return ClaimResult(claim, unit[0], NOT_TESTABLE, math.nan, math.nan, math.nan, threshold, why, 0, unit[1], unit[2])


def _per_unit(claim: str, frame: pd.DataFrame | None, select: Callable[[pd.DataFrame], pd.DataFrame],
              tests_of: Callable[[pd.DataFrame], list[_Test]], nothing: str, threshold: float,
              phase: str = "forward") -> list[ClaimResult]:
    """One row per machine and device with ok visits: its verdict from the `select`ed visits, or not testable."""
    visits = _prepared(frame, phase)
    units = _units(visits)
    visits = select(visits)
    if not units:
        return [_untestable(claim, ("", "", ""), f"no records of {nothing}", threshold)]
    out = []
    for unit in units:
        tests = tests_of(_mine(visits, unit))
        out.append(_decide(claim, unit, tests) if tests else
                   _untestable(claim, unit, f"no records of {nothing} on this machine", threshold))
    return out


# --- (a)-(e): one verdict per machine and device ----------------------------------------------------

def flat_at_small_batch(visits: pd.DataFrame) -> list[ClaimResult]:
    """(a) Every eager fp32 batch curve (model, sequence length, overrides) with batch 1 and 4.

    Statistic: T(4)/T(1), the paired ratio of batch 4 over batch 1 (T(2)/T(1) reported beside it), from
    `ftax.analysis.framework_bound_regimes`, whose rule (`flatness`) every page's framework-bound regime
    follows. Supported when every curve's upper bound <= FLAT_MAX_RATIO, contradicted when some curve's
    lower bound > FLAT_MAX_RATIO (the row reports the steepest such curve), else inconclusive.
    """
    return _per_unit("a", visits, _eager_small_batches, _flat_tests, "eager fp32 batch curves with batch 1 and 4",
                     FLAT_MAX_RATIO)


def _eager_small_batches(v: pd.DataFrame) -> pd.DataFrame:
    return v[(v["backend"] == "eager") & (v["dtype"] == "fp32") & v["batch_size"].isin([1, 2, 4])]


def _flat_tests(mine: pd.DataFrame) -> list[_Test]:
    """T(4)/T(1) <= FLAT_MAX_RATIO per curve, by `ftax.analysis.framework_bound_regimes` (claims a and h)."""
    regimes = framework_bound_regimes(mine)
    regimes = regimes[regimes["regime"] != UNTESTED]
    group = [c for c in regimes.columns if c in mine.columns and c not in (*REGIME_COLUMNS, "machine_label")]
    out = []
    for _, row in regimes.iterrows():
        note = f" (T(2)/T(1) = {_value(row['t2'], row['t2_low'], row['t2_high'])})" if pd.notna(row["t2"]) else ""
        rows = mine[_same(mine, row, group) & mine["batch_size"].isin([1, 2, 4])].index
        out.append(_Test(_name(row), "T(4)/T(1)", row["t4"], row["t4_low"], row["t4_high"], row["t4_rounds"],
                         FLAT_MAX_RATIO, "at_most", "flat means", frozenset(rows), note))
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
    contradicted when some upper bound <= it, else inconclusive.
    """
    def select(v: pd.DataFrame) -> pd.DataFrame:
        return v[v["backend"].isin(("eager", *STATIC_BACKENDS))]

    def tests(mine: pd.DataFrame) -> list[_Test]:
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
            each = [f"{_value(x['speedup'], x['speedup_low'], x['speedup_high'])} at batch {int(x['batch_size'])}"
                    for x in (small, large)]
            note = f" (speedup {each[0]}, {each[1]})"
            mask = (_same(mine, small, [c for c in group if c != "backend"])
                    & mine["backend"].isin(["eager", small["backend"]])
                    & mine["batch_size"].isin([small["batch_size"], large["batch_size"]]))
            out.append(_Test(_name(small), f"speedup at batch {int(small['batch_size'])} / at batch "
                             f"{int(large['batch_size'])}", stat, low, high, int(min(small["rounds"], large["rounds"])),
                             SMALL_BATCH_GAIN_MIN_RATIO, "above", "gains most at small batch means",
                             frozenset(mine[mask].index), note))
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
        v = v.assign(_width=_override(v, "width"), _depth=_override(v, "depth"), _round=_rounds_of(v))
        return v[v["_width"].notna() & v["_depth"].notna() & (v["batch_size"] == 1) & v["_round"].notna()]

    def tests(mine: pd.DataFrame) -> list[_Test]:
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
            name = (f"{_name(grid.iloc[0])} grid (width {sig(grid['_width'].min())}-{sig(grid['_width'].max())}, "
                    f"depth {sig(grid['_depth'].min())}-{sig(grid['_depth'].max())}) at batch 1")
            rows, k = frozenset(grid.index), len(widths)
            out.append(_Test(name, "latency factor per doubling of width", w, wl, wh, k, FREE_MAX_FACTOR, "at_most",
                             "nearly free means", rows, f" (per doubling of depth: {_value(d, dl, dh)})"))
            out.append(_Test(name, "latency factor per doubling of depth", d, dl, dh, k, FREE_MAX_FACTOR, "above",
                             "not free means", rows, f" (per doubling of width: {_value(w, wl, wh)})"))
        return out

    return _per_unit("c", visits, select, tests, "a width x depth grid at batch 1", FREE_MAX_FACTOR)


def _against_baseline(claim: str, visits: pd.DataFrame, column: str, baseline: str, tested: tuple[str, ...],
                      control: str | None, select: Callable, what: str, meaning: str, threshold: float,
                      nothing: str) -> list[ClaimResult]:
    """Latency of each `tested` value of `column` over `baseline`'s at batch 1, paired by round (claims d, e)."""
    def tests(mine: pd.DataFrame) -> list[_Test]:
        r, group = _latency_ratios(mine, column, baseline)
        out = []
        for _, row in (r[r[column].isin(tested)].iterrows() if len(r) else ()):
            same = _same(r, row, group)
            ctl = r[same & (r[column] == control)] if control else r.iloc[0:0]
            shown = _value(*ctl[["ratio", "low", "high"]].iloc[0]) if len(ctl) else ""
            note = (f" ({control}, the control: {shown})" if len(ctl) else
                    (f" (no {control} control measured)" if control else ""))
            rows = mine[_same(mine, row, group) & mine[column].isin([baseline, row[column]])].index
            out.append(_Test(_name(row) + " at batch 1", what, row["ratio"], row["low"], row["high"], row["rounds"],
                             threshold, "at_least", meaning, frozenset(rows), note))
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


# --- (f), (g): machines and devices compared ---------------------------------------------------------

_SERIES = (*SERIES_COLUMNS, "rule")  # the series `ftax.estimates` keeps apart: the same rule as the pages
_CURVE = ["model", "seq_len", "overrides"]


def _one_series(visits: pd.DataFrame) -> pd.DataFrame:
    """Per machine, device and config curve, the visits of one software series (the one with the most
    visits): a curve compared across machines is never pooled over two software stacks."""
    columns = [c for c in _SERIES if c in visits]
    if visits.empty or not columns:
        return visits
    series = pd.Series([repr(t) for t in visits[columns].itertuples(index=False, name=None)], index=visits.index)
    keep = []
    for _, g in series.groupby([visits[c] for c in ("machine_id", "_kind", "backend", "dtype", *_CURVE)], sort=True):
        keep.extend(g.index[g == g.value_counts().index[0]])
    return visits.loc[sorted(keep)]


def _latencies(eager: pd.DataFrame) -> dict[tuple, dict[float, float]]:
    """Per curve (model, seq, overrides): batch -> estimated eager fp32 latency, to order machines by speed."""
    if eager.empty:
        return {}
    est = estimates(eager, CONFIDENCE)
    return {key: dict(zip(g["batch_size"].astype(float), g["estimate_ms"])) for key, g in est.groupby(_CURVE)}


def _joined(units: list[tuple[str, str, str]]) -> tuple[str, str, str]:
    return ("+".join(dict.fromkeys(u[0] for u in units)), "+".join(u[1] for u in units),
            " + ".join(u[2] for u in units))


def _across_units(claim: str, frame: pd.DataFrame | None, profile_of: Callable[[pd.DataFrame], dict],
                  compare: Callable, nothing: str, threshold: float) -> list[ClaimResult]:
    """Each pair of machines (devices) with a profile of the same eager fp32 curve, compared faster vs slower.

    Faster = lower estimated latency at the largest batch both measured of that curve.
    """
    visits = _prepared(frame)
    all_units = _units(visits)
    eager = _one_series(visits[(visits["backend"] == "eager") & (visits["dtype"] == "fp32")])
    profiles, speeds = {}, {}
    for unit in all_units:
        profile = profile_of(_mine(eager, unit))
        if profile:
            profiles[unit], speeds[unit] = profile, _latencies(_mine(eager, unit))
    units = list(profiles)
    if len(units) < 2:
        shown = _joined(units or all_units)
        where = shown[2] or "no machine"
        return [_untestable(claim, shown, f"{plural(len(units), 'machine')} with {nothing} ({where}): the claim "
                            "compares two machines or devices", threshold)]
    out = []
    for pair in itertools.combinations(units, 2):
        tests = []
        for key in sorted(set(profiles[pair[0]]) & set(profiles[pair[1]])):
            common = set(speeds[pair[0]].get(key, {})) & set(speeds[pair[1]].get(key, {}))
            if not common:
                continue
            b = max(common)
            fast, slow = sorted(pair, key=lambda u: speeds[u][key][b])
            speed = (f"; faster at batch {int(b)}: {sig(speeds[fast][key][b])} vs {sig(speeds[slow][key][b])} ms")
            tests.append(compare(key, (fast, profiles[fast][key]), (slow, profiles[slow][key]), speed))
        if tests:
            out.append(_decide(claim, _joined(list(pair)), tests))
    return out or [_untestable(claim, _joined(units), f"no {nothing} of one model on two machines", threshold)]


def _curve_name(key: tuple) -> str:
    return _name({"model": key[0], "backend": "eager", "dtype": "fp32", "seq_len": key[1], "overrides": key[2]})


def _inflection_text(point: float, largest: float) -> str:
    return f"beyond batch {int(largest)}" if point > largest else f"batch {int(point)}"


def faster_hardware_later_inflection(visits: pd.DataFrame) -> list[ClaimResult]:
    """(f) Eager fp32 batch curves of one model (sequence length, overrides) on >= 2 machines or devices.

    Per machine, the inflection batch is the first batch whose paired T(b)/T(1) lower bound exceeds
    FLAT_MAX_RATIO, the flat of claim a (`ftax.analysis.flat_regime_end`, the one definition of the
    inflection, which also gives its range). Statistic:
    inflection of the faster device / of the slower, with the interval [low_fast / high_slow,
    high_fast / low_slow].
    Supported when every common curve's lower bound > LATER_INFLECTION_MIN_RATIO, contradicted when
    some upper bound <= it, else inconclusive. Fewer than 2 machines: not testable here.
    """
    def profile_of(eager: pd.DataFrame) -> dict:
        r = batch_ratios(eager)
        if r.empty:
            return {}
        group = [c for c in r.columns if c in eager.columns and c != "batch_size"]
        return {key: (flat_regime_end(g), frozenset(eager[_same(eager, g.iloc[0], group)].index))
                for key, g in r.groupby(_CURVE, sort=True)}

    def compare(key: tuple, fast: tuple, slow: tuple, speed: str) -> _Test:
        (funit, ((fp, fl, fh, fk, fb), frows)), (sunit, ((sp, sl, sh, sk, sb), srows)) = fast, slow
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = np.float64(fl) / np.float64(sh), np.float64(fh) / np.float64(sl)
        bound = "lower bound" if _has_interval(low, high) else "ratio"
        note = (f" ({_inflection_text(fp, fb)} vs {_inflection_text(sp, sb)}, the first batch whose T(b)/T(1) {bound} "
                f"> {sig(FLAT_MAX_RATIO)}{speed})")
        return _Test(_curve_name(key), f"inflection batch on {funit[2]} (faster) / on {sunit[2]}", fp / sp,
                     float(low), float(high), min(fk, sk), LATER_INFLECTION_MIN_RATIO, "above", "moves up means",
                     frows | srows, note)

    return _across_units("f", visits, profile_of, compare, "eager fp32 batch curves", LATER_INFLECTION_MIN_RATIO)


def _difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """median(a) - median(b) with Welch's t-interval on the difference of means (the two machines' rounds
    are independent), widened to hold the point; NaN with fewer than 2 rounds on either side."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    point = float(np.median(x) - np.median(y))
    if len(x) < 2 or len(y) < 2:
        return point, math.nan, math.nan
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    mean, se = x.mean() - y.mean(), math.sqrt(vx + vy)
    if se == 0:
        return point, min(mean, point), max(mean, point)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1))
    half = scistats.t.ppf((1 + CONFIDENCE) / 2, df) * se
    return point, min(mean - half, point), max(mean + half, point)


def tax_grows_on_faster_hardware(visits: pd.DataFrame) -> list[ClaimResult]:
    """(g) Overhead share (`decomposition_overhead_share`) at batch 1, eager fp32, on >= 2 machines or devices.

    Per machine and curve, one share per round (the median of the round's visits). Statistic: share on
    the faster device - share on the slower (share points), Welch's interval over the two sets of
    rounds. Supported when every common curve's lower bound > TAX_GROWTH_MIN_SHARE_DIFF, contradicted
    when some upper bound <= it, else inconclusive. Busy time is measured differently on a CPU and a GPU
    (`decomposition_method`); `why` names both. Fewer than 2 machines: not testable here.
    """
    def profile_of(eager: pd.DataFrame) -> dict:
        if "decomposition_overhead_share" not in eager:
            return {}
        share = pd.to_numeric(eager["decomposition_overhead_share"], errors="coerce")
        rows = eager[(eager["batch_size"] == 1) & share.notna()].assign(_share=share, _round=_rounds_of(eager))
        out = {}
        for key, g in rows.groupby(_CURVE, sort=True):
            methods = g["decomposition_method"].dropna().unique() if "decomposition_method" in g else []
            out[key] = (g.groupby("_round")["_share"].median().tolist(), frozenset(g.index), "/".join(methods))
        return out

    def compare(key: tuple, fast: tuple, slow: tuple, speed: str) -> _Test:
        (funit, (fs, frows, fm)), (sunit, (ss, srows, sm)) = fast, slow
        point, low, high = _difference(fs, ss)
        shares = [_value(*t_interval(s, CONFIDENCE)) for s in (fs, ss)]
        note = f" (shares {shares[0]} vs {shares[1]}; busy time by {fm or '?'} vs {sm or '?'}{speed})"
        return _Test(_curve_name(key) + " at batch 1", f"overhead share on {funit[2]} (faster) - on {sunit[2]}",
                     point, low, high, min(len(fs), len(ss)), TAX_GROWTH_MIN_SHARE_DIFF, "above", "grows means",
                     frows | srows, note)

    return _across_units("g", visits, profile_of, compare, "overhead shares at batch 1", TAX_GROWTH_MIN_SHARE_DIFF)


# --- the table and its sentences ---------------------------------------------------------------------

CLAIM_FUNCTIONS: dict[str, Callable[[pd.DataFrame], list[ClaimResult]]] = {
    "a": flat_at_small_batch, "b": static_gain_at_small_batch, "c": width_free_depth_not,
    "d": efficient_models_not_faster, "e": half_precision_no_help, "f": faster_hardware_later_inflection,
    "g": tax_grows_on_faster_hardware, "h": decode_framework_bound,
}


def evaluate(frame: pd.DataFrame | None) -> pd.DataFrame:
    """One row per claim and machine (device; pair of them for f, g) with COLUMNS from the visits
    (`ftax.results.load`); never raises on missing data: a claim without the records it needs is one "not testable
    here" row saying which records it lacks. A frame that is not the visits (the newest visit per config, config
    rows) raises ValueError instead: its verdicts would lack the rounds that give them intervals."""
    rows = [asdict(result) for claim in CLAIM_FUNCTIONS.values() for result in claim(frame)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdict_sentence(row: Mapping) -> str:
    """'Claim (a), eager latency is flat at small batch: contradicted on AMD EPYC x2 (CPU): bert-tiny ... = 1.62
    [1.51, 1.74], 3 rounds; flat means <= 1.25.' from one row of `evaluate`."""
    where = row.get("machine_label") or row.get("machine_id")
    on = f" on {where}" if where else ""
    return f"Claim ({row['claim']}), {CLAIM_TITLES[row['claim']]}: {row['verdict']}{on}: {row['why']}."
