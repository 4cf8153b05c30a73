"""The interleaved A/B: alternation, one store per side, pairing by round, corrected verdicts, resume."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftax.read.ab_pairs import PAIR_KEYS, ab_verdicts, paired_rounds, verdict_counts
from ftax.store import dataframe, jsonl
from ftax.store.env import fingerprint
from ftax.store.errors import EXIT_USAGE, InvalidConfigError
from ftax.store.schema import Record
from ftax.study import ab_run
from ftax.study.ab_run import AbOptions, Side, order_of, run_ab, side_grids
from ftax.sweep.grids import study_configs

SPEC = {"models": ["bert-tiny"], "backends": ["eager", "torchscript"], "batch_sizes": [1, 2, 4], "seq_lens": [16]}


@pytest.fixture(autouse=True)
def private_lock(tmp_path, monkeypatch):
    """A lock file of the test's own: a sweep another process runs on this machine does not block the test."""
    monkeypatch.setenv("FTAX_LOCK_FILE", str(tmp_path / "lock"))


class FakeSides:
    """A side runner without processes: stores one ok visit per config of the side's round, B's `factor` times A's
    latency, both under the round's drift; records the calls in order. `fail` = {(side, round)} exits 1 storing
    nothing."""

    def __init__(self, factor: float = 1.0, fail: set | None = None, seed: int = 0):
        self.calls: list[tuple[str, int]] = []
        self.factor, self.fail = factor, fail or set()
        self.drift = np.exp(np.random.default_rng(seed).normal(0, 0.25, 64))  # one machine state a round
        self.noise = np.random.default_rng(seed + 1)

    def __call__(self, name: str, round_: int, options: AbOptions) -> tuple[int, str]:
        self.calls.append((name, round_))
        if (name, round_) in self.fail:
            return 1, "Traceback ...\nImportError: no module named torch\n"
        for i, config in enumerate(study_configs(side_grids(options, name))):
            factor = self.factor if name == "b" else 1.0
            ms = (1 + i) * self.drift[round_] * factor * math.exp(self.noise.normal(0, 0.02))
            stats = {"median_ms": ms, "ci_low_ms": ms, "ci_high_ms": ms}
            jsonl.append(jsonl.store_path(options.folder(name), fingerprint()["machine_id"]),
                         Record(config=config, status="ok", message="", env=fingerprint(), stats=stats, round=round_,
                                rule=ab_run.rule_name(options)))
        return 0, ""


def _options(tmp_path: Path, rounds: int = 4, **kw) -> AbOptions:
    return AbOptions(out=tmp_path / "ab", spec=SPEC, profile="smoke", device="cpu", rounds=rounds, **kw)


def test_sides_alternate_round_by_round():
    assert [order_of(r) for r in range(4)] == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]


