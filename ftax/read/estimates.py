"""A config's latency from its visits: its series, its estimate and interval over rounds, and the row a page draws.

A visit is one config measured once, in one round. Visits are pooled only within a series: one config on one
machine under one software stack and stop rule (`SERIES_COLUMNS`, `series_identity`), and `curve_columns` is
the one identity that every figure, finding and fit groups a curve by. A config's estimate is the median of
its round medians, its interval the between-round t-interval of `ftax.read.intervals` (whose docstring says
why not one visit's CI). `per_config` turns the visits into one row per series: what a page draws.

Read layer: pure functions over the DataFrame of `ftax.store.dataframe.load(path)`
(one row per visit); they never measure and never mutate their input.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ftax.read.intervals import t_intervals

CONFIG_COLUMNS = ("model", "backend", "dtype", "device", "batch_size", "seq_len", "overrides", "phase")
# Software that splits a config into separate series (never pooled, like pyperf's checked
# metadata). `format_version` is derived from `schema_version`: schema 1 and 2 store the same
# measurement (2 only renamed `profile` to `decomposition`), so both map to format 1; a schema
# that changes what is measured gets a new entry in FORMAT_VERSIONS (schema 3 added `phase`: a forward's
# measurement is the same, and `phase` is a config column, so it maps to format 1 too). Torch threads change the
# measurement too, so records made with a different thread count are a separate series. So does the host under one
# machine_id (`env_host_id`, `ftax.store.env.host_fields`: a VM's masked CPU hides a host change that halved a
# latency); records without it are one series among themselves (a missing value groups with a missing value).
SERIES_COLUMNS = ("env_torch_version", "env_transformers_version", "env_onnxruntime_version", "env_torch_threads",
                  "env_host_id", "format_version")
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


def ok_visits(frame: pd.DataFrame, what: str) -> pd.DataFrame:
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


def series_identity(visits: pd.DataFrame, config_columns: tuple[str, ...] = CONFIG_COLUMNS) -> list[str]:
    """What may be pooled: config, machine, software series and stop rule (those the frame has)."""
    keys = dict.fromkeys([*config_columns, "machine_id", *SERIES_COLUMNS, "rule"])
    return [k for k in keys if k in visits.columns]


def estimates(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per config, machine, software series and stop rule over its ok visits.

    `estimate_ms` is the median of the round medians (visits in the same round are merged by
    their median first); `low_ms`/`high_ms` the between-round t-interval (`ftax.read.intervals`),
    NaN with one round (`interval` says "one round"). `between_round_cv` is std/mean of the
    round medians. `within_round_ci_low_ms`/`_high_ms` are the order-statistic CI of the
    newest visit: what a single run would have claimed, kept to show how much narrower it is.
    `target_met` is True when every visit met its precision target (visits that do not say
    are left out; None when none says).
    """
    visits = ok_visits(frame, "estimates")
    keys = series_identity(visits)
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
    frame["_series"] = _tuples(frame, series_identity(frame))
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
    fit.index = _tuples(fit, series_identity(frame))
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
