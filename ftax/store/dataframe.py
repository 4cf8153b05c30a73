"""The records as a pandas DataFrame: one flat row per visit, the newest visit per config, rows of given configs.

The read side's entry: `load` flattens each record `ftax.store.jsonl.iter_records` yields (upgraded once there)
into one tidy row; analysis, claims and pages read that frame, never the record dicts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from ftax.store.jsonl import iter_records
from ftax.store.schema import MeasureConfig


def _flatten(data: dict) -> dict:
    config = data["config"]
    row = {key: config[key] for key in ("model", "backend", "dtype", "device", "batch_size", "seq_len")}
    row["phase"] = config.get("phase") or "forward"
    overrides = config.get("overrides") or {}
    row["overrides"] = overrides_json(overrides)
    for key in ("width", "depth", "heads", "intermediate"):
        row[key] = overrides.get(key)
    env = data.get("env") or {}
    from ftax.store.env import machine_label

    row.update(config_key=data["config_key"], machine_id=data.get("machine_id", env.get("machine_id")),
               machine_label=machine_label(env, config["device"]), status=data["status"],
               message=data.get("message", ""), pipelined_ms=data.get("pipelined_ms"), flops=data.get("flops"),
               gemm_calls=data.get("gemm_calls"), writes=data.get("writes"), written_bytes=data.get("written_bytes"),
               write_sizes=data.get("write_sizes"),
               samples_ms=data.get("samples_ms") or [], timestamp=data.get("timestamp"),
               ftax_version=data.get("ftax_version"), schema_version=data.get("schema_version"),
               round=data.get("round"), rule=data.get("rule"))
    row.update(data.get("stats") or {})
    row.update(data.get("setup") or {})
    row.update(data.get("model_info") or {})
    for prefix in ("parity", "decomposition", "memory", "energy", "per_token"):
        row.update({f"{prefix}_{k}": v for k, v in (data.get(prefix) or {}).items()})
    row.update({f"env_{k}": v for k, v in env.items() if k != "machine_id"})
    return row


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """The visits: one tidy row per record, every round of every config (stats, setup, parity, profile and env
    flattened into columns).

    Estimates and paired ratios pool a config's rounds, so this is what `ftax.read.estimates` and
    `ftax.claims.table` read; `newest_visits` is the view with one visit per config.
    """
    rows = [_flatten(d) for d in iter_records(paths)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    return frame


def newest_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """One visit per config_key: its newest ok visit, or its newest visit if none is ok (a config retried after
    a failure shows its success, not the old failure), in the visits' order.

    What one visit says (its status, its own samples, a record's fields); never an estimate: a config's
    estimate and interval come from all its visits (`ftax.read.estimates.per_config`), which refuses this view.
    """
    if visits.empty:
        return visits
    ok = visits["status"] == "ok"
    return (visits.assign(_ok=ok.to_numpy()).reset_index(drop=True).reset_index()
            .sort_values(["_ok", "index"]).drop_duplicates("config_key", keep="last").sort_values("index")
            .drop(columns=["_ok", "index"]).reset_index(drop=True))


def overrides_json(overrides: dict) -> str:
    """The `overrides` column of a loaded frame: the config's overrides as sorted JSON."""
    return json.dumps(overrides, sort_keys=True)


def rows_matching(frame: pd.DataFrame, configs: Iterable[MeasureConfig]) -> pd.DataFrame:
    """Rows of a loaded frame whose config is one of `configs`, on any machine and device.

    Device is left out on purpose: a grid's `auto` device resolves differently per machine, and a
    study shows every machine's records of the same configs.
    """
    wanted = {(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, overrides_json(dict(c.overrides)), c.phase)
              for c in configs}
    if frame.empty or not wanted:
        return frame.iloc[0:0]
    phases = frame["phase"] if "phase" in frame else ["forward"] * len(frame)
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"], phases)
    return frame[[key in wanted for key in keys]].reset_index(drop=True)
