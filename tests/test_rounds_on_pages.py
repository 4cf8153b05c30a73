"""Visits in rounds on the pages: `estimates.per_config`, `estimates.newest_series`, and what the pages say
about rounds, intervals, missed targets, load and provenance. Hand-built visits, nothing is measured."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ftax import pages
from ftax.figures import plots
from ftax.pages import explorer_selection, explorer_view
from ftax.read import findings
from ftax.read.estimates import newest_series, per_config
from ftax.read.ratios import scaling_ratios, speedups
from ftax.pages import framework_bound, intro, paradigms
from fake_study import FakeStudy
from ftax.sweep.grids import Grid

T0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
LEVEL = (1.0, 1.2, 0.9)  # the machine's state per round: both sides of a pair share it
GRID = Grid("batch", models=("bert-tiny",), backends=("eager", "onnxruntime"), batch_sizes=(1, 2, 4), seq_lens=(16,),
            device="cpu")


def _visit(batch: int = 1, backend: str = "eager", median_ms: float = 1.0, round_: int | None = 0, minute: int = 0,
           **kw) -> dict:
    row = dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu",
               model="bert-tiny", backend=backend, dtype="fp32", seq_len=16, overrides="{}", batch_size=batch,
               median_ms=median_ms, ci_low_ms=median_ms * 0.99, ci_high_ms=median_ms * 1.01, parity_ok=True,
               prepare_s=0.5, flops=1e6 * batch, target_met=True, target_rel_ci=0.03, schema_version=2,
               env_torch_version="2.0", env_torch_threads=2, env_cpu_count=2, env_load_avg_1m=1.0,
               env_hostname="box-1", rule="quick/3", round=round_, timestamp=T0 + pd.Timedelta(minutes=minute))
    return {**row, **kw}


def _rounds(batches=(1, 2, 4), speedup: float = 2.0, **kw) -> list[dict]:
    """eager and onnxruntime (`speedup` x faster) at each batch, 3 rounds; latency = batch ms x the round's level."""
    return [_visit(b, backend, b * LEVEL[r] / (speedup if backend == "onnxruntime" else 1.0), r, minute=10 * r + b,
                   **kw)
            for r in range(3) for b in batches for backend in ("eager", "onnxruntime")]



def _view(rows: list[dict]) -> pages.PageView:
    return pages.view(FakeStudy(pd.DataFrame(rows), [GRID]), "cpu")


def test_per_config_one_row_per_config_with_the_estimate_in_its_own_columns():
    rows = _rounds(batches=(1,))
    rows[0] = {**rows[0], "target_met": False, "env_load_avg_1m": 3.5, "env_hostname": "box-2"}
    rows.append(_visit(1, "cudagraph", np.nan, 0, status="unsupported", message="needs CUDA"))
    rows.append(_visit(1, "cudagraph", np.nan, 1, minute=11, status="unsupported", message="needs CUDA"))
    frame = per_config(pd.DataFrame(rows)).set_index("backend")
    assert sorted(frame.index) == ["cudagraph", "eager", "onnxruntime"] and "round" not in frame
    eager = frame.loc["eager"]
    assert eager["estimate_ms"] == pytest.approx(1.0)  # median of 1.0, 1.2, 0.9
    assert eager["low_ms"] < 0.9 < 1.2 < eager["high_ms"]
    assert eager["rounds"] == 3 and eager["interval"] == "between-round" and eager["visits"] == 3
    assert not eager["target_met"] and frame.loc["onnxruntime", "target_met"]
    assert eager["hosts"] == "box-1, box-2" and eager["max_load_avg_1m"] == 3.5
    assert eager["first_timestamp"] == T0 + pd.Timedelta(minutes=1)
    assert eager["last_timestamp"] == T0 + pd.Timedelta(minutes=21)
    assert eager["parity_ok"] and eager["prepare_s"] == 0.5  # the newest ok visit's own columns
    failed = frame.loc["cudagraph"]
    assert failed["status"] == "unsupported" and failed["message"] == "needs CUDA" and failed["rounds"] == 0
    assert np.isnan(failed["estimate_ms"])


def test_per_config_one_round_has_no_interval_and_keeps_an_older_decomposition():
    rows = [_visit(1, round_=None, rule=None, minute=0, decomposition_busy_ms=0.4, decomposition_overhead_ms=0.6),
            _visit(2, round_=None, rule=None, minute=1, decomposition_busy_ms=np.nan, decomposition_overhead_ms=np.nan)]
    frame = per_config(pd.DataFrame(rows).drop(columns="env_hostname"))
    assert list(frame["rounds"]) == [1, 1] and list(frame["interval"]) == ["one round", "one round"]
    assert frame["low_ms"].isna().all() and frame["high_ms"].isna().all() and list(frame["hosts"]) == ["", ""]
    again = pd.DataFrame(rows[:1] + [{**rows[0], "minute": 5, "timestamp": T0 + pd.Timedelta(minutes=5),
                                      "median_ms": 1.2, "decomposition_busy_ms": np.nan}])
    newest = per_config(again).iloc[0]  # two visits without rounds: each is a round of its own
    assert newest["rounds"] == 2 and newest["decomposition_busy_ms"] == 0.4


