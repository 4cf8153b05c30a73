"""Sentences and tables from hand-built frames: each states the values it was given, names only what varies."""
from __future__ import annotations

import pandas as pd
import pytest

from ftax.read import analysis, findings, load_notes
from ftax.read.rows import focus, rows_of, with_columns
from ftax.study.studies import grid_rows
from ftax.sweep.grids import Grid
from ftax.read.text import join, sig


def _rows(**common) -> pd.DataFrame:
    """Config rows (as `ftax.read.estimates.per_config` gives them) of one batch curve."""
    base = dict(status="ok", machine_id="a", machine_label="CPU A (CPU)", device="cpu", model="bert-tiny",
                backend="eager", dtype="fp32", seq_len=16, overrides="{}", message="")
    return pd.DataFrame([{**base, **common, "batch_size": b, "estimate_ms": m}
                         for b, m in ((1, 1.0), (4, 1.1), (16, 2.0))])


def test_focus_shows_one_machine_this_one_first():
    frame = pd.concat([_rows(), _rows(machine_id="b", machine_label="GPU B (GPU)", device="cuda"),
                       _rows(machine_id="c", machine_label="GPU C (GPU)", device="cuda")])
    rows, label = focus(frame, "b", "cpu")
    assert label == "CPU A (CPU)" and set(rows.machine_id) == {"a"}  # b has no cpu rows: most ok rows wins
    rows, label = focus(frame[frame.machine_id != "a"], "a", "cpu")
    assert label in {"GPU B (GPU)", "GPU C (GPU)"} and rows.machine_label.nunique() == 1
    rows, label = focus(pd.DataFrame(), "a", "cpu")
    assert label is None and "machine_label" in rows.columns and rows.empty


def test_phrases_state_measured_values_and_name_only_what_varies():
    frame = pd.concat([_rows(), _rows(model="bert-mini")])
    assert findings.scaling_phrases(_rows(), "batch_size", ["model"]) == [
        "bert-tiny: 16x the batch (1 to 16) costs 2x the latency (1 to 2 ms)"]
    assert findings.latency_phrases(frame, 4, ["model"]) == ["bert-mini 1.1 ms", "bert-tiny 1.1 ms"]
    assert sig(1234.5) == "1,230" and sig(0.012345) == "0.0123"
    assert sig(float("nan")) == "n/a"
    assert findings.no_data(frame, "here") is None
    assert "Nothing to show" in findings.no_data(frame.assign(status="unsupported"), "**X**")
    assert join(["a", "b", "c"]) == "a, b and c" and join([], "none") == "none"


def test_not_ok_lists_each_failure_reason_once():
    frame = pd.concat([_rows(), _rows(backend="cudagraph", status="unsupported", message="needs CUDA | a GPU")])
    text = load_notes.not_ok(frame)
    assert text.startswith("3 of 6 configs did not measure ok")
    assert "| unsupported | bert-tiny | cudagraph | fp32 | 1, 4, 16 | needs CUDA / a GPU |" in text
    assert load_notes.not_ok(_rows()) == "All 3 configs shown measured ok."
    assert load_notes.not_ok(pd.DataFrame()).startswith("No records yet")


def test_rows_of_keeps_the_configs_of_the_named_grids():
    grids = [Grid("batch", models=("bert-tiny",), batch_sizes=(1, 4), seq_lens=(16,), device="cpu"),
             Grid("one", models=("bert-mini",), batch_sizes=(1,), seq_lens=(16,), device="cpu")]
    frame = pd.concat([_rows(), _rows(model="bert-mini")])
    assert set(rows_of(frame, grid_rows(grids), names=["batch"]).batch_size) == {1, 4}
    assert set(rows_of(frame, grid_rows(grids), varying="batch_sizes").model) == {"bert-tiny"}
    assert rows_of(pd.DataFrame(), grid_rows(grids)).empty
    table = load_notes.grid_table(grids, grid_rows(grids))
    assert "| batch | bert-tiny | eager | fp32 | 1, 4 | 16 | 2 |" in table


