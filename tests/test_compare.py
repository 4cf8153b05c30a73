"""`ftax compare` on synthetic visits with a known factor per config: verdicts, false alarms, matching, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ftax import cli
from ftax.read import compare as cmp
from ftax.store import jsonl, schema
from ftax.store.errors import SelectionError

MODELS = ("bert-tiny", "bert-base", "gpt2", "llama-small", "mobilenet-v2")
BACKENDS = ("eager", "onnxruntime")


def grid(n: int) -> list[tuple[str, str, int]]:
    """n configs (model, backend, batch size)."""
    return [(m, b, bs) for bs in range(1, 1 + math.ceil(n / 10)) for m in MODELS for b in BACKENDS][:n]


def visits(configs: list[tuple[str, str, int]], rounds: int = 5, sigma: float = 0.02, seed: int = 0,
           factor: dict | None = None, device: str = "cpu", machine: str = "m-a", torch: str = "2.5.1",
           base_ms: float = 10.0) -> pd.DataFrame:
    """The visits a sweep of `configs` would load: one row per config and round, its median log-normal around
    base_ms * (batch size) * factor[config] (1 where not named), as `ftax.store.dataframe.load` gives them."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(rounds):
        for model, backend, bs in configs:
            ms = base_ms * bs * (factor or {}).get((model, backend, bs), 1.0) * math.exp(rng.normal(0, sigma))
            rows.append({"model": model, "backend": backend, "dtype": "fp32", "device": device, "batch_size": bs,
                         "seq_len": 16, "overrides": "{}", "phase": "forward", "machine_id": machine,
                         "status": "ok", "median_ms": ms, "round": r, "rule": "quick/5", "schema_version": 3,
                         "env_torch_version": torch, "env_cpu_model": "Test CPU", "env_torch_threads": 2,
                         "config_key": f"{model}-{backend}-{bs}-{device}-{machine}"})
    return pd.DataFrame(rows)


def store(path, frame: pd.DataFrame) -> None:
    """Append each visit of `frame` to a JSONL store as the record a sweep writes."""
    for row in frame.to_dict("records"):
        config = schema.MeasureConfig.make(row["model"], row["backend"], row["dtype"], row["device"],
                                           row["batch_size"], row["seq_len"])
        env = {"machine_id": row["machine_id"], "cpu_model": row["env_cpu_model"],
               "torch_version": row["env_torch_version"], "torch_threads": 2}
        ms = row["median_ms"]
        jsonl.append(path, schema.Record(config=config, status="ok", message="", env=env,
                                         stats={"median_ms": ms, "ci_low_ms": ms * 0.99, "ci_high_ms": ms * 1.01},
                                         round=row["round"], rule=row["rule"]))


def test_a_known_slowdown_is_found_slower_and_the_rest_same():
    configs = grid(24)
    slowed = {c: 1.3 for c in configs[::4]}
    result = cmp.compare(visits(configs, seed=1), visits(configs, seed=2, factor=slowed))
    rows = result.rows.set_index(["model", "backend", "batch_size"])
    assert set(rows.index[rows["verdict"] == "slower"]) == set(slowed)
    assert (rows.drop(index=list(slowed))["verdict"] == "same").all()
    assert ((rows.loc[list(slowed), "ratio"] - 1.3).abs() < 0.05).all()
    assert result.corrected_over == 24


def test_same_distribution_sides_over_150_configs_raise_few_family_wise_false_alarms():
    configs = grid(150)
    seeds = 60
    alarmed = 0
    uncorrected = []
    for seed in range(seeds):
        result = cmp.compare(visits(configs, sigma=0.05, seed=2 * seed),
                             visits(configs, sigma=0.05, seed=2 * seed + 1))
        alarmed += result.rows["verdict"].isin(["slower", "faster"]).any()
        uncorrected.append(float((1 - (1 - result.rows["p_adjusted"]) ** (1 / 150) < 0.05).mean()))
    assert alarmed / seeds <= 0.10
    # Uncorrected, about 5% of configs would be flagged in every comparison: 7 of 150.
    assert 0.02 < np.mean(uncorrected) < 0.08