def test_a_config_row_names_its_estimate_and_never_carries_a_visit_median():
    """The newest visit's median (0.9 ms, round 2) differs from the median of the round medians (1.0 ms): the
    config row says the latter under `estimate_ms`, and no column of it named like a visit's says anything."""
    frame = per_config(pd.DataFrame(_rounds(batches=(1,)))).set_index("backend")
    eager = frame.loc["eager"]
    assert eager["estimate_ms"] == pytest.approx(1.0) and eager["low_ms"] < 0.9 < 1.2 < eager["high_ms"]
    assert not {"median_ms", "ci_low_ms", "ci_high_ms"} & set(frame.columns)
    assert not {"median_ms", "ci_low_ms", "ci_high_ms"} & set(per_config(pd.DataFrame()).columns)
    assert {"estimate_ms", "low_ms", "high_ms"} <= set(per_config(pd.DataFrame()).columns)
    v = _view(_rounds(batches=(1,)))
    assert "median_ms" not in v.frame and "median_ms" in v.visits  # a page's config rows and its visits
    assert sorted(v.frame["estimate_ms"]) == pytest.approx([0.5, 1.0])


def test_newest_series_keeps_one_series_per_config_preferring_ok():
    old = [_visit(1, round_=None, rule=None, env_torch_version="1.0")]
    new = [_visit(1, round_=r, minute=10 + r) for r in range(3)]
    assert list(newest_series(pd.DataFrame(old + new))["env_torch_version"]) == ["2.0"] * 3
    failed = [_visit(1, round_=0, minute=30, status="error", median_ms=np.nan, env_torch_version="3.0")]
    kept = newest_series(pd.DataFrame(old + failed))
    assert list(kept["env_torch_version"]) == ["1.0"]  # a newer failure does not hide an ok series
    assert newest_series(pd.DataFrame()).empty


def test_view_collapses_visits_and_keeps_them_for_pairs():
    v = _view(_rounds())
    assert len(v.frame) == 6 and len(v.visits) == 18 and v.study_visits == 18
    assert set(v.frame["rounds"]) == {3}
    loaded = pages.loaded_markdown(v)
    assert loaded.startswith("18 records (6 configs) in `results` match this study's grids")
    assert "Estimates pool 3 rounds for 6 configs." in loaded
    assert "Every config met its precision target in every visit." in loaded
    assert ("This page measured none of them: they are stored records, measured on 2026-01-05 between 10:01 and "
            "10:24 UTC (`box-1`).") in loaded


def test_load_section_names_missed_targets_load_and_old_hosts():
    rows = _rounds()
    rows = [{**r, "target_met": False} if r["batch_size"] in (2, 4) and r["backend"] == "eager" else r for r in rows]
    rows = [{**r, "env_load_avg_1m": 4.0} if r["batch_size"] == 1 and r["round"] == 2 else r for r in rows]
    legacy = [_visit(8, b, 8.0, None, minute=60 * 24, rule=None, env_hostname=None) for b in ("eager", "onnxruntime")]
    loaded = pages.loaded_markdown(_view(rows + legacy))
    assert "Estimates pool 3 rounds for 6 configs and 1 round for 2 configs." in loaded
    assert "With one round there is no between-run interval, so those configs have no band or error bar." in loaded
    assert ("2 of 8 ok configs missed the precision target (the median's 95% CI within 3% of it) in at least one "
            "visit, which stopped at its time limit instead: bert-tiny eager fp32 seq 16 at batch 2 and 4.") in loaded
    assert "**Caution:** 2 of 8 ok configs were measured" in loaded and "eager at batch 1; onnxruntime at batch 1" \
        in loaded
    assert "between 2026-01-05 10:01 and 2026-01-06 10:00 UTC (`box-1` and host not recorded)." in loaded


def test_speedups_are_paired_and_said_with_their_interval():
    v = _view(_rounds())
    table = speedups(v.visits)
    assert list(table["rounds"]) == [3, 3, 3] and table["speedup"].tolist() == pytest.approx([2.0] * 3)
    figure, caption = paradigms.speedup_figure(v)
    assert isinstance(figure, Figure)
    assert "paired by round" in caption and "2x" not in caption
    finding = paradigms.speedup_finding(v)
    assert "picked from these same measurements: batch 1: onnxruntime 2x [2, 2], 3 rounds; " in finding
    assert finding.endswith("3 of 3 picked speedups have a 95% interval that excludes 1x, a difference on this "
                            "machine (see {doc}`../methodology`).")
    _, caption = paradigms.latency_figure(v)
    assert caption.startswith("Latency (median of the round medians over 3 rounds, their 95% between-round "
                              "interval as band) against batch size")


