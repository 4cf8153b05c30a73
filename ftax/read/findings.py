"""Findings: the phrases and tables a page states about latency, computed from the records it shows.

Pure functions from DataFrames (config rows of `ftax.read.estimates.per_config`, whose latency is
`estimate_ms` with `low_ms`/`high_ms`; fits of `ftax.read.analysis`) to short strings or Markdown; the pages
(`ftax.pages`) assemble them into captions and findings, so prose never carries a number typed by hand.
Phrases name only what varies among the rows they describe, and a figure without ok rows gets `no_data`'s
sentence instead of a caption. Rows are selected in `ftax.read.rows`; what a page loaded and how to weigh it
is said by `ftax.read.load_notes`; phrases about the profiler's decomposition are in
`ftax.read.decomposition_findings`.

The latency phrases of every case-study page sit with the interval and verdict wording they share
(`interval_text`, `verdict_note`, `ratio_text`), so that every page words an interval and a verdict the same way.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ftax.read.analysis import FLAT, FLAT_MAX_RATIO, NO_REGIME, NOT_FLAT, UNTESTED
from ftax.read.estimates import curve_columns
from ftax.read.intervals import is_real
from ftax.read.text import plural, sig

NO_INTERVAL = "one round: no between-run interval"


def curves(rows: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per curve of the ok rows; a name mentions only the `by` columns that vary
    (all of them when none does), so one machine's pages do not repeat its name in every phrase."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return []
    shown = [c for c in by if ok[c].nunique() > 1] or list(by)
    return [(_name(tuple(part[c].iloc[0] for c in shown)), part) for _, part in ok.groupby(list(by), sort=True)]


def _name(keys) -> str:
    return " ".join(map(str, keys if isinstance(keys, tuple) else (keys,)))


def ratio_text(ratio: float, low: float | None = None, high: float | None = None, rounds: int = 0,
               digits: int = 2) -> str:
    """'2.1x [1.9, 2.3], 3 rounds' with a between-round interval, '2.1x (one round: no between-run interval)'
    without one (one round, or records measured before rounds). Digits are added (`shown_digits`) where the
    bounds would otherwise print alike: '1.2x [1.2, 1.2]' reads as no uncertainty."""
    digits = shown_digits(low, high, digits)
    return f"{sig(ratio, digits)}x{interval_text(low, high, rounds, digits)}"


def shown_digits(low: float | None, high: float | None, digits: int = 2, most: int = 4) -> int:
    """The fewest significant digits from `digits` (up to `most`) at which two different bounds print apart, and
    neither prints as 1 unless it is 1 (a bound of 1.001 read as 1 would hide that the interval excludes 1)."""
    if is_real(low, high) is None or low == high:
        return digits
    while digits < most and (sig(low, digits) == sig(high, digits)
                             or any(sig(b, digits) == "1" and b != 1 for b in (low, high))):
        digits += 1
    return digits


def interval_text(low: float | None, high: float | None, rounds: int = 0, digits: int = 2) -> str:
    """' [1.9, 2.3], 3 rounds', or ' (one round: no between-run interval)' without an interval."""
    if is_real(low, high) is None:
        return f" ({NO_INTERVAL})"
    digits = shown_digits(low, high, digits)
    return f" [{sig(low, digits)}, {sig(high, digits)}], {plural(int(rounds), 'round')}"


BARELY = 0.02  # an interval whose bound nearest the threshold lies within 2% of it excludes it only barely


def verdict_note(table: pd.DataFrame, low: str, high: str, what: str, threshold: float = 1.0) -> str:
    """Which ratios of `table` have a paired interval that excludes `threshold` (a difference on this machine, in
    the methodology's sense, and no more), which only barely (`BARELY`), and for which the data cannot decide."""
    if table.empty:
        return ""
    verdicts = [is_real(lo, hi, threshold) for lo, hi in zip(table[low], table[high])]
    real, unsure, none = verdicts.count(True), verdicts.count(False), verdicts.count(None)
    if none == len(verdicts):
        return (f"With one round per config there is no between-run interval, so the data cannot decide whether "
                f"these {what} differ from {threshold:g}x.")
    barely = sum(1 for v, lo, hi in zip(verdicts, table[low], table[high])
                 if v and min(abs(lo / threshold - 1), abs(hi / threshold - 1)) < BARELY)
    parts = [f"{real} of {len(verdicts)} {what} have a 95% interval that excludes {threshold:g}x, a difference on "
             f"this machine (see {{doc}}`../methodology`)"
             + (f", {barely} of them barely (a bound within {BARELY:.0%} of {threshold:g}x)" if barely else "")]
    if unsure:
        parts.append(f"for {unsure} the interval contains {threshold:g}x, so the data cannot decide")
    if none:
        parts.append(f"for {none} one round gives no interval, so the data cannot decide")
    return "; ".join(parts) + "."


def _ratio_for(ratios: pd.DataFrame | None, row: pd.Series, x: str) -> pd.Series | None:
    """The paired ratio (`ftax.read.ratios.scaling_ratios`) of the config in `row` against its curve's start."""
    if ratios is None or ratios.empty:
        return None
    match = ratios[ratios[x] == row[x]]
    for column in curve_columns(x, series=False):
        if column in match and column in row and pd.notna(row[column]):
            match = match[match[column] == row[column]]
    return None if match.empty else match.iloc[0]


def scaling_phrases(rows: pd.DataFrame, x: str, by: Sequence[str], ratios: pd.DataFrame | None = None) -> list[str]:
    """'bert-tiny fp32: 64x the batch (1 to 64) costs 3.1x the latency [2.9, 3.3], 3 rounds (0.21 to 0.65 ms)'
    per curve (largest vs smallest `x`). The ratio is the paired one from `ratios` (`ftax.read.ratios.
    scaling_ratios` of the visits) where given, with its interval where it has one (a page then says once,
    with `verdict_note`, that the others have none), else the ratio of the two estimates."""
    noun = "batch" if x == "batch_size" else "sequence length"
    phrases = []
    for name, curve in curves(rows, by):
        curve = curve.sort_values(x)
        if curve[x].nunique() < 2:
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        paired = _ratio_for(ratios, last, x)
        value = paired["ratio"] if paired is not None else last["estimate_ms"] / first["estimate_ms"]
        interval = (interval_text(paired["ratio_low"], paired["ratio_high"], paired["rounds"], 3)
                    if paired is not None and is_real(paired["ratio_low"], paired["ratio_high"]) is not None else "")
        phrases.append(f"{name}: {last[x] / first[x]:g}x the {noun} ({first[x]} to {last[x]}) costs {sig(value, 3)}x "
                       f"the latency{interval} ({sig(first['estimate_ms'])} to {sig(last['estimate_ms'])} ms)")
    return phrases


def latency_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'onnxruntime 0.21 ms [0.2, 0.22]' per curve at one batch size, fastest first (named as in `curves`), with the
    estimate's between-round interval where the rows carry one (`ftax.read.estimates.per_config`)."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)] if not rows.empty else rows
    phrases = []
    for name, part in sorted(curves(ok, by), key=lambda item: item[1]["estimate_ms"].median()):
        low, high = (part[c].median() if c in part else None for c in ("low_ms", "high_ms"))
        bounds = (f" [{sig(low, shown_digits(low, high))}, {sig(high, shown_digits(low, high))}]"
                  if is_real(low, high) is not None else "")
        phrases.append(f"{name} {sig(part['estimate_ms'].median())} ms{bounds}")
    return phrases


def flat_text(fit: pd.Series) -> str:
    """'T(4)/T(1) = 1.62 [1.51, 1.74], 3 rounds' of one curve of `ftax.read.analysis.framework_bound_regimes`."""
    return f"T(4)/T(1) = {ratio_text(fit['t4'], fit['t4_low'], fit['t4_high'], fit['t4_rounds'], 3)}"


def knee_phrases(regimes: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """Per curve of `ftax.read.analysis.framework_bound_regimes`: its framework-bound regime by claim (a)'s rule and
    where it leaves it ('bert-tiny fp32: flat at small batch (T(4)/T(1) = 1.1x [1.0, 1.2], 3 rounds); leaves the
    flat regime at batch 16'), or NO_REGIME and why (T(4)/T(1) above the threshold, or undecided)."""
    limit = sig(FLAT_MAX_RATIO)
    phrases = []
    for name, fit in ((n, part.iloc[0]) for n, part in curves(regimes, by)):
        regime = fit["regime"]
        if regime == FLAT and fit["reached"]:
            point, low = fit["inflection_batch"], fit["inflection_low"]
            maybe = f", possibly from batch {int(low)}" if pd.notna(low) and low < point else ""
            phrases.append(f"{name}: flat at small batch ({flat_text(fit)}); leaves the flat regime (T(b)/T(1) above "
                           f"{limit} with its interval) at batch {int(point)}{maybe}")
        elif regime == FLAT:
            phrases.append(f"{name}: flat at small batch ({flat_text(fit)}) and not surely above {limit}x batch 1's "
                           f"latency up to batch {int(fit['max_batch'])}, the largest measured")
        elif regime == NOT_FLAT:
            phrases.append(f"{name}: {NO_REGIME} ({flat_text(fit)}, above {limit})")
        elif regime == UNTESTED:
            phrases.append(f"{name}: {NO_REGIME} (no batch 4 was measured, which the rule needs)")
        else:
            straddles = "" if is_real(fit["t4_low"], fit["t4_high"]) is None else f": the interval contains {limit}"
            phrases.append(f"{name}: {NO_REGIME} that the data can confirm ({flat_text(fit)}{straddles})")
    return phrases


def regime_rule() -> str:
    """The rule every page's framework-bound regime and inflection follow, in one sentence."""
    limit = sig(FLAT_MAX_RATIO)
    return (f"A curve has a framework-bound regime when its latency at batch 4 is within {limit}x its batch-1 "
            f"latency with the 95% interval of the paired ratio T(4)/T(1) (claim (a)'s rule); its inflection is the "
            f"first batch whose T(b)/T(1) exceeds {limit} with its interval. Elsewhere the page reports {NO_REGIME}.")


def speedup_phrases(speedups: pd.DataFrame, batch_size: int, by: Sequence[str] = ("model", "dtype")) -> list[str]:
    """'bert-tiny fp32: onnxruntime 2.1x [1.9, 2.3], 3 rounds, torchscript 1.3x [...]' at one batch size,
    fastest first; without an interval: 'onnxruntime 2.4x, torchscript 1.3x (one round: no between-run
    interval)', said once per list."""
    rows = speedups[speedups["batch_size"] == batch_size] if not speedups.empty else speedups
    phrases = []
    named = curves(rows, by)
    for name, part in named:
        part = part.sort_values("speedup", ascending=False)
        bare = all(is_real(lo, hi) is None for lo, hi in zip(part["speedup_low"], part["speedup_high"]))
        listed = ", ".join(f"{r.backend} {sig(r.speedup, 2)}x" if bare else
                           f"{r.backend} {ratio_text(r.speedup, r.speedup_low, r.speedup_high, r.rounds)}"
                           for r in part.itertuples())
        listed += f" ({NO_INTERVAL})" if bare else ""
        phrases.append(listed if len(named) == 1 else f"{name}: {listed}")
    return phrases


def band_phrase(rows: pd.DataFrame, what: str = "band") -> str:
    """How a figure's latencies and their `what` (band, error bars) were estimated from rounds, counted
    from the ok rows it draws (`ftax.read.estimates.per_config`)."""
    ok = rows[rows["status"] == "ok"] if not rows.empty and "status" in rows else rows
    rounds = ok["rounds"].astype(int) if "rounds" in ok else pd.Series(1, index=ok.index)
    multi = rounds[rounds >= 2]
    if multi.empty:
        return f"median of one round per config: no between-run interval, so no {what}"
    span = plural(int(multi.min()), "round") if multi.min() == multi.max() else f"{multi.min()} to {multi.max()} rounds"
    if len(multi) == len(rounds):
        return f"median of the round medians over {span}, their 95% between-round interval as {what}"
    return (f"median of the round medians; 95% between-round interval as {what} for the {len(multi)} of "
            f"{plural(len(rounds), 'config')} with {span}, none for those with one round")


def doubling_factor(rows: pd.DataFrame, along: str, batch_size: int, value: str = "estimate_ms") -> float | None:
    """Multiplier of `value` (FLOPs, which do not vary between rounds) per doubling of `along` (width or depth) at
    one batch size: 2 ** the mean slope of log2 `value` on log2 `along`, fitted at each value of the other one. A
    latency factor is estimated within each round instead (`ftax.read.ratios.doubling_factors`)."""
    other = "depth" if along == "width" else "width"
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)].dropna(subset=[along, other, value])
    slopes = [np.polyfit(np.log2(part[along].astype(float)), np.log2(part[value].astype(float)), 1)[0]
              for _, part in ok.groupby(other) if part[along].nunique() >= 2]
    return float(2 ** np.mean(slopes)) if slopes else None


