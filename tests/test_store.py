"""The store's read path: every record of every schema version is upgraded once, and loads as it always did."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from ftax.store import dataframe, jsonl, resume, schema
from ftax.store.schema import MeasureConfig, config_key

MACHINE = "m"


def _record(version: int, config: MeasureConfig, median_ms: float, **fields) -> dict:
    """A stored record as a version-`version` ftax wrote it: only the fields that version had, plus `fields`."""
    data = config.to_dict()
    if version < 3:
        del data["phase"]  # written before phases existed
    return {"config": data, "status": "ok", "message": "", "env": {"machine_id": MACHINE},
            "stats": {"median_ms": median_ms}, "samples_ms": [median_ms], "config_key": config_key(config, MACHINE),
            "machine_id": MACHINE, "schema_version": version, "timestamp": f"2026-01-0{version}T00:00:00+00:00",
            **fields}


def _forward(batch_size: int) -> MeasureConfig:
    return MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", batch_size, 8)


def _decode(batch_size: int) -> MeasureConfig:
    return MeasureConfig.make("gpt2", "eager", "fp32", "cpu", batch_size, 8, phase="decode")


# One record per version, each with what changed in it (see the version lines of ftax.store.schema).
V1 = _record(1, _forward(1), 1.5, flops=10.0, profile={"busy_ms": 0.5, "overhead_ms": 1.0})
V2 = _record(2, _forward(2), 2.5, flops=20.0, decomposition={"busy_ms": 1.0, "overhead_ms": 1.5}, round=0,
             rule="quick")
V3_FORWARD = _record(3, _forward(4), 3.5, flops=40.0, gemm_calls=6, round=1, rule="quick")
V3_DECODE = _record(3, _decode(1), 4.5, flops=7.0, gemm_calls=2, per_token={"median_ms": 4.5, "tokens_per_s": 222.0})
V4_DECODE = _record(4, _decode(2), 5.5, flops=9.0, gemm_calls=2, per_token={"median_ms": 5.5, "tokens_per_s": 363.0})
V5 = _record(5, _forward(8), 6.5, flops=80.0, gemm_calls=6, writes=12, written_bytes=4096)
V6 = _record(6, _forward(16), 7.5, flops=160.0, gemm_calls=6, writes=12, written_bytes=8192,
             write_sizes=[[512, 4], [1024, 4]])
STORED = [V1, V2, V3_FORWARD, V3_DECODE, V4_DECODE, V5, V6]


@pytest.fixture
def store(tmp_path):
    path = jsonl.store_path(tmp_path, MACHINE)
    path.write_text("".join(json.dumps(data) + "\n" for data in STORED))
    return tmp_path


@pytest.fixture
def upgrades(monkeypatch) -> list[str]:
    """The config_key of every record `upgrade` is called on, wherever the store's modules call it from."""
    seen: list[str] = []
    real = schema.upgrade

    def counting(data: dict) -> dict:
        seen.append(data["config_key"])
        return real(data)

    for module in (schema, jsonl, resume, dataframe):
        if hasattr(module, "upgrade"):
            monkeypatch.setattr(module, "upgrade", counting)
    return seen


def test_the_store_holds_every_readable_version():
    assert sorted({data["schema_version"] for data in STORED}) == list(schema.READABLE_VERSIONS)


@pytest.mark.parametrize("read", [
    pytest.param(lambda path: list(jsonl.iter_records(path)), id="iter_records"),
    pytest.param(dataframe.load, id="load"),
    pytest.param(lambda path: resume.best_records(path, key=resume.visit_key), id="best_records"),
    pytest.param(lambda path: [resume.is_done(d) for d in resume.best_records(path).values()], id="is_done"),
])
def test_each_record_is_upgraded_once_on_the_read_path(store, upgrades, read):
    read(store)
    assert sorted(upgrades) == sorted(data["config_key"] for data in STORED)


def test_a_record_from_the_reader_is_built_without_a_second_upgrade(store, upgrades):
    loaded = list(jsonl.iter_records(store))
    upgrades.clear()
    records = [schema.Record.from_upgraded(data) for data in loaded]
    assert upgrades == [] and [r.config_key for r in records] == [d["config_key"] for d in STORED]


def test_loaded_frame_holds_each_version_upgraded(store):
    frame = dataframe.load(store).set_index("config_key")
    assert list(frame.index) == [data["config_key"] for data in STORED]  # file order, one row per record
    for data in STORED:
        row = frame.loc[data["config_key"]]
        assert row["median_ms"] == data["stats"]["median_ms"] and row["samples_ms"] == data["samples_ms"]
        assert row["phase"] == data["config"].get("phase", "forward") and row["status"] == "ok"
        assert row["timestamp"] == pd.Timestamp(data["timestamp"])
        assert row["round"] == data.get("round") or (data.get("round") is None and pd.isna(row["round"]))
    v1 = frame.loc[V1["config_key"]]  # version 1's `profile` is the decomposition, and the record is current
    assert v1["schema_version"] == schema.SCHEMA_VERSION
    assert (v1["decomposition_busy_ms"], v1["decomposition_overhead_ms"]) == (V1["profile"]["busy_ms"],
                                                                               V1["profile"]["overhead_ms"])
    assert frame.loc[V2["config_key"], "decomposition_busy_ms"] == V2["decomposition"]["busy_ms"]
    # a version-3 decoder record's counts may be another phase's: dropped; a forward's and version 4's are kept
    assert math.isnan(frame.loc[V3_DECODE["config_key"], "flops"])
    assert pd.isna(frame.loc[V3_DECODE["config_key"], "gemm_calls"])
    for data in (V3_FORWARD, V4_DECODE, V5, V6):
        assert frame.loc[data["config_key"], "flops"] == data["flops"]
        assert frame.loc[data["config_key"], "gemm_calls"] == data["gemm_calls"]
    assert frame.loc[V4_DECODE["config_key"], "per_token_tokens_per_s"] == V4_DECODE["per_token"]["tokens_per_s"]
    assert frame.loc[V5["config_key"], "written_bytes"] == V5["written_bytes"]
    assert frame.loc[V6["config_key"], "write_sizes"] == V6["write_sizes"]
    assert [frame.loc[d["config_key"], "schema_version"] for d in STORED[1:]] == [d["schema_version"]
                                                                                  for d in STORED[1:]]
