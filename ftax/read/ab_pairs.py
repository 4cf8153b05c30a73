"""An A/B's verdicts: per config, B's latency over A's paired by round, with a multiplicity-corrected interval.

Why pair by round. The machine drifts: a config's latency moves by tens of percent between minutes. Two runs
made apart compare two drifts as well as two sides, so the interval of their ratio carries both runs' drift. An
A/B (`ftax.study.ab_run`) measures both sides in every round, back to back, so both visits of round r see the
same machine state: the ratio b_r / a_r divides that state out, and what varies between rounds is the visits'
own noise plus the little drift inside one round. The interval comes from those per-round ratios, so it is as
narrow as the drift allows and no narrower: a drift that moves within a round still widens it.

The method, per config (identified by `PAIR_KEYS`, which leave out what a side may change: overrides, threads,
software):
- a round counts when both sides have an ok visit in it (the newest, if one was repeated); ratio = B / A of
  the visits' medians;
- the point is the median of the ratios and the interval the t-interval on their logs
  (`ftax.read.intervals.t_intervals`), at level (1 - alpha)^(1/m) for m configs with two paired rounds or more:
  Sidak's simultaneous intervals, as `ftax compare` corrects stored runs. All m cover together with probability
  1 - alpha when the configs are independent, and at least that for jointly normal estimates whatever their
  correlation (Sidak 1967): configs of one round share the machine's state, so they are correlated. Chosen over
  Holm (it orders p-values and gives no interval per config) and Bonferroni (alpha / m: valid under any
  dependence, barely wider);
- `min_detectable`: the corrected half-width on the log scale, exp(t * s / sqrt(k)) - 1: a true change of this
  size lands on the interval's edge, so it is found about half the time; a change twice as large nearly always;
- verdict, as `ftax compare` words it: `slower` (B slower than A) when the interval lies above 1, `faster` when
  below; when it holds 1, `same` if it could have shown a change of `min_change`, else `too noisy`; `one round`
  with fewer than two paired rounds.

Read layer: pure functions of loaded visits (`ftax.store.dataframe.load`); they never measure and never write.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scistats

from ftax.read.compare import VERDICTS, sidak_level, verdicts
from ftax.read.intervals import t_intervals
from ftax.store.errors import InvalidConfigError

PAIR_KEYS = ("model", "backend", "dtype", "batch_size", "seq_len", "phase")


def paired_rounds(a: pd.DataFrame, b: pd.DataFrame, keys: tuple[str, ...] = PAIR_KEYS) -> pd.DataFrame:
    """One row per config and round where both sides have an ok visit: `a_ms`, `b_ms` and `ratio` = b / a."""
    def side(visits: pd.DataFrame, name: str) -> pd.DataFrame:
        if visits.empty:
            return pd.DataFrame(columns=[*keys, "round", f"{name}_ms"])
        ok = visits[(visits["status"] == "ok") & visits["round"].notna()
                    & (pd.to_numeric(visits["median_ms"], errors="coerce") > 0)]
        if "rule" in ok and ok.groupby(list(keys))["rule"].nunique().max() > 1:
            raise InvalidConfigError(f"side {name.upper()} holds visits of one config under several stop rules "
                                     f"({', '.join(sorted(ok['rule'].dropna().unique()))}); pair one A/B run at a time")
        ok = ok.drop_duplicates([*keys, "round"], keep="last")
        return ok[[*keys, "round", "median_ms"]].rename(columns={"median_ms": f"{name}_ms"})

    both = side(a, "a").merge(side(b, "b"), on=[*keys, "round"], how="inner")
    both["ratio"] = both["b_ms"].astype(float) / both["a_ms"].astype(float)
    return both.sort_values([*keys, "round"]).reset_index(drop=True)


def ab_verdicts(a: pd.DataFrame, b: pd.DataFrame, confidence: float = 0.95, min_change: float = 0.10,
                keys: tuple[str, ...] = PAIR_KEYS) -> pd.DataFrame:
    """Per config: `rounds` paired, `ratio` (B / A, the median of the paired ratios), `low`/`high` (the interval at
    level confidence^(1/m), m the configs with two paired rounds or more), `min_detectable` and `verdict`."""
    pairs = paired_rounds(a, b, keys)
    columns = [*keys, "rounds", "ratio", "low", "high", "min_detectable", "confidence", "verdict"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    groups = pd.Series(list(pairs[list(keys)].itertuples(index=False, name=None)), index=pairs.index)
    m = max(int((groups.value_counts() >= 2).sum()), 1)
    level = sidak_level(confidence, m)
    table = t_intervals(pairs["ratio"], groups, level, log=True)
    k = table["k"].to_numpy(float)
    t = scistats.t.ppf((1 + level) / 2, np.maximum(k - 1, 1))
    half = np.where(k >= 2, t * table["sd"].to_numpy(float) / np.sqrt(np.maximum(k, 1)), np.nan)
    out = pd.DataFrame(list(table.index), columns=list(keys))
    out["rounds"] = k.astype(int)
    out["ratio"], out["low"], out["high"] = table["point"].to_numpy(), table["low"].to_numpy(), table["high"].to_numpy()
    out["min_detectable"] = np.expm1(half)
    out["confidence"] = level
    out["verdict"] = verdicts(k >= 2, out["low"], out["high"], out["min_detectable"], min_change)
    return out[columns]


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How many configs got each verdict (every verdict named, zeros included)."""
    counts = table["verdict"].value_counts() if not table.empty else pd.Series(dtype=int)
    return {v: int(counts.get(v, 0)) for v in VERDICTS}
