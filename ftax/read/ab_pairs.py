"""An A/B's verdicts: per config, B's latency over A's paired by round, with a multiplicity-corrected interval.

Why pair by round. The machine drifts: a config's latency moves by tens of percent between minutes. Two runs made
apart compare two drifts as well as two sides, so the interval of their ratio carries both runs' drift. An A/B (`ftax.study.ab_run`) measures both sides
in every round, back to back, so both visits of round r see the same machine state: the ratio b_r / a_r divides
that state out, and what varies between rounds is what the sides do differently plus the little drift inside
one round. The interval comes from those per-round ratios, so it is as narrow as the drift allows and no
narrower: a drift that moves within a round still widens it.

The method, per config (identified by `PAIR_KEYS`, which leave out what a side may change: overrides, threads,
software):
- a round counts when both sides have an ok visit in it (the newest, if one was repeated); ratio = B / A of
  the visits' medians;
- the point is the median of the ratios and the interval the t-interval on their logs
  (`ftax.read.intervals.t_intervals`), at confidence 1 - alpha / m for m configs: Bonferroni. It holds whatever
  the dependence between configs (configs of one round share the machine's state, so they are dependent), and
  it gives simultaneous intervals, which Holm does not (Holm sharpens tests, not intervals); Sidak's
  1 - (1 - alpha)^(1/m) assumes independence and is barely narrower;
- verdict: `slower` (B slower than A) when the interval lies above 1, `faster` when below, `same` when it holds
  1, `too few rounds` below two paired rounds;
- `min_detectable`: the corrected half-width on the log scale, exp(t * s / sqrt(k)) - 1: a true change of this
  size lands on the interval's edge, so it is found about half the time; a change twice as large nearly always.

Read layer: pure functions of loaded visits (`ftax.store.dataframe.load`); they never measure and never write.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scistats

from ftax.read.intervals import t_intervals

PAIR_KEYS = ("model", "backend", "dtype", "batch_size", "seq_len", "phase")
VERDICTS = ("slower", "faster", "same", "too few rounds")


def paired_rounds(a: pd.DataFrame, b: pd.DataFrame, keys: tuple[str, ...] = PAIR_KEYS) -> pd.DataFrame:
    """One row per config and round where both sides have an ok visit: `a_ms`, `b_ms` and `ratio` = b / a."""
    def side(visits: pd.DataFrame, name: str) -> pd.DataFrame:
        if visits.empty:
            return pd.DataFrame(columns=[*keys, "round", f"{name}_ms"])
        ok = visits[(visits["status"] == "ok") & visits["round"].notna()]
        ok = ok.drop_duplicates([*keys, "round"], keep="last")
        return ok[[*keys, "round", "median_ms"]].rename(columns={"median_ms": f"{name}_ms"})

    both = side(a, "a").merge(side(b, "b"), on=[*keys, "round"], how="inner")
    both["ratio"] = both["b_ms"].astype(float) / both["a_ms"].astype(float)
    return both.sort_values([*keys, "round"]).reset_index(drop=True)


def ab_verdicts(a: pd.DataFrame, b: pd.DataFrame, alpha: float = 0.05,
                keys: tuple[str, ...] = PAIR_KEYS) -> pd.DataFrame:
    """Per config: `rounds` paired, `ratio` (B / A, the median of the paired ratios), `low`/`high` (the interval at
    confidence 1 - alpha / m, m the configs with two paired rounds or more), `min_detectable` and `verdict`."""
    pairs = paired_rounds(a, b, keys)
    columns = [*keys, "rounds", "ratio", "low", "high", "min_detectable", "confidence", "verdict"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    groups = pd.Series(list(pairs[list(keys)].itertuples(index=False, name=None)), index=pairs.index)
    m = max(int((groups.value_counts() >= 2).sum()), 1)
    confidence = 1 - alpha / m
    table = t_intervals(pairs["ratio"], groups, confidence, log=True)
    k = table["k"].to_numpy(float)
    t = scistats.t.ppf((1 + confidence) / 2, np.maximum(k - 1, 1))
    half = np.where(k >= 2, t * table["sd"].to_numpy(float) / np.sqrt(np.maximum(k, 1)), np.nan)
    out = pd.DataFrame(list(table.index), columns=list(keys))
    out["rounds"] = k.astype(int)
    out["ratio"], out["low"], out["high"] = table["point"].to_numpy(), table["low"].to_numpy(), table["high"].to_numpy()
    out["min_detectable"] = np.expm1(half)
    out["confidence"] = confidence
    out["verdict"] = np.select([k < 2, out["low"] > 1, out["high"] < 1], ["too few rounds", "slower", "faster"],
                               default="same")
    return out[columns]


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many configs got each verdict (every verdict named, zeros included)."""
    counts = table["verdict"].value_counts() if not table.empty else pd.Series(dtype=int)
    return {v: int(counts.get(v, 0)) for v in VERDICTS}