def test_with_columns_adds_what_a_loader_left_out():
    frame = with_columns(pd.DataFrame([{"status": "error", "model": "bert-tiny"}]))
    assert {"flops", "batch_size", "machine_label"} <= set(frame.columns)
    assert frame.loc[0, "status"] == "error"


def test_knee_and_speedup_phrases_come_from_the_fits():
    visit = _rows().iloc[0].drop("estimate_ms").to_dict()  # one visit per config (no rounds)
    rows = pd.DataFrame([{**visit, "batch_size": b, "median_ms": max(1.0, b / 8)} for b in (1, 2, 4, 8, 16, 32, 64)])
    phrases = findings.knee_phrases(analysis.framework_bound_regimes(rows), ["model"])
    assert phrases == ["bert-tiny: no framework-bound regime in the measured range that the data can confirm "
                       "(T(4)/T(1) = 1x (one round: no between-run interval))"]  # no interval: the rule cannot decide
    rounds = pd.concat([rows.assign(round=r, median_ms=rows.median_ms * (1 + r / 10)) for r in range(3)])
    flat = findings.knee_phrases(analysis.framework_bound_regimes(rounds.assign(median_ms=1.0 + rounds["round"])),
                                 ["model"])
    assert flat == ["bert-tiny: flat at small batch (T(4)/T(1) = 1x [1, 1], 3 rounds) and not surely above 1.25x "
                    "batch 1's latency up to batch 64, the largest measured"]
    knee = findings.knee_phrases(analysis.framework_bound_regimes(rounds), ["model"])
    assert knee == ["bert-tiny: flat at small batch (T(4)/T(1) = 1x [1, 1], 3 rounds); leaves the flat regime "
                    "(T(b)/T(1) above 1.25 with its interval) at batch 16"]
    both = pd.concat([rows, rows.assign(backend="onnxruntime", median_ms=rows.median_ms / 2)])
    speedups = analysis.speedups(both)
    assert findings.speedup_phrases(speedups, 1) == ["onnxruntime 2x (one round: no between-run interval)"]


def test_precision_phrases_and_flops_doubling():
    paired = pd.DataFrame([{"model": "bert-tiny", "dtype": "fp16", "batch_size": b, "ratio": r, "ratio_low": r * 0.9,
                            "ratio_high": r * 1.1, "rounds": 3} for b, r in ((1, 0.5), (4, 0.8), (16, 1.0))])
    assert findings.precision_phrases(paired) == ["bert-tiny at batch 1: fp16 2x [1.8, 2.2], 3 rounds the fp32 latency",
                                                  "bert-tiny at batch 16: fp16 1x [0.91, 1.1], 3 rounds the fp32 "
                                                  "latency"]
    assert findings.precision_phrases(None) == [] and findings.precision_phrases(paired.iloc[0:0]) == []
    grid = pd.DataFrame([{**_rows().iloc[0].to_dict(), "width": w, "depth": d, "estimate_ms": float(d),
                          "flops": float(w * w * d)} for w in (64, 128) for d in (1, 2)])
    assert findings.doubling_factor(grid, "depth", 1) == pytest.approx(2.0)
    assert findings.doubling_factor(grid, "width", 1) == pytest.approx(1.0)


def test_loaded_warns_only_about_records_measured_on_an_overloaded_machine():
    calm = _rows().assign(env_load_avg_1m=[0.5, 1.9, 2.0], env_cpu_count=2)
    assert load_notes.loaded_machine_note(calm) == ""
    assert load_notes.loaded_machine_note(_rows()) == ""  # records without a load average
    busy = calm.assign(env_load_avg_1m=[0.5, 3.5, 2.5])
    note = load_notes.loaded_machine_note(busy)
    assert "2 of 3 ok configs" in note and "up to 3.5" in note and "2 cores" in note
    assert "2 cores: bert-tiny eager fp32 seq 16 at batch 4 and 16." in note  # named, as in `config_list`
    assert load_notes.loaded_machine_note(busy.assign(status="error")) == ""


