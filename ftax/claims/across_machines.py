"""The claims that compare machines, (f) and (g): one verdict per pair of machines or devices, faster vs slower.

Each is a function of the visits frame (`ftax.store.dataframe.load(path)`) returning one `ClaimResult` per pair of machines
(or a CPU and a GPU of one machine) that measured the same eager fp32 curve; which of the two is faster is read
from the records themselves, and each side keeps one software series so a curve is never pooled over two stacks.
They sit apart from the per-machine claims (`ftax.claims.per_machine`) because their unit is a pair and their
intervals come from two independent sets of rounds; the rule that decides is the same
(`ftax.claims.verdicts.decide`). Read layer: pure functions; no torch, never measures.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats as scistats

from ftax.read.analysis import FLAT_MAX_RATIO, batch_ratios, flat_regime_end
from ftax.claims.verdicts import (CONFIDENCE, ClaimResult, ClaimTest, config_name, decide, has_interval,
                                 machine_units, of_unit, prepared_visits, rounds_of, same_as, untestable, value_text)
from ftax.read.estimates import SERIES_COLUMNS, estimates
from ftax.read.intervals import t_interval
from ftax.read.text import plural, sig

LATER_INFLECTION_MIN_RATIO = 1.0
TAX_GROWTH_MIN_SHARE_DIFF = 0.0

_SERIES = (*SERIES_COLUMNS, "rule")  # the series `ftax.read.estimates` keeps apart: the same rule as the pages
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
    visits = prepared_visits(frame)
    all_units = machine_units(visits)
    eager = _one_series(visits[(visits["backend"] == "eager") & (visits["dtype"] == "fp32")])
    profiles, speeds = {}, {}
    for unit in all_units:
        profile = profile_of(of_unit(eager, unit))
        if profile:
            profiles[unit], speeds[unit] = profile, _latencies(of_unit(eager, unit))
    units = list(profiles)
    if len(units) < 2:
        shown = _joined(units or all_units)
        where = shown[2] or "no machine"
        return [untestable(claim, shown, f"{plural(len(units), 'machine')} with {nothing} ({where}): the claim "
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
            out.append(decide(claim, _joined(list(pair)), tests))
    return out or [untestable(claim, _joined(units), f"no {nothing} of one model on two machines", threshold)]


def _curve_name(key: tuple) -> str:
    return config_name({"model": key[0], "backend": "eager", "dtype": "fp32", "seq_len": key[1], "overrides": key[2]})


def _inflection_text(point: float, largest: float) -> str:
    return f"beyond batch {int(largest)}" if point > largest else f"batch {int(point)}"


def faster_hardware_later_inflection(visits: pd.DataFrame) -> list[ClaimResult]:
    """(f) Eager fp32 batch curves of one model (sequence length, overrides) on >= 2 machines or devices.

    Per machine, the inflection batch is the first batch whose paired T(b)/T(1) lower bound exceeds
    FLAT_MAX_RATIO, the flat of claim a (`ftax.read.analysis.flat_regime_end`, the one definition of the
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
        return {key: (flat_regime_end(g), frozenset(eager[same_as(eager, g.iloc[0], group)].index))
                for key, g in r.groupby(_CURVE, sort=True)}

    def compare(key: tuple, fast: tuple, slow: tuple, speed: str) -> ClaimTest:
        (funit, ((fp, fl, fh, fk, fb), frows)), (sunit, ((sp, sl, sh, sk, sb), srows)) = fast, slow
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = np.float64(fl) / np.float64(sh), np.float64(fh) / np.float64(sl)
        bound = "lower bound" if has_interval(low, high) else "ratio"
        note = (f" ({_inflection_text(fp, fb)} vs {_inflection_text(sp, sb)}, the first batch whose T(b)/T(1) {bound} "
                f"> {sig(FLAT_MAX_RATIO)}{speed})")
        return ClaimTest(_curve_name(key), f"inflection batch on {funit[2]} (faster) / on {sunit[2]}", fp / sp,
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
        rows = eager[(eager["batch_size"] == 1) & share.notna()].assign(_share=share, _round=rounds_of(eager))
        out = {}
        for key, g in rows.groupby(_CURVE, sort=True):
            methods = g["decomposition_method"].dropna().unique() if "decomposition_method" in g else []
            out[key] = (g.groupby("_round")["_share"].median().tolist(), frozenset(g.index), "/".join(methods))
        return out

    def compare(key: tuple, fast: tuple, slow: tuple, speed: str) -> ClaimTest:
        (funit, (fs, frows, fm)), (sunit, (ss, srows, sm)) = fast, slow
        point, low, high = _difference(fs, ss)
        shares = [value_text(*t_interval(s, CONFIDENCE)) for s in (fs, ss)]
        note = f" (shares {shares[0]} vs {shares[1]}; busy time by {fm or '?'} vs {sm or '?'}{speed})"
        return ClaimTest(_curve_name(key) + " at batch 1", f"overhead share on {funit[2]} (faster) - on {sunit[2]}",
                         point, low, high, min(len(fs), len(ss)), TAX_GROWTH_MIN_SHARE_DIFF, "above", "grows means",
                         frows | srows, note)

    return _across_units("g", visits, profile_of, compare, "overhead shares at batch 1", TAX_GROWTH_MIN_SHARE_DIFF)
