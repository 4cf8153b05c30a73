"""Analysis over the DataFrame of `ftax.store.dataframe.load`: regimes, inflection (knee) fits, speedups.

`estimates` (a config's point estimate and calibrated interval over its rounds) and `speedups`
(each runtime over eager, paired by round, with an interval) are those of `ftax.read.estimates` and
`ftax.read.ratios`, named here as the public entry points: pages, claims and the explorer read them from here.
Both take the visits (`ftax.store.dataframe.load`) and refuse one row per config (`ftax.read.estimates.require_visits`).

Pure functions: they never measure and never mutate their input (they return copies or new
frames). Only rows with status "ok" carry latencies; the others are ignored or left
unlabelled. Groups never span machines: every grouping includes `machine_id`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ftax.read.estimates import curve_columns, estimates
from ftax.read.intervals import is_real
from ftax.read.ratios import paired_ratios, speedups

__all__ = ["estimates", "speedups", "fit_inflection", "label_regimes", "inflections",
           "Inflection", "REGIMES", "flatness", "flat_regime_end", "framework_bound_regimes", "with_regime",
           "FLAT_MAX_RATIO", "NO_REGIME", "first_past_flat"]

# Regime thresholds. Batch elasticity e = d log L / d log b: framework-bound when e < 0.3
# (latency barely follows batch), compute-bound when e > 0.7. Measured overhead share: if
# busy time were proportional to batch, e would equal 1 - share, but busy time has a fixed
# per-kernel floor (a CPU op or a GPU kernel on a tiny tensor costs microseconds regardless
# of batch), so a framework-bound config still shows much busy time. Hence for the share:
# framework-bound when overhead is the majority (>= 0.5), compute-bound when it is <= 0.2.
FRAMEWORK_BOUND_MAX_ELASTICITY = 0.3
COMPUTE_BOUND_MIN_ELASTICITY = 0.7
FRAMEWORK_BOUND_MIN_SHARE = 0.5
COMPUTE_BOUND_MAX_SHARE = 0.2
REGIMES = ("framework-bound", "transitional", "compute-bound")

# The one rule for a framework-bound regime (claim (a) of `ftax.claims.table`, and every page's inflection):
# a batch curve is flat at small batch when its paired T(4)/T(1) lies within FLAT_MAX_RATIO with its
# 95% interval, and it leaves the flat regime at the first batch whose T(b)/T(1) surely exceeds it.
FLAT_MAX_RATIO = 1.25  # T(4)/T(1) within 25%: "flat" as the paper's figures show it (4x the work, a quarter more time)
FLAT_PROBE_BATCH = 4
FLAT, NOT_FLAT, UNDECIDED, UNTESTED = "flat", "not flat", "undecided", "untested"
NO_REGIME = "no framework-bound regime in the measured range"
SERIES_KEYS = curve_columns("batch_size")  # a batch curve (`ftax.read.estimates.curve_columns`)
INFLECTION_KEYS = ("machine_id", "machine_label", *SERIES_KEYS[1:])  # with the label the figures match a curve by


@dataclass(frozen=True)
class Inflection:
    """Fit of latency = max(flat_ms, slope_ms_per_item * batch): where a model stops being framework-bound.

    `batch` is the knee flat_ms / slope_ms_per_item; `low`..`high` its 95% residual-bootstrap
    interval (None on a side where the bootstrap reaches the edge of the grid). `reached` is
    False, and `batch` None, when the fitted curve has not risen by `min_rise` at the largest
    batch (the knee lies beyond the grid, or there is no rise), or when only the largest
    batch lies past the knee (one point cannot tell a knee from noise).
    """

    batch: float | None
    low: float | None
    high: float | None
    flat_ms: float
    slope_ms_per_item: float | None
    reached: bool
    message: str


def _fit_log(x: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact least squares of y = alpha + max(0, x - t) for each row of `ys` (x = log batch).

    For t between two neighbouring grid points the set of points past the knee is fixed, so
    the loss is a quadratic in t with a closed-form minimum; clip it to the segment and keep
    the best segment. t below the grid is the same model as t at its first point, and t past
    the grid the same as t at its last point, so t in [min x, max x] loses nothing.
    Returns (t, alpha, sse), one per row.
    """
    grid = np.unique(x)
    best_t = np.full(ys.shape[0], grid[-1])
    best_sse = ((ys - ys.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    for lo, hi in zip(grid[:-1], grid[1:]):
        past = (x >= hi).astype(float)
        centred_past = past - past.mean()
        z = ys - past * x
        zc = z - z.mean(axis=1, keepdims=True)
        t = np.clip(-(zc @ centred_past) / (centred_past @ centred_past), lo, hi)
        sse = ((zc + t[:, None] * centred_past) ** 2).sum(axis=1)
        better = sse < best_sse - 1e-12
        best_t, best_sse = np.where(better, t, best_t), np.where(better, sse, best_sse)
    alpha = (ys - np.maximum(0.0, x[None, :] - best_t[:, None])).mean(axis=1)
    return best_t, alpha, best_sse


def fit_inflection(batch_sizes: Sequence[float], latencies_ms: Sequence[float], min_rise: float = 0.2,
                   n_boot: int = 200, seed: int = 0) -> Inflection:
    """Fit the two-regime model latency = max(a, c * batch) in log space; the knee is a / c.

    The paper's RQ1 shape: flat while framework-bound, linear once compute-bound. Log space
    because latencies span decades and noise is multiplicative. The interval comes from a
    residual bootstrap (fixed `seed`, residuals inflated by sqrt(n / (n - 2)) for the two
    fitted parameters), so it is deterministic and says how well the grid pins the knee.
    """
    b = np.asarray(batch_sizes, dtype=float)
    lat = np.asarray(latencies_ms, dtype=float)
    keep = np.isfinite(b) & np.isfinite(lat) & (b > 0) & (lat > 0)
    order = np.lexsort((lat[keep], b[keep]))
    x, y = np.log(b[keep][order]), np.log(lat[keep][order])
    if np.unique(x).size < 3:
        flat = float(np.exp(y.mean())) if y.size else math.nan
        return Inflection(None, None, None, flat, None, False, f"need 3 or more batch sizes, got {np.unique(x).size}")
    (t,), (alpha,), _ = _fit_log(x, y[None, :])
    grid = np.unique(x)
    flat_ms, x_min, x_max = float(np.exp(alpha)), float(grid[0]), float(grid[-1])
    rise = math.exp(x_max - t) - 1.0
    if rise < min_rise:
        return Inflection(None, None, None, flat_ms, None, False,
                          f"not reached: latency rises {rise:.0%} by batch {math.exp(x_max):g} (< {min_rise:.0%})")
    if t >= grid[-2]:
        return Inflection(None, None, None, flat_ms, None, False,
                          f"not reached: only the largest batch ({math.exp(x_max):g}) lies past the fitted knee")
    fitted = alpha + np.maximum(0.0, x - t)
    residuals = (y - fitted) * math.sqrt(x.size / max(x.size - 2, 1))
    rng = np.random.default_rng(seed)
    boot_t, _, _ = _fit_log(x, fitted[None, :] + rng.choice(residuals, size=(n_boot, x.size)))
    lo_t, hi_t = np.percentile(boot_t, [2.5, 97.5])
    low = None if lo_t <= x_min + 1e-9 else float(np.exp(lo_t))
    high = None if hi_t >= x_max - 1e-9 else float(np.exp(hi_t))
    message = "knee at or below the smallest batch" if t <= x_min + 1e-9 else ""
    return Inflection(float(np.exp(t)), low, high, flat_ms, float(np.exp(alpha - t)), True, message)


def _ok(df: pd.DataFrame, latency: str = "estimate_ms") -> pd.DataFrame:
    """Ok rows with a positive `latency`: `estimate_ms` of config rows, `median_ms` of visits."""
    ok = df[df["status"] == "ok"] if "status" in df else df
    return ok[pd.to_numeric(ok[latency], errors="coerce") > 0]


def _keys(df: pd.DataFrame, keys: Sequence[str]) -> list[str]:
    """The grouping keys this frame has (a hand-built frame may lack e.g. overrides)."""
    return [k for k in keys if k in df.columns]


def _elasticity(group: pd.DataFrame) -> pd.Series:
    """d log L / d log b at each row's batch: central difference between neighbouring batches, one-sided at the ends."""
    per_batch = group.groupby("batch_size")["estimate_ms"].median().sort_index()
    x, y = np.log(per_batch.index.to_numpy(float)), np.log(per_batch.to_numpy(float))
    if x.size < 2:
        return pd.Series(np.nan, index=group.index)
    i = np.arange(x.size)
    left, right = np.maximum(i - 1, 0), np.minimum(i + 1, x.size - 1)
    slope = pd.Series((y[right] - y[left]) / (x[right] - x[left]), index=per_batch.index)
    return group["batch_size"].map(slope)


def _regime(elasticity: float, share: float) -> str | None:
    """Regime from the measured overhead share when there is one, else from the elasticity."""
    if np.isfinite(share):
        framework, compute = share >= FRAMEWORK_BOUND_MIN_SHARE, share <= COMPUTE_BOUND_MAX_SHARE
    elif np.isfinite(elasticity):
        framework, compute = elasticity < FRAMEWORK_BOUND_MAX_ELASTICITY, elasticity > COMPUTE_BOUND_MIN_ELASTICITY
    else:
        return None
    return REGIMES[0] if framework else REGIMES[2] if compute else REGIMES[1]


def label_regimes(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` (config rows, `ftax.read.estimates.per_config`) with `elasticity`, `regime` and `regime_source`.

    The regime comes from the measured `decomposition_overhead_share` where there is one
    (framework-bound >= 0.5, compute-bound <= 0.2), else from the batch elasticity within the
    row's batch curve (`SERIES_KEYS`):
    framework-bound below 0.3, compute-bound above 0.7; transitional in between (the module
    constants say why). Rows that are not ok, or alone in their series without a decomposition,
    get a missing value.
    """
    if not df.index.is_unique:
        raise ValueError("label_regimes needs a frame with a unique index (dataframe.load gives one)")
    out = df.copy()
    out["elasticity"], out["regime"], out["regime_source"] = np.nan, None, None
    ok = _ok(df)
    if ok.empty:
        return out
    keys = _keys(ok, SERIES_KEYS)
    for _, group in (ok.groupby(keys, dropna=False) if keys else [(None, ok)]):
        out.loc[group.index, "elasticity"] = _elasticity(group)
    share = pd.to_numeric(out.get("decomposition_overhead_share", pd.Series(np.nan, index=out.index)), errors="coerce")
    share = share.where(out.index.isin(ok.index))
    measured = share.notna()
    out["regime"] = [_regime(e, s) if i in ok.index else None
                     for i, e, s in zip(out.index, out["elasticity"], share)]
    out["regime_source"] = np.where(measured, "decomposition", np.where(out["regime"].notna(), "elasticity", None))
    return out


def inflections(df: pd.DataFrame, min_rise: float = 0.2) -> pd.DataFrame:
    """One row per batch curve (`SERIES_KEYS`) with its two-segment knee fit: the explorer's fit lines.

    The fit decides nothing: whether a curve has a framework-bound regime, and where it ends, is claim (a)'s
    rule (`framework_bound_regimes`); a figure that draws this fit labels it as a fit. Overrides are part of
    the curve so that a width x depth grid (RQ3) is never fitted as one curve.
    """
    ok = _ok(df)
    keys = _keys(ok, INFLECTION_KEYS)
    rows = []
    for values, group in (ok.groupby(keys, dropna=False, sort=True) if keys and not ok.empty else []):
        b, lat = group["batch_size"].to_numpy(float), group["estimate_ms"].to_numpy(float)
        fit = fit_inflection(b, lat, min_rise=min_rise)
        rows.append({**dict(zip(keys, values)), "inflection_batch": fit.batch, "inflection_low": fit.low,
                     "inflection_high": fit.high, "flat_ms": fit.flat_ms, "slope_ms_per_item": fit.slope_ms_per_item,
                     "reached": fit.reached, "message": fit.message,
                     "n_batches": int(np.unique(b).size), "max_batch": int(b.max())})
    columns = keys + ["inflection_batch", "inflection_low", "inflection_high", "flat_ms", "slope_ms_per_item",
                      "reached", "message", "n_batches", "max_batch"]
    return pd.DataFrame(rows, columns=columns)


# --- the framework-bound regime: claim (a)'s rule, the one definition of the inflection -------------

def flatness(low: float | None, high: float | None) -> str:
    """Claim (a)'s rule on T(4)/T(1)'s 95% interval: FLAT when the upper bound <= FLAT_MAX_RATIO, NOT_FLAT
    when the lower bound exceeds it, else UNDECIDED (the interval straddles it, or one round gives none)."""
    if is_real(low, high, FLAT_MAX_RATIO) is None:
        return UNDECIDED
    return FLAT if high <= FLAT_MAX_RATIO else NOT_FLAT if low > FLAT_MAX_RATIO else UNDECIDED


def first_past_flat(batch_sizes: Sequence[float], ratios: Sequence[float]) -> float | None:
    """The first batch (in ascending order) whose T(b)/T(1) exceeds FLAT_MAX_RATIO, None if none does: the one
    definition of leaving the flat regime, for measured curves (`flat_regime_end`) and predicted ones
    (`ftax.read.tax_model`)."""
    b, r = np.asarray(batch_sizes, dtype=float), np.asarray(ratios, dtype=float)
    order = np.argsort(b, kind="stable")
    past = r[order] > FLAT_MAX_RATIO
    return float(b[order][past][0]) if past.any() else None


def flat_regime_end(curve: pd.DataFrame) -> tuple[float, float, float, int, float]:
    """(point, low, high, rounds, largest batch): where T(b)/T(1) (`ratio`, `ratio_low`, `ratio_high` per
    `batch_size`, b > 1) leaves the flat regime (> FLAT_MAX_RATIO). This is the inflection.

    point = high: the first batch whose lower bound exceeds it (surely left); low: the first whose upper
    bound exceeds it (the earliest it may have left). A curve still flat at its largest batch B gets point
    and low 2B (the next batch a sweep would measure) and high inf. Without intervals (one round) the point
    is the first batch whose ratio exceeds it, and low/high are NaN.
    """
    curve = curve.sort_values("batch_size")
    b = curve["batch_size"].to_numpy(float)

    def first(column: str, default: float) -> float:
        found = first_past_flat(b, curve[column].to_numpy(float))
        return default if found is None else found

    if curve[["ratio_low", "ratio_high"]].isna().any().any():
        return first("ratio", 2 * b.max()), math.nan, math.nan, 0, b.max()
    return (first("ratio_low", 2 * b.max()), first("ratio_high", 2 * b.max()), first("ratio_low", math.inf),
            int(curve["rounds"].min()), b.max())


def batch_ratios(visits: pd.DataFrame) -> pd.DataFrame:
    """T(b)/T(1) per batch curve with batch 1 (config but batch, machine, software series), paired by round."""
    usable = not visits.empty and "median_ms" in visits and "batch_size" in visits
    ok = _ok(visits, "median_ms") if usable else visits.iloc[0:0]
    if ok.empty or not (ok["batch_size"] == 1).any() or ok["batch_size"].nunique() < 2:
        return pd.DataFrame()
    r = paired_ratios(ok, "batch_size", 1)
    return r.assign(ratio=1 / r["ratio"], ratio_low=1 / r["ratio_high"], ratio_high=1 / r["ratio_low"])


REGIME_COLUMNS = ("regime", "t4", "t4_low", "t4_high", "t4_rounds", "t2", "t2_low", "t2_high", "inflection_batch",
                  "inflection_low", "inflection_high", "reached", "n_batches", "max_batch", "rounds", "message")


def framework_bound_regimes(visits: pd.DataFrame) -> pd.DataFrame:
    """One row per batch curve of `visits` (one row per visit) with batch 1: claim (a)'s rule and the inflection.

    `regime` is FLAT, NOT_FLAT, UNDECIDED (`flatness` of T(4)/T(1), columns `t4`, `t4_low`, `t4_high`) or
    UNTESTED (no batch 4); T(2)/T(1) is beside it (`t2`...). Only a FLAT curve has a framework-bound regime,
    and so an inflection: `inflection_batch` (`flat_regime_end`'s point, `inflection_low`..`inflection_high`
    its range) where it leaves the flat regime within the measured batches (`reached`); a FLAT curve still
    flat at `max_batch` has none yet. Every other curve has `reached` False, no inflection and `message`
    NO_REGIME. The columns the figures match on (`machine_label` with them) make this a drop-in for
    `inflections` in `ftax.figures.plots`; draw only `with_regime` rows.
    """
    r = batch_ratios(visits)
    keys = [c for c in r.columns if c not in ("batch_size", "ratio", "ratio_low", "ratio_high", "rounds", "interval",
                                              "baseline_ms", "other_ms")]
    if r.empty:
        return pd.DataFrame(columns=[*INFLECTION_KEYS, *REGIME_COLUMNS])
    labels = (visits.dropna(subset=["machine_label"]).groupby(["machine_id", "device"])["machine_label"].first()
              if "machine_label" in visits else pd.Series(dtype=object))
    rows = []
    for values, curve in r.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, values))
        at = {b: curve[curve["batch_size"] == b] for b in (2, FLAT_PROBE_BATCH)}
        probe = at[FLAT_PROBE_BATCH]
        t4, t4_low, t4_high = ((probe["ratio"].iloc[0], probe["ratio_low"].iloc[0], probe["ratio_high"].iloc[0])
                               if len(probe) else (math.nan, math.nan, math.nan))
        regime = flatness(t4_low, t4_high) if len(probe) else UNTESTED
        point, low, high, rounds, largest = flat_regime_end(curve)
        reached = regime == FLAT and point <= largest
        two = at[2]
        row.update({"machine_label": labels.get((row.get("machine_id"), row.get("device")), row.get("machine_id")),
                    "regime": regime, "t4": t4, "t4_low": t4_low, "t4_high": t4_high,
                    "t4_rounds": int(probe["rounds"].iloc[0]) if len(probe) else 0,
                    "t2": two["ratio"].iloc[0] if len(two) else math.nan,
                    "t2_low": two["ratio_low"].iloc[0] if len(two) else math.nan,
                    "t2_high": two["ratio_high"].iloc[0] if len(two) else math.nan,
                    "inflection_batch": point if reached else None, "inflection_low": low if reached else None,
                    "inflection_high": high if reached else None, "reached": reached,
                    "n_batches": int(curve["batch_size"].nunique()) + 1, "max_batch": int(largest), "rounds": rounds,
                    "message": "" if regime == FLAT else NO_REGIME})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *[c for c in ("machine_label",) if c not in keys], *REGIME_COLUMNS])


def with_regime(regimes: pd.DataFrame) -> pd.DataFrame:
    """The curves of `framework_bound_regimes` that have a framework-bound regime: what a figure may shade."""
    return regimes[regimes["regime"] == FLAT] if not regimes.empty else regimes