def test_run_ab_alternates_and_stores_each_side_in_its_own_folder(tmp_path):
    sides = FakeSides()
    run = run_ab(_options(tmp_path), runner=sides, log=lambda line: None)
    assert sides.calls == [("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2), ("b", 3), ("a", 3)]
    a, b = dataframe.load(run.a_dir), dataframe.load(run.b_dir)
    assert run.a_dir != run.b_dir and len(a) == len(b) == 4 * 6
    assert sorted(a["round"].unique()) == [0, 1, 2, 3] and set(a["rule"]) == {"smoke/4"}
    assert [c["round"] for c in jsonl.iter_side(run.a_dir.parent, ab_run.RUNS_KIND)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_progress_names_side_and_round(tmp_path):
    lines: list[str] = []
    run_ab(_options(tmp_path, rounds=2), runner=FakeSides(), log=lines.append)
    assert len(lines) == 4 and "round 2/2, side B" in lines[2] and "elapsed" in lines[2]


def test_a_failed_side_is_a_record_and_a_rerun_resumes_only_what_is_missing(tmp_path):
    options = _options(tmp_path, rounds=3)
    first = run_ab(options, runner=FakeSides(fail={("b", 1)}), log=lambda line: None)
    assert [(c["side"], c["round"]) for c in first.failed] == [("b", 1)]
    assert "ImportError" in first.failed[0]["stderr_tail"]
    again = FakeSides()
    second = run_ab(options, runner=again, log=lambda line: None)
    assert again.calls == [("b", 1)] and not second.failed
    assert run_ab(options, runner=FakeSides(), log=lambda line: None).children == []


def test_an_interrupted_run_keeps_what_it_measured_and_resumes_there(tmp_path):
    class Interrupted(FakeSides):
        def __call__(self, name, round_, options):
            if (name, round_) == ("a", 1):
                raise KeyboardInterrupt
            return super().__call__(name, round_, options)

    options = _options(tmp_path, rounds=3)
    with pytest.raises(KeyboardInterrupt):
        run_ab(options, runner=Interrupted(), log=lambda line: None)
    assert sorted(dataframe.load(options.folder("b"))["round"].unique()) == [0, 1]
    again = FakeSides()
    run_ab(options, runner=again, log=lambda line: None)
    assert again.calls == [("a", 1), ("a", 2), ("b", 2)]


def test_a_side_from_command_line_values():
    side = ab_run.side_from("/venvB/bin/python", 2, ["width=256", "depth=11"])
    assert side.overrides == (("depth", 11), ("width", 256)) and side.python == "/venvB/bin/python"
    assert ab_run.side_from().threads is None
    for bad in (["depth"], ["depth=x"]):
        with pytest.raises(InvalidConfigError, match="depth=10"):
            ab_run.side_from(overrides=bad)
    with pytest.raises(InvalidConfigError, match="threads"):
        ab_run.side_from(threads=0)


def test_side_overrides_and_threads_reach_the_child(tmp_path):
    options = replace(_options(tmp_path), a=Side(threads=1, overrides=(("depth", 10),)),
                      b=Side(threads=2, overrides=(("depth", 11),)), spec={**SPEC, "models": ["synthetic-linear"]})
    payload = json.loads(json.dumps(ab_run.child_payload("b", 2, options)))
    assert payload["threads"] == 2 and payload["round"] == 2 and payload["spec"]["overrides"] == [{"depth": 11}]
    assert payload["out"].endswith("/b")
    assert {c.overrides for c in study_configs(side_grids(options, "a"))} == {(("depth", 10),)}
    assert "2 threads, depth=11" in options.b.label()


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidConfigError, match="at least 2 rounds"):
        run_ab(_options(tmp_path, rounds=1), runner=FakeSides())
    with pytest.raises(InvalidConfigError):
        run_ab(AbOptions(out=tmp_path, spec={**SPEC, "models": ["no-such-model"]}, profile="smoke", device="cpu"),
               runner=FakeSides())


def test_pairing_by_round_finds_a_known_10_percent_change_through_the_stores(tmp_path):
    run = run_ab(_options(tmp_path, rounds=5), runner=FakeSides(factor=1.1), log=lambda line: None)
    table = ab_verdicts(dataframe.load(run.a_dir), dataframe.load(run.b_dir))
    assert len(table) == 6 and set(table["rounds"]) == {5}
    assert verdict_counts(table)["slower"] == 6
    assert ((table["low"] < 1.1) & (1.1 < table["high"])).all()


def _visits(n_configs: int, rounds: int, factor: float, seed: int, drift_sd: float = 0.25,
            noise_sd: float = 0.03) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Visits of A and B: each round one machine state shared by both sides (drift), plus each visit's own noise."""
    rng = np.random.default_rng(seed)
    rows = {"a": [], "b": []}
    for c in range(n_configs):
        for r in range(rounds):
            drift = math.exp(rng.normal(0, drift_sd))
            for name, f in (("a", 1.0), ("b", factor)):
                rows[name].append({"model": "m", "backend": "eager", "dtype": "fp32", "batch_size": c + 1,
                                   "seq_len": 16, "phase": "forward", "round": r, "status": "ok",
                                   "median_ms": (c + 1) * f * drift * math.exp(rng.normal(0, noise_sd))})
    return pd.DataFrame(rows["a"]), pd.DataFrame(rows["b"])


def test_pairs_match_rounds_and_drop_failed_or_unpaired_visits():
    a, b = _visits(2, 3, 1.0, seed=0)
    a.loc[0, "status"] = "error"
    b = b[~((b["batch_size"] == 2) & (b["round"] == 2))]
    pairs = paired_rounds(a, b)
    assert len(pairs) == 4
    merged = a.merge(b, on=[*PAIR_KEYS, "round"], suffixes=("_a", "_b")).iloc[1]
    row = pairs[(pairs["batch_size"] == merged["batch_size"]) & (pairs["round"] == merged["round"])].iloc[0]
    assert row["ratio"] == pytest.approx(merged["median_ms_b"] / merged["median_ms_a"])


def test_a_10_percent_change_under_25_percent_drift_is_found_in_90_percent_of_configs():
    """Drift this large hides a 10% change from two unpaired runs; pairing by round divides it out, leaving each
    visit's own noise (1% here: at 5 rounds and 50 configs, 2% already halves the detections)."""
    a, b = _visits(50, 5, 1.1, seed=1, noise_sd=0.01)
    table = ab_verdicts(a, b)
    assert verdict_counts(table)["slower"] >= 45
    assert table["min_detectable"].median() < 0.1


def test_same_stack_pairs_over_many_configs_give_few_false_alarms():
    """Sidak over 200 configs: a false alarm anywhere in a run should be rare, so over 10 runs of 200 configs at
    most a handful of configs are called slower or faster."""
    alarms = 0
    for seed in range(10):
        table = ab_verdicts(*_visits(200, 5, 1.0, seed=100 + seed))
        assert np.allclose(table["confidence"], 0.95 ** (1 / 200))
        counts = verdict_counts(table)
        alarms += counts["slower"] + counts["faster"]
    assert alarms <= 5


def test_the_correction_widens_the_interval_and_one_round_gives_no_verdict():
    a, b = _visits(40, 5, 1.0, seed=3)
    wide = ab_verdicts(a, b).iloc[0]
    narrow = ab_verdicts(a[a["batch_size"] == 1], b[b["batch_size"] == 1]).iloc[0]
    assert narrow["confidence"] == pytest.approx(0.95) and wide["min_detectable"] > narrow["min_detectable"]
    one = ab_verdicts(a[a["round"] == 0], b[b["round"] == 0])
    assert set(one["verdict"]) == {"one round"} and one["min_detectable"].isna().all()
    assert verdict_counts(ab_verdicts(a.iloc[:0], b))["same"] == 0


@pytest.mark.slow
def test_a_real_ab_run_on_a_smoke_grid_pairs_its_two_rounds(tmp_path):
    options = AbOptions(out=tmp_path / "ab", a=Side(threads=1), b=Side(threads=1), profile="smoke", device="cpu",
                        spec={"models": ["bert-tiny"], "backends": ["eager"], "batch_sizes": [1], "seq_lens": [16]},
                        rounds=2)
    run = run_ab(options, log=lambda line: None)
    assert not run.failed and len(run.children) == 4
    table = ab_verdicts(dataframe.load(run.a_dir), dataframe.load(run.b_dir))
    assert table["rounds"].tolist() == [2] and table["verdict"].iloc[0] != "one round"
    assert run_ab(options, log=lambda line: None).children == []


def _ab_power():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ab_power.py"
    spec = importlib.util.spec_from_file_location("ab_power", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ab_power", module)
    spec.loader.exec_module(module)
    return module


def test_ab_power_reads_the_calibration_grid_and_counts_its_rates(tmp_path):
    power = _ab_power()
    spec, profile = power.spec_of_flags(power.GRID)
    assert profile == "quick" and spec["batch_sizes"] == [1, 2, 4, 8] and spec["models"] == ["bert-tiny"]
    same = AbOptions(out=tmp_path, spec=spec, profile=profile, device="cpu")
    assert len(study_configs(side_grids(same, "a"))) == 12
    a, b = _visits(20, 5, 1.1, seed=4, noise_sd=0.01)
    table = ab_verdicts(a, b)
    detection, alarms = power.summarize("detection", [table]), power.summarize("false alarms", [table])
    assert detection["hits"] == verdict_counts(table)["slower"] and detection["n"] == 20
    assert alarms["hits"] == detection["hits"] + verdict_counts(table)["faster"]
    assert detection["low"] <= detection["rate"] <= detection["high"]
    assert detection["runs_with_any"]["hits"] == int(detection["hits"] > 0)
    assert power.rate(0, 0)["n"] == 0 and power.percent(50.0) == "over 1000%"


def test_a_wide_interval_holding_one_is_too_noisy_and_mixed_rules_are_refused():
    a, b = _visits(3, 3, 1.0, seed=5, drift_sd=0.25, noise_sd=0.2)
    table = ab_verdicts(a, b, min_change=0.10)
    quiet = table[(table["low"] <= 1) & (table["high"] >= 1)]
    assert len(quiet) and (quiet["verdict"] == "too noisy").all() and (quiet["min_detectable"] > 0.10).all()
    assert set(ab_verdicts(a, b, min_change=1e9)["verdict"]) <= {"same", "slower", "faster"}
    mixed = a.assign(rule=["quick/5" if r == 0 else "quick/3" for r in a["round"]])
    with pytest.raises(InvalidConfigError, match="several stop rules"):
        ab_verdicts(mixed, b)


def test_ftax_compare_run_measures_both_sides_and_prints_paired_verdicts(tmp_path, monkeypatch, capsys):
    """`ftax compare --run` is the command face of run_ab + ab_verdicts: the sides' flags reach the run, and the
    known 10% change of the fake sides comes out `slower` in every config, in text and in JSON."""
    from ftax.cli import main

    sides, seen = FakeSides(factor=1.1), []

    def fake_run_ab(options, log=None, runner=None):
        seen.append(options)
        return run_ab(options, runner=sides, log=log)

    monkeypatch.setattr(ab_run, "run_ab", fake_run_ab)
    grid = tmp_path / "grid.yaml"
    grid.write_text("models: [bert-tiny]\nbackends: [eager, torchscript]\nbatch_sizes: [1, 2, 4]\nseq_lens: [16]\n")
    argv = ["compare", "--run", "--grid", str(grid), "--out", str(tmp_path / "ab"), "--profile", "smoke",
            "--device", "cpu", "--rounds", "5", "--a-threads", "1", "--b-threads", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 slower" in out and "B/A (paired)" in out
    assert (seen[0].a.threads, seen[0].b.threads, seen[0].rounds) == (1, 2, 5)
    assert main([*argv, "--json"]) == 0  # the stores are complete: the rerun measures nothing and reads them
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6 and {r["verdict"] for r in rows} == {"slower"}
    assert main(["compare", "--run", str(tmp_path), "--grid", str(grid)]) == EXIT_USAGE  # stores and --run: refused
