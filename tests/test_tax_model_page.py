"""Page 08 (a model of the tax) from hand-built records and a stored probe: the host-cost table, the scores
against the baselines, the inflection table. Nothing is measured."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from fake_study import FakeStudy
from ftax import pages
from ftax.read import curve_probes, tax_model, tax_model_validation
from ftax.store import jsonl
from ftax.pages import tax_model as page
from ftax.pages import tax_model_fresh
from ftax.measure.probe import Probe
from ftax.store.schema import MeasureConfig, Record
from ftax.sweep.grids import Grid

BATCHES = (1, 2, 4, 8, 16, 32, 64)
PROBE = Probe(device="cpu", dtype="fp32", gemm_n=(64, 1024), gemm_flops=(1e6, 1e9), gemm_gflops=(50.0, 50.0),
              bandwidth_gbs=20.0, threads=2)
HOST_MS, PER_ITEM_MS = 3.0, 2.0  # a curve that is exactly H + work: the model must get it, the baselines not


def _record(batch: int, seq: int, median_ms: float, **kw) -> dict:
    base = dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu",
                model="bert-tiny", backend="eager", dtype="fp32", seq_len=seq, overrides="{}", batch_size=batch,
                median_ms=median_ms, ci_low_ms=median_ms * 0.97, ci_high_ms=median_ms * 1.03, parity_ok=True,
                flops=1e8 * batch, gemm_calls=16, round=0, rule="quick/3", timestamp="2026-11-29T10:00:00+00:00")
    base.update(kw)
    return base


def _records() -> list[dict]:
    """Three rounds a percent apart: narrow intervals, so the page can say what a re-run could not flip."""
    rows = []
    for round_, drift in enumerate((1.0, 1.01, 0.99)):
        rows += [_record(b, 128, (HOST_MS + PER_ITEM_MS * b) * drift, round=round_,
                         decomposition_overhead_ms=1.0 + 0.1 * b if round_ == 0 else None,
                         decomposition_busy_ms=PER_ITEM_MS * b if round_ == 0 else None) for b in BATCHES]
        rows.append(_record(1, 1, (HOST_MS + 0.02) * drift, flops=1e6, round=round_))
    return rows


def _data(tmp_path) -> FakeStudy:
    frame = pd.DataFrame(_records())
    jsonl.append_side(tmp_path, "probes", "a", {**PROBE.to_dict(), "machine_id": "a"})
    grid = Grid("tax", models=("bert-tiny",), batch_sizes=BATCHES, seq_lens=(128, 1), device="cpu", decompose=True)
    return FakeStudy(frame, [grid], results_dir=str(tmp_path), all=frame)


def test_host_estimates_set_four_estimates_side_by_side(tmp_path):
    data = _data(tmp_path)
    v = pages.view(data, "cpu")
    estimates = page.host_estimates(v, page.every_config(data, "a"))
    [row] = estimates.to_dict("records")
    assert row["smallest shape ms"] == HOST_MS + 0.02
    assert abs(row["intercept ms"] - HOST_MS) < 1e-6  # the curve is a line in FLOPs
    assert row["decomposition ms, largest"] / row["decomposition ms, batch 1"] > 1.25
    table, finding = page.host_table(estimates), page.host_finding(v, estimates)
    assert table.startswith("| model | runtime |") and "| bert-tiny | eager | 128 | 1-64 |" in table
    assert "flat (within 1.25x either way) for 0 of 1 decomposed curves, an observation, not a finding" in finding
    assert "the smallest shape's latency for 1 of 1" in finding


def test_scores_name_the_model_the_baselines_and_the_bar(tmp_path):
    data = _data(tmp_path)
    v = pages.view(data, "cpu")
    configs = page.every_config(data, "a")
    checked = page.validation(v, configs)
    assert set(checked["model_host"]) == {tax_model.HOST_PREFERENCE[0]}
    assert (checked["err_smallest"].abs() < 0.05).all()  # H from the smallest shape is nearly exact here
    text = page.scores_markdown(v, configs)
    assert "within 25% at every held-out batch for 1 of 1 curves (100%) at the measured estimates" in text
    assert "1 curves stay within 25% wherever the point lies and 0 have a point outside it" in text
    assert "meets the bar of 80% whatever a re-run gives within the curves' intervals" in text
    assert "against 0% for the better baseline" in text and "Misses at the estimates: none" in text
    assert "These records count the bytes written not at all (records before schema 5); 1 probes" in text
    score = tax_model_validation.scores(checked).set_index("predictor")
    assert score.loc["constant", "curves_surely_out"] == 1  # T(1) everywhere is far off whatever a re-run gives
    figure, caption = page.validation_figure(v, configs)
    assert figure.axes and "6 points from 1 curves" in caption


def test_two_point_form_and_the_host_window_are_read_from_the_same_curves(tmp_path):
    data = _data(tmp_path)
    v = pages.view(data, "cpu")
    configs = page.every_config(data, "a")
    text = page.scores_markdown(v, configs)
    # the curve is a line: the line through batch 1 and 8 is within 25% at 2, 4, 16, 32 and 64
    assert "a line through batch 1 and batch 8 (or the nearest measured) is within 25% at every other batch for " \
           "1 of 1 curves" in text and "the two-point form meets the bar of 80%" in text
    windows = page.host_windows(v, configs)
    table, window = page.host_window_table(windows), page.host_window_summary(v, windows)
    row = next(line for line in table.splitlines() if line.startswith("| bert-tiny eager fp32 128 |"))
    low, high = (int(x.rstrip("%")) for x in row.split(" | ")[2].split("-"))
    assert low < round(100 * HOST_MS / (HOST_MS + PER_ITEM_MS)) < high  # the true H lies in the window
    assert "within 25% at every measured batch for 1 of 1 curves" in window
    assert "the smallest shape's in 1 of 1" in window  # H from the smallest shape is nearly exact here


def _stored_run(results_dir, name: str, rows: list[dict]) -> None:
    """A fresh run as benchmarks/tax_model_fresh.py stores it: records and probes in a directory of their own."""
    run = results_dir / tax_model_validation.FRESH_RUNS / name
    for row in rows:
        config = MeasureConfig.make(row["model"], row["backend"], row["dtype"], "cpu", row["batch_size"],
                                    row["seq_len"])
        stats = {"median_ms": row["median_ms"], "ci_low_ms": row["ci_low_ms"], "ci_high_ms": row["ci_high_ms"], "n": 5}
        jsonl.append(run / "a.jsonl", Record(config=config, status="ok", message="", env={
            "machine_id": "a", "cpu_model": "CPU A", "cpu_count": 2, "load_avg_1m": 0.5}, stats=stats,
            flops=row["flops"], gemm_calls=row["gemm_calls"], round=row["round"], rule="quick"))
    jsonl.append_side(run, "probes", "a", {**PROBE.to_dict(), "machine_id": "a"})


def test_fresh_runs_are_scored_each_with_their_own_probe(tmp_path):
    data = _data(tmp_path)
    v = pages.view(data, "cpu")
    assert "No fresh run is stored" in tax_model_fresh.fresh_runs_markdown(v)
    _stored_run(tmp_path, "a-20261204T1500", [r for r in _records() if r["seq_len"] == 128])
    text = tax_model_fresh.fresh_runs_markdown(v)
    assert "bytes counted: no; probe's write ladder: no; probes per precision: 1)" in text and "(21 visits;" in text
    assert "| the model as `ftax predict` runs it" in text and "| 1 | 1 (100%) |" in text
    assert "on this run (1 of 1 curves within 25% at the estimates; misses: none)" in text
    run = tmp_path / tax_model_validation.FRESH_RUNS / "a-20261204T1500"
    jsonl.append_side(run, "probes", "a", {**PROBE.to_dict(), "machine_id": "a"})  # a second probe, untimed
    assert "(the first and last probes were of unrecorded times)" in tax_model_fresh.fresh_runs_markdown(v)
    _stored_run(tmp_path, "a-20261204T1600", [r for r in _records() if r["seq_len"] == 128])
    timed = tmp_path / tax_model_validation.FRESH_RUNS / "a-20261204T1600" / "probes" / "a.jsonl"
    timed.unlink()
    for when in ("2026-12-04T16:00:00+00:00", "2026-12-04T16:12:00+00:00"):  # two timed probes: the run's spread
        jsonl.append_side(timed.parent.parent, "probes", "a",
                          {**replace(PROBE, timestamp=when).to_dict(), "machine_id": "a"})
    assert "(the first and last probes were taken 12 minutes apart)" in tax_model_fresh.fresh_runs_markdown(v)


def test_inflection_table_sets_the_prediction_beside_the_measured_rule(tmp_path):
    data = _data(tmp_path)
    v = pages.view(data, "cpu")
    table, finding = page.inflections(v, page.every_config(data, "a"))
    assert "| bert-tiny | eager | fp32 | 128 | {} | not flat, none |" in table
    assert "matches the measured one for" in finding and "|" not in finding


def test_without_a_probe_the_page_says_what_is_missing(tmp_path):
    frame = pd.DataFrame(_records())
    data = FakeStudy(frame, [], results_dir=str(tmp_path / "empty"), all=frame)
    v = pages.view(data, "cpu")
    assert "so the model is not scored here" in page.scores_markdown(v, page.every_config(data, "a"))
    assert curve_probes.stored_probes(tmp_path / "empty") == {}


def test_with_no_records_at_all_every_cell_says_so(tmp_path):
    data = FakeStudy(pd.DataFrame(), [], results_dir=str(tmp_path), all=pd.DataFrame())
    v = pages.view(data, "cpu")
    configs = page.every_config(data, None)
    estimates = page.host_estimates(v, configs)
    assert page.host_table(estimates) == "" and page.host_finding(v, estimates).startswith("Nothing to show")
    assert "can be predicted" in page.validation_figure(v, configs)[1]
    assert "not scored here" in page.scores_markdown(v, configs) and page.inflections(v, configs) == ("", "")


def _windows(rows: list[tuple]) -> pd.DataFrame:
    """A synthetic frame as `page.host_windows` returns it: (curve, T(1), window low, high, H probe, H smallest)."""
    return pd.DataFrame([{"curve": c, "t1_ms": t1, "low_ms": lo, "high_ms": hi, "probe": p, "smallest": s,
                          "decomposition": float("nan")} for c, t1, lo, hi, p, s in rows])


def test_the_shortest_sequence_is_called_host_cost_only_as_far_as_the_windows_say():
    nan = float("nan")
    mostly_below = _windows([("a", 10, 6, 8, 7, 3), ("b", 10, 6, 8, 7, 7), ("c", 10, 6, 8, 7, 2),
                             ("d", 10, nan, nan, 7, 9)])  # d: no window, so not counted
    text = page.smallest_shape_phrase(mostly_below)
    assert "inside the host costs that fit the curve for 1 of 3 curves, below them for 2" in text
    assert "not mostly the host cost" in text
    mostly_inside = _windows([("a", 10, 6, 8, 7, 7), ("b", 10, 6, 8, 7, 6.5), ("c", 10, 6, 8, 7, 9)])
    text = page.smallest_shape_phrase(mostly_inside)
    assert "for 2 of 3 curves, above them for 1" in text and "not mostly" not in text
    assert "cannot say" in page.smallest_shape_phrase(pd.DataFrame())


def test_the_window_summary_counts_the_table_and_names_its_exceptions(tmp_path):
    v = pages.view(_data(tmp_path), "cpu")
    nan = float("nan")
    windows = _windows([("fits", 10, 6, 8, 7, 7), ("probe high", 10, 6, 8, 9, 7), ("no line", 10, nan, nan, 7, 7)])
    text = page.host_window_summary(v, windows)
    assert "for 2 of 3 curves" in text and "no line fits no line" in text
    assert "the probe's in 1 of 2" in text and "probe high (90% against 60%-80%)" in text
    assert "fits (" not in text  # a curve whose estimate is inside is not listed
    table = page.host_window_table(windows)
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 1 + len(windows)  # head + rows


def test_gpu_sentences_need_gpu_records():
    cpu = pd.DataFrame({"device": ["cpu", "cpu"]})
    assert "GPU" not in page.assumptions_markdown(cpu) and "GPU" not in page.assumptions_markdown(pd.DataFrame())
    gpu = pd.DataFrame({"device": ["cpu", "cuda:0"]})
    text = page.assumptions_markdown(gpu)
    assert "on a GPU at each batch's own" in text and "overlapping form" in text


def test_a_zero_overhead_is_not_flat_and_an_intercept_reaching_zero_is_not_compared(tmp_path):
    v = pages.view(_data(tmp_path), "cpu")
    nan = float("nan")
    estimates = pd.DataFrame([
        {"model": "m", "runtime": "r1", "decomposition ms, batch 1": 1.0, "decomposition ms, largest": 0.0,
         "intercept ms": 1.0, "intercept low": -0.5, "intercept high": 2.0, "smallest shape ms": 1.0,
         "share, largest": nan, "between-round cv, largest": nan},
        {"model": "m", "runtime": "r2", "decomposition ms, batch 1": 1.0, "decomposition ms, largest": 1.1,
         "intercept ms": 1.0, "intercept low": 0.8, "intercept high": 1.2, "smallest shape ms": 2.0,
         "share, largest": nan, "between-round cv, largest": nan}])
    finding = page.host_finding(v, estimates)
    assert "flat (within 1.25x either way) for 1 of 2 decomposed curves" in finding  # r1's 0x is not flat
    assert ("excludes 0 for 1 of 2 curves; on those, the decomposition at batch 1 agrees with the intercept within "
            "25% for 1 of 1 and the smallest shape's latency for 0 of 1") in finding
