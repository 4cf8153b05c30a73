"""The timing validation (ftax.study.validation) and its appendix page.

Table and sentence functions are tested on hand-built frames, asserting properties (ratios,
which cause is chosen, what is left out), never latencies. One fast real test times the sleep
callable, whose answer is known; the slow test reads the appendix from the shared smoke build.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from bs4 import BeautifulSoup
from matplotlib.figure import Figure

from ftax.appendix import validation_plots, validation_report
from ftax.measure import validation_spec, validation_store
from ftax.study import validation
from ftax.store.errors import InvalidConfigError
from ftax.sweep.profiles import RULES
from ftax.read.text import sig


def _frame(rows: dict[tuple[str, str], list[float]], **ftax_extra) -> pd.DataFrame:
    """Rows of compare_methods from {(target, method): [center per round]}; ftax rows get `ftax_extra`
    ({target: {"pipelined_ms": .., "mean_ms": ..}}) or, by default, pipelined = mean = center."""
    out = []
    for (target, method), centers in rows.items():
        for round_, center in enumerate(centers):
            row = {"target": target, "method": method, "round": round_, "center_ms": center,
                   "spread_ms": center / 10, "n": 10, "time_s": 0.1, "target_met": None, "load_1m": 1.0}
            if method == "ftax":
                row.update({"target_met": True, "pipelined_ms": center, "mean_ms": center,
                            **ftax_extra.get(target, {})})
            out.append(row)
    return pd.DataFrame(out)


BASE = {
    ("empty", "ftax"): [0.0002, 0.0002, 0.0002],
    ("empty", "torch-benchmark"): [0.0001, 0.0001, 0.0001],
    ("model", "ftax"): [10.0, 10.2, 9.8],
    ("model", "torch-benchmark"): [10.1, 10.0, 10.2],
    ("model", "subprocess"): [10.3],
}


def test_agreement_ratios_order_and_ranges():
    frame = _frame({**BASE, ("model", "timeit-loop"): [12.0, 12.0, 12.0]})
    table = validation_report.agreement(frame)
    assert list(table["target"]) == ["empty", "empty", "model", "model", "model", "model"]
    assert list(table[table.target == "model"]["method"]) == ["ftax", "torch-benchmark", "timeit-loop", "subprocess"]
    assert (table[table.method == "ftax"]["ratio_to_ftax"] == 1).all()
    model = table[table.target == "model"].set_index("method")
    assert model.loc["timeit-loop", "ratio_to_ftax"] == pytest.approx(12.0 / model.loc["ftax", "center_ms"])
    assert (table.low_ms <= table.center_ms).all() and (table.center_ms <= table.high_ms).all()
    assert model.loc["subprocess", "rounds"] == 1 and model.loc["ftax", "rounds"] == 3


def test_repeatability_leaves_out_single_rounds_and_is_zero_when_constant():
    rep = validation_report.repeatability(_frame(BASE)).set_index(["target", "method"])
    assert ("model", "subprocess") not in rep.index
    assert rep.loc[("empty", "ftax"), "cv_of_medians"] == pytest.approx(0)
    values = np.array(BASE[("model", "ftax")])
    assert rep.loc[("model", "ftax"), "cv_of_medians"] == pytest.approx(values.std(ddof=1) / values.mean())


def test_overhead_is_the_empty_callable_in_microseconds():
    cost = validation_report.overhead(validation_report.agreement(_frame(BASE))).set_index("method")["per_call_us"]
    assert cost["ftax"] == pytest.approx(0.2) and cost["torch-benchmark"] == pytest.approx(0.1)
    assert validation_report.overhead(validation_report.agreement(_frame({("model", "ftax"): [1.0]}))).empty


def test_explain_picks_the_measured_cause():
    rows = {**BASE,
            ("model", "timeit-loop"): [8.0, 8.0, 8.0],       # ftax's pipelined time below predicts 0.8x
            ("model", "torch-benchmark"): [10.3, 10.3, 10.3],  # within 5%: not a disagreement
            ("slow", "ftax"): [1.0, 1.0, 1.0],
            ("slow", "subprocess"): [3.0]}                    # nothing measured predicts 3x
    table = validation_report.agreement(_frame(rows, model={"pipelined_ms": 8.0, "mean_ms": 10.0}))
    explained = validation_report.explain(table).set_index(["target", "method"])
    assert ("model", "torch-benchmark") not in explained.index
    assert explained.loc[("model", "timeit-loop"), "cause"] == "back-to-back calls"
    assert explained.loc[("model", "timeit-loop"), "explained"]
    assert explained.loc[("empty", "torch-benchmark"), "cause"] == "harness overhead"
    assert not explained.loc[("slow", "subprocess"), "explained"]
    assert "not explained" in explained.loc[("slow", "subprocess"), "sentence"]
    for target, method in explained.index:  # every sentence states the ratio it explains
        assert f"{target}, {method} at " in explained.loc[(target, method), "sentence"]
    text = validation_report.explain_markdown(validation_report.explain(table))
    assert text.count("\n- ") == len(explained) and "1 remains unexplained" in text


def test_a_cause_that_predicts_no_difference_explains_none():
    rows = {("model", "ftax"): [10.0, 10.0, 10.0], ("model", "timeit-loop"): [10.6, 10.6, 10.6]}
    explained = validation_report.explain(validation_report.agreement(_frame(rows, model={"mean_ms": 10.1})))
    assert list(explained.explained) == [False]  # mean/median predicts 1.01x, not the 1.06x seen


def test_fresh_process_cause_uses_ftax_measured_inside_it():
    frame = _frame({("model", "ftax"): [10.0, 10.0, 10.0], ("model", "subprocess"): [8.0]})
    frame.loc[frame.method == "subprocess", "ftax_fresh_ms"] = 8.1
    explained = validation_report.explain(validation_report.agreement(frame))
    assert list(explained.cause) == ["fresh process"] and explained.explained.all()


def test_explain_falls_back_to_round_to_round_variation():
    rows = {("model", "ftax"): [8.0, 10.0, 12.0], ("model", "subprocess"): [8.5]}
    explained = validation_report.explain(validation_report.agreement(_frame(rows)))
    assert list(explained.cause) == ["round-to-round variation"] and explained.explained.all()
    assert validation_report.explain(validation_report.agreement(_frame({("model", "ftax"): [1.0]}))).empty


def test_sensitivity_summary_and_finding():
    rows = pd.DataFrame([{"factor": f, "setting": s, "round": r, "center_ms": c}
                         for r in range(3)
                         for f, s, c in (("threads", "2 threads", 10.0 + r), ("threads", "1 thread", 30.0),
                                         ("gc", "disabled (ftax)", 10.0 + r), ("gc", "enabled", 10.5))])
    summary = validation_report.sensitivity_summary(rows).set_index(["factor", "setting"])
    assert summary.loc[("threads", "2 threads"), "ratio"] == 1
    assert summary.loc[("threads", "1 thread"), "ratio"] == pytest.approx(np.median([30 / 10, 30 / 11, 30 / 12]))
    finding = validation_report.sensitivity_finding(validation_report.sensitivity_summary(rows))
    effects, noise = finding.split("Within that range")
    assert "1 thread" in effects and "enabled" in noise
    assert validation_report.sensitivity_summary(pd.DataFrame()).empty


def test_plan_checks_parameters_and_profiles_choose_sizes():
    with pytest.raises(InvalidConfigError, match="'nope'.*smoke, quick, full"):
        validation.plan("nope")
    with pytest.raises(InvalidConfigError, match="rounds"):
        validation.plan("smoke", "cpu", 0)
    with pytest.raises(InvalidConfigError, match="device"):
        validation.plan("smoke", "tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidConfigError, match="no CUDA device"):
            validation.plan("smoke", "cuda")
    smoke, quick = validation.plan("smoke", "cpu"), validation.plan("quick", "cpu")
    assert smoke.rule == RULES["smoke"] and quick.rule == RULES["quick"]
    assert {t.name for t in smoke.targets} < {t.name for t in quick.targets}
    assert all(t.device == "cpu" for t in quick.targets if t.model)
    assert "| bert-tiny eager |" in validation_report.plan_markdown(smoke)


def test_sig_never_uses_exponents():
    for value in (0.000161, 1.105, 12345.6, 0.5):
        assert "e" not in sig(value)
    assert sig(0.000161) == "0.000161" and sig(float("nan")) == "n/a"


def test_unmeasured_page_states_nothing_and_draws_empty_figures():
    study = validation.run_validation(validation.plan("smoke", "cpu"), measure=False)
    assert not study.measured and study.frame.empty
    here = "**a machine** (profile `smoke`)"
    assert validation_report.nothing(study) and "measure=False" in validation_report.summary_markdown(study, here)
    table = validation_report.agreement(study.frame)
    assert table.empty and validation_report.explain(table).empty
    figures = [validation_plots.validation_methods(table), validation_plots.validation_ratios(table), validation_plots.validation_cost(table),
               validation_plots.validation_repeatability(validation_report.repeatability(study.frame)),
               validation_plots.validation_sensitivity(validation_report.sensitivity_summary(study.sensitivity)),
               validation_plots.validation_cuda_sync(study.cuda)]
    for fig in figures:
        assert isinstance(fig, Figure) and not fig.axes[0].axison  # empty_figure: text only


def test_figures_draw_hand_built_tables():
    frame = _frame({**BASE, ("model", "timeit-loop"): [8.0, 8.0, 8.0]})
    table = validation_report.agreement(frame)
    methods = validation_plots.validation_methods(table, title="t")
    assert len([ax for ax in methods.axes if ax.get_visible()]) == 2  # one panel per callable
    ratios = validation_plots.validation_ratios(table)
    assert len(ratios.axes[0].get_yticklabels()) == 2
    assert len(validation_plots.validation_cost(table).axes) == 2
    validation_plots.validation_repeatability(validation_report.repeatability(frame))
    cuda = pd.DataFrame([{"batch_size": 1, "sync_wall_ms": 5.0, "cuda_events_ms": 4.9, "pipelined_ms": 3.0,
                          "no_sync_ms": 0.5}])
    assert len(validation_plots.validation_cuda_sync(cuda).axes) == 1
    assert "10%" in validation_report.cuda_phrase(cuda)  # no_sync / sync wall


def test_sleep_is_timed_at_least_its_length_and_methods_agree():
    """Real timing, fast: the known-answer callables with every method, in one round."""
    targets = tuple(t for t in validation.TARGETS if t.model is None)
    frame, skipped = validation.compare_methods(targets, RULES["smoke"], rounds=1)
    assert not skipped and set(frame.method) == set(validation_spec.METHODS)
    table = validation_report.agreement(frame)
    sleep = table[table.target == "sleep-1ms"].set_index("method")
    assert sleep.loc["ftax", "center_ms"] >= validation.SLEEP_S * 1e3
    assert (sleep.center_ms >= validation.SLEEP_S * 1e3 * 0.99).all()
    assert sleep.ratio_to_ftax.between(0.8, 1.25).all(), sleep.ratio_to_ftax.to_dict()
    empty = table[table.target == "empty"].set_index("method")
    assert (empty.center_ms < sleep.center_ms.min() / 10).all()  # the harness costs far less than the sleep


@pytest.mark.slow
def test_appendix_page_in_the_smoke_build(smoke_book):
    _, out, results_dir, lines = smoke_book
    html = out / "_build" / "html" / "book" / "_executed" / "90-validation.html"
    assert html.is_file(), "the appendix page was not built"
    assert any(re.search(r"90-validation: done in [\d.]+ s", line) for line in lines)
    article = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser").find("article")
    assert article.find("table") is not None, "no table on the appendix page"
    figures = article.find_all("figure")
    assert figures and all(f.find("img") for f in figures)
    captions = [f.find(class_="caption-text").get_text(" ", strip=True) for f in figures]
    assert all("smoke" in c for c in captions), captions
    text = article.get_text(" ", strip=True)
    assert "Finding." in text and "measured by this build and appended there" in text
    stored = list((results_dir / "validation").glob("*.jsonl"))
    assert len(stored) == 1 and len(stored[0].read_text().splitlines()) == 1, "one run stored for this machine"
    assert not list(results_dir.glob("*validation*.jsonl")), "runs are kept apart from the case studies' records"


def _stored_run(profile: str = "smoke", machine_id: str = "m-1", torch_version: str = "2.0", rounds: int = 3,
                timestamp: str = "2026-01-01T00:00:00") -> dict:
    plan = validation.plan(profile, "cpu", rounds)
    run = validation_spec.ValidationRun(plan, True, _frame(BASE), seconds=1.0, load_1m=(0.5, float("nan")))
    env = {"machine_id": machine_id, "cpu_model": "CPU", "cpu_count": 2, "torch_version": torch_version,
           "hostname": "h", "ftax_version": "0.1.0", "git_commit": "abc"}
    return {**validation_store.to_json(run, env), "timestamp": timestamp}


def test_a_stored_run_reads_back_with_its_provenance(tmp_path):
    data = _stored_run()
    validation_store.append(validation_store.from_json(data), tmp_path, data["env"])
    (line,) = validation_store.stored(tmp_path)
    run = validation_store.from_json(line)
    assert run.measured and run.plan.rounds == 3 and run.plan.targets == validation.plan("smoke", "cpu").targets
    assert validation_report.agreement(run.frame).equals(validation_report.agreement(_frame(BASE)))
    assert run.machine_label == "CPU x2 (CPU)" and run.provenance["torch"] == "2.0" and run.provenance["host"] == "h"
    assert np.isnan(run.load_1m[1])  # stored as null, read back as NaN
    here = "**CPU x2 (CPU)** (profile `smoke`)"
    assert f"host `h` (m-1) at {line['timestamp']} with torch 2.0" in validation_report.summary_markdown(run, here)


def test_choose_prefers_this_machines_run_then_any_machines_newest():
    plan = validation.plan("smoke", "cpu", 3)
    old_mine, other = _stored_run(timestamp="2026-01-01"), _stored_run(machine_id="m-2", timestamp="2026-02-01")
    new_mine = _stored_run(timestamp="2026-01-15")
    runs = [old_mine, new_mine, other]
    assert validation_store.choose(runs, plan, "m-1", "2.0") == (new_mine, True)
    assert validation_store.choose(runs, plan, "m-1", "9.9") == (other, False)  # other software: not this one's
    assert validation_store.choose(runs, plan, "m-3", "2.0") == (other, False)
    quick = validation.plan("quick", "cpu", 3)
    assert validation_store.choose(runs, quick, "m-1", "2.0") == (other, False)  # no quick run: the newest of all
    assert validation_store.choose([], plan, "m-1", "2.0") == (None, False)


def test_open_validation_appends_once_and_reads_back(tmp_path, monkeypatch):
    calls = []

    def fake_run(the_plan, measure=True, progress=None):
        calls.append(the_plan)
        return validation_spec.ValidationRun(the_plan, True, _frame(BASE), seconds=1.0)

    monkeypatch.setattr(validation, "run_validation", fake_run)
    plan = validation.plan("smoke", "cpu", 3)
    assert not validation.open_validation(plan, tmp_path, measure=False).measured
    assert not (tmp_path / "validation").exists()
    first = validation.open_validation(plan, tmp_path, measure=True)
    again = validation.open_validation(plan, tmp_path, measure=True)
    report_only = validation.open_validation(plan, tmp_path, measure=False)
    assert len(calls) == 1 and first.provenance["measured_now"] and not again.provenance.get("measured_now")
    assert again.provenance["timestamp"] == first.provenance["timestamp"] == report_only.provenance["timestamp"]
    assert [p.name for p in (tmp_path / "validation").iterdir()] == [f"{first.provenance['machine_id']}.jsonl"]
    assert not list(tmp_path.glob("*.jsonl"))  # never in the case studies' records


def _view_with(cuda: pd.DataFrame, results_dir, **provenance):
    from ftax.pages import validation as page

    run = validation_spec.ValidationRun(validation.plan("smoke", "cpu"), measured=True, frame=_frame(BASE),
                                        cuda=cuda, machine_label="CPU A x2 (CPU)", load_1m=(0.5, 0.6),
                                        provenance=provenance)
    return page, page.view(run, str(results_dir))


def test_the_gpu_section_renders_only_with_cuda_rows(tmp_path):
    page, v = _view_with(pd.DataFrame(), tmp_path)
    figure, caption = page.cuda_figure(v)
    assert page.cuda_section(v) == page.EMPTY and caption == page.EMPTY and figure._repr_html_() == page.EMPTY
    cuda = pd.DataFrame([{"batch_size": 1, "sync_wall_ms": 5.0, "cuda_events_ms": 4.9, "pipelined_ms": 3.0,
                          "no_sync_ms": 0.5}])
    page, v = _view_with(cuda, tmp_path)
    assert page.cuda_section(v).startswith("**On a GPU: what synchronization changes.**")
    assert isinstance(page.cuda_figure(v)[0], Figure)


def test_the_run_and_the_records_name_their_commits_and_the_timing_changes_between(tmp_path):
    from ftax.appendix import run_commits

    commits = pd.DataFrame({"commit": ["1111111aaaaa", "2222222bbbbb"], "records": [10, 3],
                            "first": pd.to_datetime(["2026-01-02 10:00", "2026-01-03 09:00"], utc=True),
                            "last": pd.to_datetime(["2026-01-02 10:30", "2026-01-03 09:05"], utc=True)})
    said = run_commits.commits_markdown("0000000fffff", "2026-01-01T08:00:00+0000", commits, ["3333333"])
    assert said.startswith("The validation run was measured at commit 0000000 on 2026-01-01; the book's records at "
                           "1111111 (10 records, 2026-01-02 10:00-10:30 UTC) and 2222222 (3 records,")
    assert ("The timing code changed in between (1 commits touch it: 3333333; `git log 0000000...1111111 -- "
            "ftax/measure") in said and "`git log 0000000...2222222 -- ftax/measure" in said
    assert "No commit in between touched the timing code" in run_commits.commits_markdown(
        "0000000fffff", None, commits, [])
    assert "cannot tell" in run_commits.commits_markdown("0000000fffff", None, commits, None)
    assert "share the timing code" in run_commits.commits_markdown("2222222bbbbb", None, commits.iloc[1:], None)
    assert "cannot tell" in run_commits.commits_markdown("2222222bbbbb", None, commits, None)  # 1111111 differs
    assert "does not record" in run_commits.commits_markdown(None, None, commits, None)
    assert run_commits.record_commits(tmp_path).empty
    assert run_commits.timing_changes("not-a-commit", ["nor-this"]) is None
    assert run_commits.timing_changes("HEAD", ["HEAD"]) == []  # a commit against itself changes nothing


def test_the_noise_floor_is_the_methods_yardstick_not_the_paired_test(tmp_path):
    page, v = _view_with(pd.DataFrame(), tmp_path, commit="0000000fffff", timestamp="2026-01-01T08:00:00+0000")
    said = page.verdict(v)
    assert "yardstick for the agreement between timing methods" in said
    assert "paired interval excludes 1 (see {doc}`../methodology`)" in said and "not findings" not in said
    assert page.measured_line(v).startswith(f"This appendix rests on one validation run of {v.machine}")
    assert "measured at commit 0000000 on 2026-01-01" in page.measured_line(v)