def precision_phrases(ratios: pd.DataFrame, baseline: str = "fp32") -> list[str]:
    """'bert-tiny at batch 1: fp16 3.2x [2.9, 3.5], 5 rounds the fp32 latency' at each curve's smallest and largest
    batch, from `ftax.read.ratios.paired_ratios(visits, "dtype", baseline)` (baseline over other, per round)."""
    if ratios is None or ratios.empty:
        return []
    phrases = []
    for model, part in ratios.groupby("model", sort=True):
        for batch in sorted({part["batch_size"].min(), part["batch_size"].max()}):
            at = part[part["batch_size"] == batch].sort_values("dtype")
            listed = ", ".join(f"{r.dtype} {ratio_text(1 / r.ratio, 1 / r.ratio_high, 1 / r.ratio_low, r.rounds)}"
                               for r in at.itertuples())
            phrases.append(f"{model} at batch {batch}: {listed} the {baseline} latency")
    return phrases


def no_data(rows: pd.DataFrame, here: str) -> str | None:
    """The sentence a caption or finding becomes when none of its rows measured ok (else None)."""
    if not rows.empty and (rows["status"] == "ok").any():
        return None
    return (f"Nothing to show here: no config of this figure measured ok on {here}. Either the profile does "
            f"not include it, or it failed (the table under *Load* lists failures and why), or it was not "
            f"measured yet (run the page with `measure=True`).")