def test_a_speedup_whose_interval_contains_one_is_not_called_real():
    noisy = [{**r, "median_ms": r["median_ms"] * (1.3 if r["backend"] == "onnxruntime" and r["round"] == 1 else 1.0)}
             for r in _rounds(speedup=1.05)]
    table = speedups(pd.DataFrame(noisy))
    assert findings.verdict_note(table, "speedup_low", "speedup_high", "speedups") == (
        "0 of 3 speedups have a 95% interval that excludes 1x, a difference on this machine (see "
        "{doc}`../methodology`); for 3 the interval contains 1x, so the data cannot decide.")
    barely = pd.DataFrame({"speedup_low": [1.001, 1.5], "speedup_high": [1.4, 2.0]})
    assert findings.verdict_note(barely, "speedup_low", "speedup_high", "speedups") == (
        "2 of 2 speedups have a 95% interval that excludes 1x, a difference on this machine (see "
        "{doc}`../methodology`), 1 of them barely (a bound within 2% of 1x).")
    assert findings.interval_text(1.001, 1.4, 5) == " [1.001, 1.4], 5 rounds"  # never printed as touching 1
    one = speedups(pd.DataFrame([r for r in noisy if r["round"] == 0]))
    assert findings.speedup_phrases(one, 1) == ["onnxruntime 1.1x (one round: no between-run interval)"]
    assert findings.ratio_text(2.1, 1.9, 2.3, 3) == "2.1x [1.9, 2.3], 3 rounds"
    assert findings.ratio_text(2.1) == "2.1x (one round: no between-run interval)"


def test_scaling_phrases_use_the_paired_ratio_and_its_interval():
    v = _view(_rounds())
    ratios = scaling_ratios(v.visits[v.visits.backend == "eager"])
    rows = v.frame[v.frame.backend == "eager"]
    assert findings.scaling_phrases(rows, "batch_size", ["model"], ratios) == [
        "bert-tiny: 4x the batch (1 to 4) costs 4x the latency [4, 4], 3 rounds (1 to 4 ms)"]
    finding = framework_bound.batch_finding(v)
    assert "2 of 2 latency rises from the smallest to the largest batch have a 95% interval that excludes 1x" in finding


def test_figures_draw_no_interval_where_there_is_one_round():
    rows = [_visit(b, backend, b / (2 if backend == "onnxruntime" else 1), None, rule=None)
            for b in (1, 2, 4) for backend in ("eager", "onnxruntime")]
    frame = per_config(pd.DataFrame(rows))
    assert isinstance(plots.speedup_vs_batch(speedups(pd.DataFrame(rows))), Figure)
    bars = plots.model_bars(frame.assign(model=frame.backend), baseline="eager")
    assert isinstance(bars, Figure)
    assert findings.band_phrase(frame) == "median of one round per config: no between-run interval, so no band"
    mixed = pd.concat([frame, per_config(pd.DataFrame(_rounds(batches=(8,))))])
    assert findings.band_phrase(mixed, "error bars") == (
        "median of the round medians; 95% between-round interval as error bars for the 2 of 8 configs with 3 rounds, "
        "none for those with one round")


def test_explorer_reads_per_config_estimates(tmp_path):
    frame = per_config(pd.DataFrame(_rounds()))
    view = explorer_selection.resolve(frame)
    caption = explorer_view.caption_for(frame, view)
    assert caption.startswith("Latency (median of the round medians over 3 rounds, their 95% between-round interval "
                              "as band) of **bert-tiny**") and "from 6 ok configs" in caption
    assert explorer_view.summary(frame, "results").startswith("6 configs from 18 records in `results` (6 ok)")
    assert explorer_selection.load(tmp_path).empty


def test_intro_and_hardware_pages_say_it_too():
    frame = pd.DataFrame(_rounds())
    studies = {s: FakeStudy(frame, [GRID], all=frame) for s in ("framework-bound", "paradigms", "model-design",
                                                             "hardware", "where-time-goes")}
    assert "onnxruntime's speedup over eager, paired by round, is 2x [2, 2], 3 rounds: onnxruntime removes 50% [50%, 50%]" \
        in intro.tax_markdown(studies, "cpu")
    assert intro.runtime_finding(studies, "cpu").startswith(
        "**The gain fades with the batch (RQ2).** At batch 4, onnxruntime, the fastest runtime there, has a speedup "
        "over eager of 2x [2, 2], 3 rounds: still a difference on this machine.")
    machines = pages.machines_markdown(pages.every_machine(studies["hardware"]))
    assert "Estimates pool 3 rounds for 6 configs." in machines and "(`box-1`)" in machines