def test_config_list_names_the_phase_only_where_a_decoder_step_is_listed():
    base = dict(model="gpt2", backend="eager", dtype="fp32", seq_len=128, status="ok")
    steps = pd.DataFrame([{**base, "batch_size": b, "phase": p} for p in ("decode", "prefill") for b in (1, 4)])
    assert load_notes.config_list(steps) == "decode at batch 1 and 4; prefill at batch 1 and 4"
    forward = pd.DataFrame([{**base, "batch_size": b, "phase": "forward"} for b in (1, 4)])
    assert load_notes.config_list(forward) == "gpt2 eager fp32 seq 128 at batch 1 and 4"


def test_an_interval_never_prints_its_two_bounds_alike():
    assert findings.ratio_text(1.21, 1.17, 1.24, 5) == "1.21x [1.17, 1.24], 5 rounds"
    assert findings.ratio_text(2.1, 1.9, 2.3, 3) == "2.1x [1.9, 2.3], 3 rounds"  # two digits suffice
    assert findings.ratio_text(1.5, 1.5, 1.5, 3) == "1.5x [1.5, 1.5], 3 rounds"  # no spread: nothing to show


def test_where_a_regime_ends_is_said_by_claim_a_with_its_interval_never_by_a_point_ratio():
    """A curve whose point T(2)/T(1) is 1.21 (past a 20% point rule) while T(4)/T(1)'s interval contains 1.25: the
    sentence quotes claim (a)'s statistic with its interval and says the data cannot decide."""
    t4 = (1.05, 1.45, 1.15, 1.40, 1.20)  # per-round T(4)/T(1): interval about [1.05, 1.45]
    visits = pd.DataFrame([dict(status="ok", machine_id="a", machine_label="CPU A (CPU)", device="cpu",
                                model="bert-tiny", backend="eager", dtype="fp32", seq_len=16, overrides="{}",
                                phase="forward", round=r, batch_size=b, median_ms=m)
                           for r, ratio in enumerate(t4) for b, m in ((1, 1.0), (2, 1.21), (4, ratio))])
    regimes = analysis.framework_bound_regimes(visits)
    assert regimes["regime"].tolist() == [analysis.UNDECIDED]
    (phrase,) = findings.knee_phrases(regimes, ["model"])
    low, high = regimes.loc[0, ["t4_low", "t4_high"]]
    assert low < analysis.FLAT_MAX_RATIO < high
    assert phrase.startswith("bert-tiny: no framework-bound regime in the measured range that the data can confirm "
                             "(T(4)/T(1) = ") and "5 rounds: the interval contains 1.25)" in phrase
    assert not hasattr(findings, "rise_phrases")


def test_numbers_reads_any_column_as_floats_and_is_defined_once():
    """`rows.numbers` is the one reading of an optional column as numbers: no module keeps a private copy."""
    import ast
    from pathlib import Path

    from ftax.read.rows import numbers
    frame = pd.DataFrame({"a": [1, None, "2.5", "n/a"]}, index=[3, 5, 7, 9])
    assert numbers(frame, "a").tolist()[::2] == [1.0, 2.5] and numbers(frame, "a").isna().tolist() == [
        False, True, False, True]
    missing = numbers(frame, "b")
    assert missing.isna().all() and list(missing.index) == [3, 5, 7, 9]

    def is_copy(node: ast.AST) -> bool:
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or not isinstance(body[0].value, ast.IfExp):
            return False
        call = body[0].value.body
        return isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "to_numeric"

    package = Path(__file__).resolve().parents[1] / "ftax"
    copies = [f"{path.relative_to(package)}:{node.name}" for path in sorted(package.rglob("*.py"))
              for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
              if isinstance(node, ast.FunctionDef) and is_copy(node)]
    assert copies == ["read/rows.py:numbers"]