def test_without_run_spread_the_interval_is_welchs():
    a, b = visits(grid(1), rounds=4, sigma=0.1, seed=3), visits(grid(1), rounds=6, sigma=0.1, seed=4, factor=None)
    row = cmp.compare(a, b).rows.iloc[0]
    ci = stats.ttest_ind(np.log(b["median_ms"]), np.log(a["median_ms"]), equal_var=False).confidence_interval(0.95)
    assert row["low"] == pytest.approx(math.exp(ci.low)) and row["high"] == pytest.approx(math.exp(ci.high))


def test_stored_run_to_run_spread_widens_the_interval_and_is_said():
    a, b = visits(grid(6), seed=5), visits(grid(6), seed=6, machine="m-b")
    runs = [{"machine_id": "m-a", "plan": {"device": "cpu"},
             "process_level": [{"kind": "new (5 rounds)", "between_runs_cv": 0.06, "within_run_cv": 0.1}]}]
    spread = cmp.run_spread(runs)
    tau2 = (0.06 / stats.norm.ppf(0.75)) ** 2 - 0.1 ** 2 / 5
    assert spread[("m-a", "cpu")] == (pytest.approx(tau2), 1)
    plain, wider = cmp.compare(a, b), cmp.compare(a, b, spread=spread)
    assert (wider.rows["high"] / wider.rows["low"] > plain.rows["high"] / plain.rows["low"]).all()
    assert "run-to-run" in wider.notes[-1] and "round noise only" in wider.notes[-1]  # none for m-b
    assert "round noise only" in plain.notes[-1]


def test_too_noisy_and_one_round_verdicts():
    configs = grid(4)
    noisy = cmp.compare(visits(configs, rounds=3, sigma=0.3, seed=7), visits(configs, rounds=3, sigma=0.3, seed=8))
    assert set(noisy.rows["verdict"]) <= {"too noisy", "slower", "faster"}
    assert (noisy.rows.loc[noisy.rows["verdict"] == "too noisy", "min_detectable"] > 0.10).all()
    assert (noisy.rows["verdict"] == "too noisy").any()
    once = cmp.compare(visits(configs, rounds=1, seed=9), visits(configs, seed=10))
    assert (once.rows["verdict"] == "one round").all() and once.rows["low"].isna().all()
    assert once.rows["ratio"].notna().all() and once.corrected_over == 0


def test_a_gpu_run_matches_a_cpu_run_and_says_the_devices_differ():
    configs = grid(6)
    result = cmp.compare(visits(configs, seed=11), visits(configs, seed=12, device="cuda:0", machine="m-b"))
    assert len(result.rows) == 6 and "device_kind" not in result.identity
    assert "devices differ: cpu vs cuda" in result.notes
    assert "machine: m-a -> m-b" in result.differences
    both = [pd.concat([visits(configs, seed=s, device="cpu"), visits(configs, seed=s + 1, device="cuda")])
            for s in (13, 15)]
    kept = cmp.compare(*both)
    assert "device_kind" in kept.identity and len(kept.rows) == 12
    assert not any(note.startswith("devices differ") for note in kept.notes)


def test_fingerprint_differences_and_a_side_that_mixes_series():
    configs = grid(4)
    result = cmp.compare(visits(configs, seed=16), visits(configs, seed=17, torch="2.6.0"))
    assert result.differences == ["torch_version: 2.5.1 -> 2.6.0"]
    mixed = pd.concat([visits(configs, seed=18), visits(configs, seed=19, torch="2.6.0")])
    with pytest.raises(SelectionError, match="torch_version"):
        cmp.compare(visits(configs, seed=20), mixed)


