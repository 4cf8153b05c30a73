"""Calibrated estimates: a config's latency, and paired ratios, with intervals from the between-round spread.

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

Paired comparisons (speedups, scaling ratios): configs a page compares are visited next to
each other in the same round, so the ratio of their medians within a round cancels the
machine's drift; the same t-interval on log per-round ratios then gives a tight interval.

Read layer: pure functions over the DataFrame of `ftax.store.dataframe.load(path)`
(one row per visit); they never measure and never mutate their input.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from scipy import stats as scistats

CONFIG_COLUMNS = ("model", "backend", "dtype", "device", "batch_size", "seq_len", "overrides", "phase")
# Software that splits a config into separate series (never pooled, like pyperf's checked
# metadata). `format_version` is derived from `schema_version`: schema 1 and 2 store the same
# measurement (2 only renamed `profile` to `decomposition`), so both map to format 1; a schema
# that changes what is measured gets a new entry in FORMAT_VERSIONS (schema 3 added `phase`: a forward's
# measurement is the same, and `phase` is a config column, so it maps to format 1 too). Torch threads change the
# measurement too, so records made with a different thread count are a separate series.
SERIES_COLUMNS = ("env_torch_version", "env_transformers_version", "env_onnxruntime_version", "env_torch_threads",
                  "format_version")
FORMAT_VERSIONS = {1: 1, 2: 1, 3: 1}
CARRIED_COLUMNS = ("width", "depth", "heads", "intermediate", "machine_label")


def curve_columns(varying: str | tuple[str, ...], series: bool = True) -> tuple[str, ...]:
    """The identity of a curve along `varying` (a config column, or several): the machine, every other config
    column, and (with `series`) the software series and the stop rule. The one definition every estimate,
    figure, finding, claim and the tax model group a curve by, so two configs that differ in anything but
    `varying` are never one line or one fit. Without `series`: for rows already reduced to one series per
    config (`newest_series`), where a key is looked up by value and a missing version (NaN) would match nothing."""
    along = (varying,) if isinstance(varying, str) else varying
    config = ("machine_id", *[c for c in CONFIG_COLUMNS if c not in along])
    return (*config, *SERIES_COLUMNS, "rule") if series else config


def curve_keys(frame: pd.DataFrame, varying: str | tuple[str, ...], series: bool = True) -> list[str]:
    """`curve_columns(varying, series)` that `frame` has (a hand-built frame, or a loader's, may lack some)."""
    return [c for c in curve_columns(varying, series) if c in frame.columns]


SPEEDUP_COLUMNS = curve_columns("backend", series=False)  # `_identity` adds the series


VISIT_LATENCY_COLUMNS = ("median_ms", "ci_low_ms", "ci_high_ms")
CONFIG_LATENCY_COLUMNS = ("estimate_ms", "low_ms", "high_ms")


def require_visits(frame: pd.DataFrame, what: str = "this function") -> None:
    """Raise ValueError unless `frame` holds the visits (`ftax.store.dataframe.load`: every round of every config).

    What pools rounds (estimates, paired ratios, the claims) would otherwise give a one-round answer, NaN
    intervals, without a word, when handed one row per config: the newest visit per config
    (`ftax.store.dataframe.newest_visits`: it holds a round > 0 but no other round of that config) or the config rows
    of `per_config` (estimates already, without the visit medians). A smoke run's visits, all of round 0,
    are visits: one round, and its intervals honestly NaN.
    """
    fix = "pass the visits (`ftax.store.dataframe.load(...)`, every round of every config)"
    if any(c in frame for c in CONFIG_LATENCY_COLUMNS) and "median_ms" not in frame:
        raise ValueError(f"{what} needs visits, but this frame holds one row per config (`estimates.per_config`: "
                         f"`estimate_ms`, no visit `median_ms`); {fix}")
    if frame.empty or "round" not in frame:
        return
    later = pd.to_numeric(frame["round"], errors="coerce") > 0
    keys = (["config_key"] if "config_key" in frame
            else [c for c in (*CONFIG_COLUMNS, "machine_id", "rule") if c in frame])
    if later.any() and keys and not frame.duplicated(keys).any():
        raise ValueError(f"{what} needs visits, but this frame holds one visit per config, of a round > 0 (the newest "
                         f"visit per config, `dataframe.newest_visits`): its other rounds are missing, so it would give "
                         f"one-round estimates without intervals; {fix}")


def _visits(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Ok visits with a positive median, plus `format_version` and `_round` (one id per round); raises on a frame
    that is not the visits (`require_visits`).

    A visit without a `round` value (records written before rounds) is a round of its own.
    """
    require_visits(frame, what)
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    median = ok["median_ms"] if "median_ms" in ok else pd.Series(np.nan, index=ok.index)
    ok = ok.assign(median_ms=pd.to_numeric(median, errors="coerce"))
    ok = with_format_version(ok[ok["median_ms"] > 0])
    rounds = pd.to_numeric(ok["round"], errors="coerce") if "round" in ok else pd.Series(np.nan, index=ok.index)
    ok["_paired"] = rounds.notna()
    ok["_round"] = [f"round {int(r)}" if pd.notna(r) else f"visit {i}" for i, r in zip(ok.index, rounds)]
    return ok


def with_format_version(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with `format_version` derived from `schema_version` (when it has one): the column
    that `SERIES_COLUMNS` names, so every reader splits series by the same rule."""
    frame = frame.copy()
    if "schema_version" in frame:
        version = pd.to_numeric(frame["schema_version"], errors="coerce")
        frame["format_version"] = version.map(lambda v: FORMAT_VERSIONS.get(int(v), int(v)) if pd.notna(v) else np.nan)
    return frame


def _identity(visits: pd.DataFrame, config_columns: tuple[str, ...] = CONFIG_COLUMNS) -> list[str]:
    """What may be pooled: config, machine, software series and stop rule (those the frame has)."""
    keys = dict.fromkeys([*config_columns, "machine_id", *SERIES_COLUMNS, "rule"])
    return [k for k in keys if k in visits.columns]


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


def estimates(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per config, machine, software series and stop rule over its ok visits.

    `estimate_ms` is the median of the round medians (visits in the same round are merged by
    their median first); `low_ms`/`high_ms` the between-round t-interval (module docstring),
    NaN with one round (`interval` says "one round"). `between_round_cv` is std/mean of the
    round medians. `within_round_ci_low_ms`/`_high_ms` are the order-statistic CI of the
    newest visit: what a single run would have claimed, kept to show how much narrower it is.
    `target_met` is True when every visit met its precision target (visits that do not say
    are left out; None when none says).
    """
    visits = _visits(frame, "estimates")
    keys = _identity(visits)
    columns = [*keys, *[c for c in CARRIED_COLUMNS if c in visits], "estimate_ms", "low_ms", "high_ms", "interval",
               "rounds", "between_round_cv", "within_round_ci_low_ms", "within_round_ci_high_ms", "target_met",
               "first_timestamp", "last_timestamp"]
    if visits.empty:
        return pd.DataFrame(columns=columns)
    per_round = visits.groupby([*keys, "_round"], dropna=False, sort=True)["median_ms"].median().reset_index()
    fit = t_intervals(per_round["median_ms"], [per_round[k] for k in keys], confidence)
    spread = per_round.groupby(keys, dropna=False, sort=True)["median_ms"].agg(["mean", "std"])
    order = visits.sort_values("timestamp", kind="stable") if "timestamp" in visits else visits
    g = order.groupby(keys, dropna=False, sort=True)
    out = g[[c for c in CARRIED_COLUMNS if c in visits]].first()
    out["estimate_ms"], out["low_ms"], out["high_ms"] = fit["point"], fit["low"], fit["high"]
    out["rounds"] = fit["k"].astype(int)
    out["interval"] = np.where(out["rounds"] >= 2, "between-round", "one round")
    out["between_round_cv"] = spread["std"] / spread["mean"]
    for side in ("low", "high"):
        source = f"ci_{side}_ms"
        out[f"within_round_ci_{side}_ms"] = g[source].last(skipna=False) if source in visits else np.nan
    out["target_met"] = g["target_met"].agg(_all_met) if "target_met" in visits else None
    stamps = g["timestamp"] if "timestamp" in visits else None
    out["first_timestamp"] = stamps.min() if stamps is not None else pd.NaT
    out["last_timestamp"] = stamps.max() if stamps is not None else pd.NaT
    return out.reset_index()[columns]


def _all_met(values: pd.Series) -> bool | None:
    known = values.dropna()
    return None if known.empty else bool(known.astype(bool).all())


def _drop_override(visits: pd.DataFrame, key: str) -> pd.DataFrame:
    """`overrides` without `key` (e.g. width), so a width sweep at fixed depth is one group."""
    rest = [json.dumps({k: v for k, v in json.loads(o or "{}").items() if k != key}, sort_keys=True)
            for o in visits["overrides"]]
    return visits.assign(overrides=rest)


def _pairs(visits: pd.DataFrame, group: list[str], varied: str, is_base: pd.Series,
           confidence: float) -> pd.DataFrame:
    """Per group and value of `varied`: base/other medians paired by round, with a t-interval.

    Only rounds in which both sides were visited pair up. Visits without a `round` (legacy)
    cannot be paired: when a pair has no common round, its ratio is the ratio of the two
    medians of visit medians, with `rounds` 0 and no interval ("unpaired").
    """
    per_round = visits.assign(_base=is_base).groupby([*group, varied, "_base", "_round", "_paired"], dropna=False,
                                                     sort=True)["median_ms"].median().reset_index()
    base = per_round[per_round["_base"]].drop(columns=[varied, "_base"])
    other = per_round[~per_round["_base"]].drop(columns="_base")
    matched = other[other["_paired"]].merge(base[base["_paired"]], on=[*group, "_round", "_paired"],
                                            suffixes=("", "_base"))
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
    visits = _visits(frame, "paired_ratios")
    if baseline_column not in CONFIG_COLUMNS and "overrides" in visits:
        visits = _drop_override(visits, baseline_column)
    columns = pair_columns if pair_columns is not None else tuple(c for c in CONFIG_COLUMNS if c != baseline_column)
    group = _identity(visits, tuple(c for c in columns if c != baseline_column))
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
    visits = _visits(frame, "speedups")
    extra = [c for c in ("machine_label", "parity_ok") if c in visits]
    if extra:
        keys = [k for k in pairs.columns if k in _identity(visits)]
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
    visits = _visits(frame, "scaling_ratios")
    if along not in CONFIG_COLUMNS and "overrides" in visits:
        visits = _drop_override(visits, along)
    group = _identity(visits, curve_columns(along))
    smallest = visits.groupby(group, dropna=False, sort=False)[along].transform("min")
    pairs = _pairs(visits, group, along, visits[along] == smallest, confidence)
    return pairs.assign(ratio=1 / pairs["ratio"], ratio_low=1 / pairs["ratio_high"], ratio_high=1 / pairs["ratio_low"])


def is_real(low: float | None, high: float | None, threshold: float = 1.0) -> bool | None:
    """True when [low, high] excludes `threshold`, False when it contains it, None with no interval (one round)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return not (low <= threshold <= high)


def _tuples(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Each row's values of `columns` as a hashable key (missing values as None, 2.0 as 2), so the same
    series compares equal whatever dtype a groupby or a merge gave its columns."""
    def norm(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        return int(value) if isinstance(value, (float, np.floating)) and float(value).is_integer() else value
    return [tuple(norm(v) for v in row) for row in frame[columns].itertuples(index=False, name=None)]


def _ranked(visits: pd.DataFrame) -> pd.DataFrame:
    """`visits` (with `format_version`) plus `_series` (identity key), `_ok` and `_order` (0 = oldest:
    by timestamp, then by position)."""
    frame = with_format_version(visits)
    frame["_series"] = _tuples(frame, _identity(frame))
    median = pd.to_numeric(frame["median_ms"], errors="coerce") if "median_ms" in frame else np.nan
    frame["_ok"] = ((frame["status"] == "ok") if "status" in frame else True) & (median > 0)
    stamps = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce") if "timestamp" in frame else None
    position = pd.Series(np.arange(len(frame)), index=frame.index)
    order = (pd.DataFrame({"t": stamps, "p": position}).sort_values(["t", "p"], na_position="first").index
             if stamps is not None else frame.index)
    frame["_order"] = pd.Series(np.arange(len(frame)), index=order)
    return frame


def newest_series(visits: pd.DataFrame) -> pd.DataFrame:
    """The visits of one series per config and machine: the newest series with an ok visit, else the newest.

    A series is a config under one software stack and stop rule (`estimates`); a figure draws one point per
    config, so when a machine's records hold two (say, records from before an upgrade), it shows the newer
    one. The rows returned are `visits`' own, unchanged.
    """
    if visits.empty:
        return visits
    frame = _ranked(visits)
    frame["_config"] = _tuples(frame, [c for c in (*CONFIG_COLUMNS, "machine_id") if c in frame])
    series = frame.groupby("_series", sort=False).agg(ok=("_ok", "any"), newest=("_order", "max"),
                                                       config=("_config", "first"))
    chosen = series.sort_values(["ok", "newest"]).groupby("config", sort=False).tail(1).index
    return visits[frame["_series"].isin(set(chosen))]


def per_config(visits: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per config series (config, machine, software, rule) from its visits: what a page draws.

    The row is the newest ok visit's (status, message, parity, decomposition, env, FLOPs, setup),
    or the newest visit's when none is ok (the decomposition and parity columns come from the newest ok
    visit that has them, as are memory, energy and the writes by size; FLOPs from any visit that counted them: a
    sweep takes them in round 0 only). Its latency is the visits' estimate, under names of its own: `estimate_ms`
    and its calibrated interval `low_ms`/`high_ms` (NaN with one round). The visit's own `median_ms`,
    `ci_low_ms` and `ci_high_ms` are dropped: one visit's median is not the config's latency, and a column
    name means one thing on every row. Added from `estimates`: `estimate_ms`, `low_ms`, `high_ms`, `interval`,
    `rounds` (0 for a config with no ok visit), `between_round_cv`, `within_round_ci_low_ms`/`_high_ms`, `target_met`;
    and over the visits the estimate pools (all visits when none is ok): `visits`, `first_timestamp`,
    `last_timestamp`, `hosts` (the distinct `env_hostname`s, comma-joined; "" where not recorded) and
    `max_load_avg_1m`. The per-visit `round` column is dropped: pair visits, not these rows.
    """
    require_visits(visits, "per_config")
    if visits.empty:
        return visits.drop(columns=list(VISIT_LATENCY_COLUMNS), errors="ignore").assign(
            **{c: pd.Series(dtype=float) for c in CONFIG_LATENCY_COLUMNS})
    frame = _ranked(visits)
    pooled = frame[frame["_ok"] | ~frame.groupby("_series")["_ok"].transform("any")]
    g = pooled.groupby("_series", sort=False)
    stamps = (pd.to_datetime(pooled["timestamp"], utc=True, errors="coerce") if "timestamp" in pooled
              else pd.Series(pd.NaT, index=pooled.index, dtype="datetime64[ns, UTC]"))
    hosts = pooled["env_hostname"] if "env_hostname" in pooled else pd.Series(None, index=pooled.index, dtype=object)
    load = pd.to_numeric(pooled.get("env_load_avg_1m", pd.Series(np.nan, index=pooled.index)), errors="coerce")
    over = pd.DataFrame({"visits": g.size(), "first_timestamp": stamps.groupby(pooled["_series"]).min(),
                         "last_timestamp": stamps.groupby(pooled["_series"]).max(),
                         "hosts": hosts.groupby(pooled["_series"]).agg(lambda h: ", ".join(sorted(set(h.dropna())))),
                         "max_load_avg_1m": load.groupby(pooled["_series"]).max()})
    fit = estimates(visits, confidence)
    fit.index = _tuples(fit, _identity(frame))
    base = frame.sort_values(["_ok", "_order"]).drop_duplicates("_series", keep="last").sort_values("_order")
    out = base.drop(columns=[c for c in ("round", "_ok", "_order", *VISIT_LATENCY_COLUMNS) if c in base])
    out = out.set_index("_series")
    for prefix, marker in (("decomposition_", "decomposition_busy_ms"), ("parity_", "parity_ok"),
                           ("memory_", "memory_method"), ("energy_", "energy_status"),
                           ("write_sizes", "write_sizes")):
        _fill_from_visit_with(out, frame, prefix, marker)
    for column in ("flops", "gemm_calls", "writes", "written_bytes"):  # counted in a sweep's first round only
        if column in frame:
            counted = pd.to_numeric(frame[column], errors="coerce").groupby(frame["_series"]).max()
            out[column] = pd.to_numeric(out[column], errors="coerce").fillna(counted.reindex(out.index))
    for column in ("estimate_ms", "low_ms", "high_ms", "interval", "rounds", "between_round_cv",
                   "within_round_ci_low_ms", "within_round_ci_high_ms", "target_met"):
        out[column] = fit[column].reindex(out.index) if len(fit) else np.nan
    out["rounds"] = out["rounds"].fillna(0).astype(int)
    for column in over:
        out[column] = over[column].reindex(out.index)
    return out.reset_index(drop=True)


def _fill_from_visit_with(out: pd.DataFrame, frame: pd.DataFrame, prefix: str, marker: str) -> None:
    """Where `out`'s row (indexed by series) lacks the `prefix` columns, take them from the newest ok visit of
    its series that has `marker`: what describes a config, not a visit, is recorded on one visit only."""
    if marker not in frame or marker not in out:
        return
    columns = [c for c in out.columns if c.startswith(prefix)]
    done = frame[frame["_ok"] & frame[marker].notna()].sort_values("_order")
    done = done.drop_duplicates("_series", keep="last").set_index("_series")[columns]
    missing = out[marker].isna() & out.index.isin(done.index)
    if missing.any():
        for column in columns:  # e.g. parity_ok is all-NaN (float) where only later rounds are the newest
            if out[column].dtype != done[column].dtype:
                out[column] = out[column].astype(object)
        out.loc[missing, columns] = done.loc[out.index[missing]].to_numpy()
