"""Paired ratios: one config's latency over another's within each round, with the between-round interval.

Configs a page compares are visited next to each other in the same round, so the ratio of their medians
within a round cancels the machine's drift; the same t-interval (`ftax.read.intervals`) on the log per-round
ratios then gives a tight interval. Speedups (a runtime over eager) and scaling ratios (a batch size over the
curve's smallest) are the two ratios the pages state.

Read layer: pure functions over the DataFrame of `ftax.store.dataframe.load(path)` (one row per
visit); they never measure and never mutate their input.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ftax.read.estimates import CONFIG_COLUMNS, curve_columns, ok_visits, require_visits, series_identity
from ftax.read.intervals import t_interval, t_intervals

SPEEDUP_COLUMNS = curve_columns("backend", series=False)  # `series_identity` adds the series


def _drop_override(visits: pd.DataFrame, key: str) -> pd.DataFrame:
    """`overrides` without `key` (e.g. width), so a width sweep at fixed depth is one group."""
    rest = [json.dumps({k: v for k, v in json.loads(o or "{}").items() if k != key}, sort_keys=True)
            for o in visits["overrides"]]
    return visits.assign(overrides=rest)


def _matched(visits: pd.DataFrame, group: list[str], varied: str, is_base: pd.Series
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(base, other, matched): each side's median per group, value of `varied` and round, and the other side's
    rounds joined with the base's of the same round (`median_ms_base` beside `median_ms`)."""
    per_round = visits.assign(_base=is_base).groupby([*group, varied, "_base", "_round", "_paired"], dropna=False,
                                                     sort=True)["median_ms"].median().reset_index()
    base = per_round[per_round["_base"]].drop(columns=[varied, "_base"])
    other = per_round[~per_round["_base"]].drop(columns="_base")
    matched = other[other["_paired"]].merge(base[base["_paired"]], on=[*group, "_round", "_paired"],
                                            suffixes=("", "_base"))
    return base, other, matched


def paired_rounds(frame: pd.DataFrame, baseline_column: str, baseline_value: object,
                  pair_columns: tuple[str, ...] = SPEEDUP_COLUMNS) -> pd.DataFrame:
    """The rounds that pair up: per pair (as `paired_ratios`) and round in which both sides were visited, the
    baseline's median (`baseline_ms`) beside the other's (`other_ms`), and the round (`round`). What a paired
    difference (one side's time minus the other's, round by round) is computed from."""
    visits = ok_visits(frame, "paired_rounds")
    group = series_identity(visits, tuple(c for c in pair_columns if c != baseline_column))
    matched = _matched(visits, group, baseline_column, visits[baseline_column] == baseline_value)[2]
    matched = matched.rename(columns={"median_ms_base": "baseline_ms", "median_ms": "other_ms", "_round": "round"})
    return matched.drop(columns="_paired").reset_index(drop=True)


def _pairs(visits: pd.DataFrame, group: list[str], varied: str, is_base: pd.Series,
           confidence: float) -> pd.DataFrame:
    """Per group and value of `varied`: base/other medians paired by round, with a t-interval.

    Only rounds in which both sides were visited pair up. Visits without a `round` (legacy)
    cannot be paired: when a pair has no common round, its ratio is the ratio of the two
    medians of visit medians, with `rounds` 0 and no interval ("unpaired").
    """
    base, other, matched = _matched(visits, group, varied, is_base)
    keys = [*group, varied]
    fit = t_intervals(matched["median_ms_base"] / matched["median_ms"], [matched[k] for k in keys], confidence)
    sides = matched.groupby(keys, dropna=False, sort=True)[["median_ms_base", "median_ms"]].median()
    paired = pd.concat([fit, sides], axis=1).reset_index()
    paired = paired.rename(columns={"point": "ratio", "low": "ratio_low", "high": "ratio_high", "k": "rounds"})
    unpaired = (other.groupby(keys, dropna=False, sort=True)["median_ms"].median().reset_index()
                .merge(base.groupby(group, dropna=False, sort=True)["median_ms"].median().reset_index(),
                       on=group, suffixes=("", "_base")))
    unpaired = unpaired.merge(paired[keys], on=keys, how="left", indicator=True)
    unpaired = unpaired[unpaired["_merge"] == "left_only"].drop(columns="_merge")
    unpaired = unpaired.assign(ratio=unpaired["median_ms_base"] / unpaired["median_ms"], ratio_low=np.nan,
                               ratio_high=np.nan, rounds=0)
    out = pd.concat([paired, unpaired], ignore_index=True) if len(unpaired) else paired
    out["rounds"] = out["rounds"].astype(int)
    out["interval"] = np.select([out["rounds"] >= 2, out["rounds"] == 1], ["between-round", "one round"], "unpaired")
    out = out.rename(columns={"median_ms_base": "baseline_ms", "median_ms": "other_ms"})
    return out[[*keys, "ratio", "ratio_low", "ratio_high", "rounds", "interval", "baseline_ms", "other_ms"]]