def test_summaries_per_backend_and_family_hold_the_geometric_mean_and_counts():
    configs = grid(20)
    slowed = {c: 1.5 for c in configs if c[1] == "onnxruntime"}
    result = cmp.compare(visits(configs, sigma=0.01, seed=21), visits(configs, sigma=0.01, seed=22, factor=slowed))
    summary = result.summary.set_index(["by", "group"])
    onnx, eager = summary.loc[("backend", "onnxruntime")], summary.loc[("backend", "eager")]
    assert onnx["configs"] == 10 and onnx["slower"] == 10 and onnx["low"] < 1.5 < onnx["high"]
    assert eager["same"] == 10 and eager["low"] < 1 < eager["high"]
    assert set(summary.loc["family"].index) == {"bert", "gpt2", "llama", "mobilenet"}
    assert summary.loc[("family", "bert"), "configs"] == 8


def test_filters_select_by_short_names_and_say_what_is_wrong():
    frame = pd.concat([visits(grid(2), torch="2.5.1+cpu"), visits(grid(2), torch="2.6.0", machine="m-b")])
    assert len(cmp.select(frame, cmp.parse_filters(["torch_version=2.5"]))) == 10
    assert len(cmp.select(frame, cmp.parse_filters(["machine=m-b", "batch_size=1"]))) == 10
    with pytest.raises(SelectionError, match="no column 'torchh'.*valid: .*torch_version"):
        cmp.select(frame, cmp.parse_filters(["torchh=2"]))
    with pytest.raises(SelectionError, match="A: no visit has machine=m-z; machine_id holds m-a, m-b"):
        cmp.select(frame, cmp.parse_filters(["machine=m-z"]), "A")
    with pytest.raises(SelectionError, match="column=value"):
        cmp.parse_filters(["machine"])


@pytest.fixture
def two_stores(tmp_path):
    configs = grid(6)
    a, b = tmp_path / "a" / "m-a.jsonl", tmp_path / "b" / "m-b.jsonl"
    store(a, visits(configs, sigma=0.01, seed=23))
    store(b, visits(configs, sigma=0.01, seed=24, machine="m-b", factor={configs[0]: 1.4}))
    return a, b


def test_cli_prints_the_table_summaries_and_differences(two_stores, capsys):
    a, b = two_stores
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "B/A" in out and "bert-tiny eager fp32 b1 s16 cpu" in out and "slower" in out
    assert "backend eager" in out and "family bert" in out and "machine: m-a -> m-b" in out


def test_cli_json_schema(two_stores, capsys):
    a, b = two_stores
    assert cli.main(["compare", str(a), str(b.parent), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"configs", "summary", "differences", "notes", "correction"} <= set(data)
    assert len(data["configs"]) == 6
    for config in data["configs"]:
        assert {"model", "backend", "batch_size", "ratio", "low", "high", "verdict", "min_detectable"} <= set(config)
        assert config["verdict"] in cmp.VERDICTS and config["low"] <= config["ratio"] <= config["high"]
    assert {"by", "group", "ratio", "low", "high", "configs"} <= set(data["summary"][0])


def test_cli_markdown_and_filters_on_one_store(two_stores, tmp_path, capsys):
    a, b = two_stores
    both = tmp_path / "both"
    both.mkdir()
    (both / "m-a.jsonl").write_text(a.read_text())
    (both / "m-b.jsonl").write_text(b.read_text())
    assert cli.main(["compare", str(both), "--a", "machine=m-a", "--b", "machine=m-b", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### ftax compare: 1 slower, 5 same") and "| config |" in out


def test_cli_errors_are_one_line(two_stores, capsys):
    a, _ = two_stores
    assert cli.main(["compare", str(a), "--a", "gpu=x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no column 'gpu'" in err[0] and "machine" in err[0]
    assert cli.main(["compare", str(a)]) == 2
    assert "--a/--b" in capsys.readouterr().err
    assert cli.main(["compare", str(a), str(a.parent / "missing.jsonl")]) == 2
    assert "B: no records" in capsys.readouterr().err


def test_cli_fail_on_regression_exits_1_and_names_the_config(two_stores, capsys):
    a, b = two_stores
    assert cli.main(["compare", str(a), str(b), "--fail-on-regression", "20"]) == 1
    err = capsys.readouterr().err
    assert "1 configs slower by more than 20%" in err and "bert-tiny eager fp32 b1 s16 cpu" in err
    assert cli.main(["compare", str(a), str(b), "--fail-on-regression", "60"]) == 0
