"""The between-round interval: a t-interval on one value per round, and whether it excludes a threshold.

Why not the single-visit CI: the machine drifts (+-20% between one-second blocks; a config
re-measured minutes later moves 0.7-1.3x), so the samples of one visit are correlated and
their order-statistic CI measures sampling noise only: it covers a re-run in about 1 case of
5. The variance lives at the level of visits, so, as in pyperf (many processes x few values)
and Kalibera and Jones ("Rigorous benchmarking in reasonable time", ISMM 2013), a sweep
visits each config in R rounds and the interval comes from the spread of the round medians.

The method: point = median of the round medians (robust to one disturbed round); interval =
a t-interval on the log round medians, exp(mean +- t_{(1+c)/2, k-1} * s / sqrt(k)), widened
where needed so that it contains the point (the point is a median, the interval is centred
on the geometric mean; with 3 rounds the median always lies inside, the widening only
guards odd cases). It assumes:
- rounds are independent draws of the machine state (rounds minutes apart: drift between
  rounds dominates drift within one, so each round median is one draw);
- round medians are roughly log-normal (multiplicative noise; spread of tens of percent);
- the quantity estimated is the typical latency over the machine's states (exp of the mean
  log round median), not the latency of one lucky or unlucky minute.
Under these the interval is exact for any k >= 2 and honest at 3-5 rounds (t_{0.975,2} =
4.3 makes a 3-round interval wide, as it must be). Not a bootstrap over rounds: with 3
clusters a percentile bootstrap can produce only a few distinct values, its interval is at
most [min, max] of the three medians, which covers the middle of their distribution in only
1 - 2 / 2^3 = 75% of sweeps (tests/test_estimates.py measures it). One round gives no
between-run interval at all: low/high are NaN and `interval` says "one round".

Read layer: pure functions over values or the columns of a frame; they never measure and never mutate their
input.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scistats


def t_intervals(values: pd.Series, groups: list | pd.Series, confidence: float = 0.95,
                log: bool = True) -> pd.DataFrame:
    """Per group of `values` (one value per round): `k`, `point` (the median), and `low`/`high`, the t-interval
    on the mean, widened to contain the point (NaN for k < 2).

    With `log` the interval is on the logs and taken back, exp(mean log +- t * s / sqrt(k)): for latencies and
    ratios, whose noise multiplies (module docstring). Without it, on the values themselves: for what is
    already a log or a share (a fitted log2 slope, an overhead share)."""
    x = np.log(values) if log else values
    g = x.groupby(groups, dropna=False, sort=True)
    out = pd.DataFrame({"k": g.count(), "mean": g.mean(), "sd": g.std(ddof=1), "point": g.median()})
    k = out["k"].to_numpy(float)
    t = scistats.t.ppf((1 + confidence) / 2, np.maximum(k - 1, 1))
    half = np.where(k >= 2, t * out["sd"].to_numpy(float) / np.sqrt(k), np.nan)
    low, high = np.minimum(out["mean"] - half, out["point"]), np.maximum(out["mean"] + half, out["point"])
    back = np.exp if log else (lambda v: v)
    out["point"], out["low"], out["high"] = back(out["point"]), back(low), back(high)
    return out


def t_interval(values: list[float] | np.ndarray, confidence: float = 0.95, log: bool = False
               ) -> tuple[float, float, float]:
    """(point, low, high) of `t_intervals` for one group of values; NaN throughout when there are none."""
    x = pd.Series(np.asarray(values, float))
    if x.empty:
        return math.nan, math.nan, math.nan
    row = t_intervals(x, np.zeros(len(x), int), confidence, log).iloc[0]
    return float(row["point"]), float(row["low"]), float(row["high"])


def is_real(low: float | None, high: float | None, threshold: float = 1.0) -> bool | None:
    """True when [low, high] excludes `threshold`, False when it contains it, None with no interval (one round)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return not (low <= threshold <= high)