def paired_ratios(frame: pd.DataFrame, baseline_column: str, baseline_value: object,
                  pair_columns: tuple[str, ...] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """ratio = baseline visit median / other visit median within the same round, per pair.

    `pair_columns`: what both sides share (default: the config columns but `baseline_column`);
    machine, software series and rule are always added. Per pair, `ratio` is the median of the
    per-round ratios (exp of the median log ratio, so 1/ratio is exact for an even count too),
    `ratio_low`/`ratio_high` the t-interval on the log per-round ratios (widened to contain
    `ratio`), `rounds` the rounds paired (0: legacy visits, ratio of medians, no interval),
    `baseline_ms`/`other_ms` the sides' medians over those rounds.
    """
    visits = ok_visits(frame, "paired_ratios")
    if baseline_column not in CONFIG_COLUMNS and "overrides" in visits:
        visits = _drop_override(visits, baseline_column)
    columns = pair_columns if pair_columns is not None else tuple(c for c in CONFIG_COLUMNS if c != baseline_column)
    group = series_identity(visits, tuple(c for c in columns if c != baseline_column))
    return _pairs(visits, group, baseline_column, visits[baseline_column] == baseline_value, confidence)


def speedups(frame: pd.DataFrame, baseline: str = "eager", confidence: float = 0.95) -> pd.DataFrame:
    """Each backend against `baseline`, paired by round: a drop-in for `ftax.read.analysis.speedups` plus `rounds`.

    speedup = baseline / backend per round (module docstring); `baseline_ms`/`backend_ms` are the
    medians over the paired rounds.
    """
    require_visits(frame, "speedups")
    pairs = paired_ratios(frame, "backend", baseline, SPEEDUP_COLUMNS, confidence)
    pairs = pairs.rename(columns={"ratio": "speedup", "ratio_low": "speedup_low", "ratio_high": "speedup_high",
                                  "other_ms": "backend_ms"})
    pairs["baseline"] = baseline
    visits = ok_visits(frame, "speedups")
    extra = [c for c in ("machine_label", "parity_ok") if c in visits]
    if extra:
        keys = [k for k in pairs.columns if k in series_identity(visits)]
        last = visits.sort_values("timestamp", kind="stable") if "timestamp" in visits else visits
        last = last.groupby(keys, dropna=False, sort=False)[extra].last().reset_index()
        pairs = pairs.merge(last, on=keys, how="left")
    return pairs


def scaling_ratios(frame: pd.DataFrame, along: str = "batch_size", confidence: float = 0.95) -> pd.DataFrame:
    """Latency at each value of `along` over latency at the curve's smallest value, paired by round.

    "batch 2 costs 1.6x batch 1 [1.4, 1.8]". `along` is a config column or an override key
    (width, depth; then `overrides` holds the other overrides, the curve's identity). The smallest
    value itself is not a row (its ratio is 1 by definition).
    """
    visits = ok_visits(frame, "scaling_ratios")
    if along not in CONFIG_COLUMNS and "overrides" in visits:
        visits = _drop_override(visits, along)
    group = series_identity(visits, curve_columns(along))
    smallest = visits.groupby(group, dropna=False, sort=False)[along].transform("min")
    pairs = _pairs(visits, group, along, visits[along] == smallest, confidence)
    return pairs.assign(ratio=1 / pairs["ratio"], ratio_low=1 / pairs["ratio_high"], ratio_high=1 / pairs["ratio_low"])


def doubling_factors(frame: pd.DataFrame, batch_size: int, confidence: float = 0.95
                     ) -> dict[str, tuple[float, float, float, int]]:
    """Latency factor per doubling of width and of depth at one batch size, estimated within each round: per round,
    log2 latency fitted on log2 width and log2 depth over the grid's cells (the fit claim (c) makes), then the
    t-interval on the per-round slopes. {"width": (point, low, high, rounds), "depth": ...}; empty where no round
    has two widths and two depths (a grid of one model, runtime, precision and sequence length)."""
    visits = ok_visits(frame, "doubling_factors")
    visits = visits[(visits["batch_size"] == batch_size)
                    & visits["width"].notna() & visits["depth"].notna()] if {"width", "depth"} <= set(visits) else \
        visits.iloc[0:0]
    slopes: dict[str, list[float]] = {"width": [], "depth": []}
    for _, cells in visits.groupby("_round", sort=True):
        cells = cells.groupby(["width", "depth"])["median_ms"].median().reset_index()
        if cells["width"].nunique() < 2 or cells["depth"].nunique() < 2:
            continue
        design = np.column_stack([np.ones(len(cells)), np.log2(cells["width"].astype(float)),
                                  np.log2(cells["depth"].astype(float))])
        coef = np.linalg.lstsq(design, np.log2(cells["median_ms"].to_numpy(float)), rcond=None)[0]
        slopes["width"].append(coef[1])
        slopes["depth"].append(coef[2])
    if not slopes["width"]:
        return {}
    return {along: (*(2.0 ** x for x in t_interval(values, confidence)), len(values))
            for along, values in slopes.items()}


def round_ratio(top: pd.DataFrame, bottom: pd.DataFrame, confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(ratio, low, high, rounds): the latency of the visits `top` over that of the visits `bottom` (each one
    config), the median of the per-round ratios with the t-interval on their logs; NaNs where no round has both."""
    sides = [ok_visits(f, "round_ratio").groupby("_round")["median_ms"].median() for f in (top, bottom)]
    ratios = (sides[0] / sides[1]).dropna()
    if ratios.empty:
        return np.nan, np.nan, np.nan, 0
    row = t_intervals(ratios, np.zeros(len(ratios), int), confidence).iloc[0]
    return float(row["point"]), float(row["low"]), float(row["high"]), len(ratios)
