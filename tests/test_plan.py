"""The planner (ftax.plan.schedule, its cost model in ftax.plan.visit_costs and ftax.plan.cost_fit, the tiered run in ftax.study.tiered_run)
and the gpu-reference study without a GPU: the cost model's properties on synthetic records, the tier
order, the budget cut, resuming after an interruption; compressed stores; and gpu-marked real measurements."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import replace

import pandas as pd
import pytest
import torch

from ftax.plan import cost_fit, schedule as plan, visit_costs
from ftax.store import dataframe, jsonl, schema
from ftax.study import tiered_run
from ftax.sweep import rounds as sweep
from ftax.study.catalogue import RUNS, STUDIES
from ftax.cli import main
from ftax.store.errors import InvalidConfigError
from ftax.sweep.grids import Grid, pow2, study_configs
from ftax.study.page_parameters import study_grids
from ftax.sweep.profiles import RULES
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions
from ftax.measure.timing import StopRule


def _gpu_grids(device: str = "cuda") -> list[Grid]:
    return study_grids("gpu-reference", "quick", device)


def test_gpu_reference_must_have_holds_what_the_gpu_claims_need():
    assert "gpu-reference" not in STUDIES and "gpu-reference" in RUNS
    grids = _gpu_grids()
    names = [name for name, _ in plan.tiers(grids)]
    assert names[0] == "must-have" and len(names) == len(set(names)) > 3
    must_grids = plan.tiers(grids)[0][1]
    must = study_configs(must_grids)
    # (a), (b), (f): bert-base eager and CUDA graphs over batch 1..256, at the sequence length of the CPU's
    # bert-base curve in the book, since (f) and (g) compare one curve across machines
    cpu_base = {c.seq_len for c in study_configs(study_grids("framework-bound", "quick", "cpu"))
                if c.model == "bert-base"}
    for backend in ("eager", "cudagraph"):
        curve = {c.batch_size for c in must if c.model == "bert-base" and c.backend == backend and c.phase == "forward"}
        assert curve == set(pow2(1, 256))
    assert {c.seq_len for c in must if c.model == "bert-base"} == cpu_base
    # (g): the curve's eager configs are decomposed at batch 1 and at some larger batch
    split = {c.batch_size for c in study_configs(g for g in must_grids if g.decompose)
             if c.model == "bert-base" and c.backend == "eager"}
    assert 1 in split and len(split) > 1
    # (h): an eager decode step at batch 1 and 4
    decode = {(c.model, c.batch_size) for c in must if c.phase == "decode" and c.backend == "eager"}
    assert {b for _, b in decode} >= {1, 4}
    # the guess-heavy torch.compile is not in the must-have tier
    assert all(c.device == "cuda" and c.backend in ("eager", "cudagraph") for c in must)


def test_timing_grows_with_the_call_and_the_sampling_share():
    rule = RULES["quick"].share(3)
    times = [visit_costs.timing_s(rule, t) for t in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)]
    assert times == sorted(times)
    assert visit_costs.timing_s(rule, 1e-3, 0.0) < visit_costs.timing_s(rule, 1e-3, 1.0)
    assert visit_costs.timing_s(rule, 1e-3, 0.0) >= rule.min_time_s


def test_compile_graphs_follow_dynamos_rule():
    # page 02's round 0 on the CPU: static, then dynamic batch, then the batch-1 and seq-1 specializations
    flags = visit_costs.compile_graphs([(2, 128), (32, 128), (4, 128), (8, 128), (16, 128), (1, 128), (1, 1), (64, 128)])
    assert flags == [True, True, False, False, False, True, True, False]
    assert visit_costs.compile_graphs([(8, 128), (8, 128)]) == [True, False]


def test_cuda_plan_on_a_cpu_machine_uses_labelled_defaults_and_cuts_at_the_budget(tmp_path):
    grids = _gpu_grids()
    cal = cost_fit.calibrate(pd.DataFrame(), "cuda")
    assert cal.device == "cuda" and cal.figure("compile_graph_s").source.startswith("default")
    full = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1e9)
    cut = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=full.tier_seconds()[0][1] + 1)
    assert full.started() == [name for name, _ in plan.tiers(grids)] and full.cut_at is None
    assert cut.started()[0] == "must-have" and cut.kept_s <= full.tier_seconds()[0][1] + 1
    text = cut.format()
    assert "cuts here" in text and "must-have" in text and "default:" in text
    # an onnxruntime without a CUDA provider: rows, not measurements, and nearly free
    ort = [v for _, _, vs in full.tiers for v in vs if v.config.backend == "onnxruntime"]
    if ort and not torch.cuda.is_available():
        assert not any(v.runs for v in ort)
    # more rounds cost more
    assert plan.estimate(grids, 5, grids[0].rule, cal).seconds > full.seconds


def test_a_plan_whose_first_tier_is_over_budget_still_starts_its_highest_priority_shapes():
    grids = _gpu_grids()
    cal = cost_fit.calibrate(pd.DataFrame(), "cuda")
    must = plan.tiers(grids)[0][1]
    whole = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1e9).tier_seconds()[0][1]
    order = plan.shapes(must)
    for budget in (1.0, whole / 3, whole * 0.8):
        cut = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=budget)
        assert cut.started() == ["must-have"] and cut.cut_at == 0
        kept = plan.shapes(cut.kept[0])
        assert kept == order[:len(kept)] and 1 <= len(kept) < len(order)  # a prefix in priority order
        assert len(kept) == 1 or cut.kept_s <= budget  # beyond the first shape, only what fits
        # a kept shape keeps all its backends: the two sides of a paired speedup start together
        assert {c for c in study_configs(must) if plan.shape_of(c) in kept} == cut.kept_configs()
    first = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1.0)
    assert {(c.model, c.backend, c.batch_size) for c in first.kept_configs()} == {
        ("bert-base", "eager", 1), ("bert-base", "cudagraph", 1)}
    assert "cuts here" in first.format().splitlines()[4]  # header, columns, the two configs of batch 1, the cut
    # where nothing before it is started (stored already), a later tier is the first and starts its first shape
    later = [g for g in grids if g.tier != "must-have"]
    assert plan.estimate(later, 3, grids[0].rule, cal, budget_s=1.0).kept_configs()
    assert not plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1.0, at_least_one=False).kept_configs()


def _record(config: MeasureConfig, round_: int, rule: str, median_ms: float = 1.0, **setup) -> Record:
    from ftax.store.env import fingerprint

    stats = dict(median_ms=median_ms, p90_ms=median_ms, p99_ms=median_ms, mean_ms=median_ms, std_ms=0.0,
                 iqr_ms=0.0, ci_low_ms=median_ms, ci_high_ms=median_ms, n=10)
    setup = {"prepare_s": 0.1, "model_build_s": 0.5, "total_time_s": 0.2, "first_call_ms": median_ms,
             "backend_detail": "", **setup}
    return Record(config=config, status="ok", message="", env=fingerprint(), stats=stats, setup=setup,
                  round=round_, rule=rule, flops=1e6 * config.batch_size)


def test_resume_plans_only_what_is_missing_in_priority_order(tmp_path):
    grids = [replace(g, rule=RULES["smoke"]) for g in study_grids("paradigms", "smoke", "cpu")]
    grids = [replace(grids[0], backends=("eager", "torchscript"), decompose=False, tier="first"),
             replace(grids[0], backends=("eager", "onnxruntime"), batch_sizes=(1,), decompose=False, tier="second")]
    cal = cost_fit.calibrate(pd.DataFrame(), "cpu")
    before = plan.estimate(grids, 2, grids[0].rule, cal, budget_s=1e9)
    assert [name for name, _, _ in before.tiers] == ["first", "second"]
    # the eager/torchscript configs of tier one are stored for both rounds (an interrupted run that finished it)
    first = study_configs(grids[:1])
    stored = {}
    from ftax.store.env import fingerprint

    machine = fingerprint()["machine_id"]
    for config in first:
        for r in range(2):
            data = json.loads(_record(config, r, grids[0].rule.share(2).name).to_json())
            stored[(schema.config_key(config, machine), r, grids[0].rule.share(2).name)] = data
    after = plan.estimate(grids, 2, grids[0].rule, cal, budget_s=1e9, stored=stored)
    assert after.tiers[0][2] == []  # nothing left of the first tier
    second = {v.config for v in after.tiers[1][2]}
    assert second and all(c.backend == "onnxruntime" for c in second)  # eager bs=1 came with the first tier
    assert after.seconds < before.seconds


def _fake_tiered_run(tmp_path, monkeypatch, seconds_per_visit: float):
    """A tiered run of two smoke tiers on a fake clock; the fake sweep stores every visit it is given (none started
    past the deadline it is handed) and advances the clock by `seconds_per_visit` each."""
    grids = [replace(g, tier=t, decompose=False) for g, t in zip(study_grids("paradigms", "smoke", "cpu") * 2,
                                                                  ("a", "b"))]
    grids[1] = replace(grids[1], batch_sizes=(2, 3))
    monkeypatch.setattr(cost_fit, "calibrate", lambda *a, **k: visit_costs.Calibration("cpu", "test: defaults"))
    calls, lines, now = [], [], [0.0]

    def fake_measure(tier_grids, results_dir, rounds, options, progress, deadline, clock, **kwargs):
        calls.append((tier_grids, deadline))
        counts = Counter()
        for config in study_configs(tier_grids):
            for r in range(rounds):
                if clock() >= deadline:
                    break
                record = _record(config, r, tier_grids[0].rule.share(rounds).name)
                jsonl.append(jsonl.store_path(results_dir, record.machine_id), record)
                counts["ok"] += 1
                now[0] += seconds_per_visit
        return sweep.SweepSummary(path=tmp_path, total=0, skipped=0, counts=counts)

    return grids, calls, lines, now, fake_measure


def test_run_tiers_cuts_the_first_tier_in_priority_order_and_hands_down_the_deadline(tmp_path, monkeypatch):
    grids, calls, lines, now, fake_measure = _fake_tiered_run(tmp_path, monkeypatch, seconds_per_visit=1e6)
    summary = tiered_run.run_tiers(grids, tmp_path, 2, MeasureOptions(), budget_s=1.0, log=lines.append,
                                   clock=lambda: now[0], measure=fake_measure)
    first_shape = plan.shapes(grids[:1])[0]
    assert len(calls) == 1 and calls[0][1] == 1.0  # one sweep, given the run's deadline: start + budget
    assert {plan.shape_of(c) for c in study_configs(calls[0][0])} == {first_shape}
    assert summary.counts["ok"] == 1  # the first visit ran; the deadline stopped the rest
    to_make = len(study_configs(grids)) * 2
    assert summary.unmeasured == to_make - 1 and summary.total == to_make
    assert any(f"left {to_make - 1} visits" in line for line in lines)
    assert f"the deadline left {to_make - 1} visits unmeasured" in str(summary)


def test_run_tiers_gives_a_finished_tiers_time_to_the_next_and_stops_at_the_deadline(tmp_path, monkeypatch):
    grids, calls, lines, now, fake_measure = _fake_tiered_run(tmp_path, monkeypatch, seconds_per_visit=0.0)
    summary = tiered_run.run_tiers(grids, tmp_path, 2, MeasureOptions(), budget_s=1e6, log=lines.append,
                                   clock=lambda: now[0], measure=fake_measure)
    assert [g[0].tier for g, _ in calls] == ["a", "b"] and summary.unmeasured == 0
    assert plan.visits_left(grids, tmp_path, 2) == (0, 0)
    # a rerun resumes: nothing left to plan or measure
    calls.clear()
    tiered_run.run_tiers(grids, tmp_path, 2, MeasureOptions(), budget_s=10.0, log=lines.append,
                         clock=lambda: now[0], measure=fake_measure)
    assert calls == []


def test_cli_plan_prints_without_measuring(tmp_path, capsys):
    code = main(["sweep", "--study", "gpu-reference", "--device", "cuda", "--rounds", "3", "--plan",
                 "--budget-s", "300", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "budget 300 s" in out and "must-have" in out
    assert not list(tmp_path.glob("*.jsonl"))
    assert main(["sweep", "--study", "gpu-reference", "--plan", "--budget-s", "-1", "--out", str(tmp_path)]) == 2


def test_calibration_from_records_names_its_source(tmp_path):
    rule = RULES["quick"].share(3)
    for r in range(3):
        for b in (1, 2, 4, 8):
            jsonl.append(jsonl.store_path(tmp_path, "m"), _record(
                MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", b, 16), r, rule.name, median_ms=b, total_time_s=0.2))
    cal = cost_fit.calibrate(dataframe.load(tmp_path), "cpu")
    assert cal.source.startswith("records")
    assert cal.figure("sampling_share").source.startswith("records")
    t, how = visit_costs.latency_s(MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 2, 16), cal)
    assert how == "records" and t == pytest.approx(2e-3)
    t16, how = visit_costs.latency_s(MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 16, 16), cal)
    assert how == "records" and t16 > 8e-3  # a line through the curve, beyond its last point


def test_loader_reads_compressed_stores_next_to_plain_ones(tmp_path):
    config = MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 16)
    archived, live = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    with gzip.open(archived, "wt") as fh:
        fh.write(_record(config, 0, "quick/3").to_json() + "\n")
    jsonl.append(live, _record(config, 1, "quick/3"))
    frame = dataframe.load(tmp_path)
    assert sorted(frame["round"]) == [0, 1]
    # a compressed file cut short: the records before the cut, and a warning
    data = archived.read_bytes()
    cut = tmp_path / "cut" / "c.jsonl.gz"
    cut.parent.mkdir()
    with gzip.open(cut, "wt") as fh:
        for r in range(50):
            fh.write(_record(config, r, "quick/3").to_json() + "\n")
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.warns(UserWarning, match="cut short"):
        rows = list(jsonl.iter_records(cut.parent))
    assert 0 < len(rows) < 50 and data


# --- on a GPU (run by benchmarks/gpu_reference.sh) -----------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cudagraph", "compile-reduce-overhead"])
def test_cuda_static_runtime_measures_bert_tiny(backend):
    from ftax.run.runner import MeasureOptions, measure_config

    rule = StopRule(name="smoke-gpu", warmup_iters=2, min_iters=5, min_time_s=0.02, max_time_s=0.2)
    record = measure_config(MeasureConfig.make("bert-tiny", backend, "fp32", "cuda", 8, 128), MeasureOptions(rule=rule))
    assert record.status == "ok", record.message
    assert record.parity["ok"] and record.stats["median_ms"] > 0 and record.pipelined_ms > 0
    assert record.setup["prepare_s"] > 0


@pytest.mark.gpu
def test_gpu_plan_calibrates_from_a_real_cuda_record(tmp_path):
    from ftax.run.runner import MeasureOptions, measure_config

    record = measure_config(MeasureConfig.make("bert-tiny", "eager", "fp32", "cuda", 1, 128),
                            MeasureOptions(rule=RULES["smoke"]), round_=0)
    jsonl.append(jsonl.store_path(tmp_path, record.machine_id), record)
    cal = cost_fit.calibrate(dataframe.load(tmp_path), "cuda")
    assert cal.source.startswith("records")
    t, how = visit_costs.latency_s(record.config, cal)
    assert how == "records" and t > 0


@pytest.mark.parametrize("rounds, budget_s", [(0, 100.0), (-1, 100.0), (3, 0.0), (3, -5.0), (3, float("nan"))])
def test_plan_and_tiered_run_refuse_nonsense_counts(tmp_path, rounds, budget_s):
    grids = _gpu_grids()
    cal = cost_fit.calibrate(pd.DataFrame(), "cuda")
    with pytest.raises(InvalidConfigError, match="rounds|budget"):
        plan.estimate(grids, rounds, grids[0].rule, cal, budget_s=budget_s)
    with pytest.raises(InvalidConfigError, match="rounds|budget"):
        plan.plan_sweep(grids, tmp_path, rounds, budget_s)
    with pytest.raises(InvalidConfigError, match="rounds|budget"):
        tiered_run.run_tiers(grids, tmp_path, rounds, MeasureOptions(), budget_s,
                             measure=lambda *a, **k: pytest.fail())


def test_no_two_classes_share_a_name_and_the_planner_defines_no_private_name_it_never_uses():
    import ast
    import pathlib
    import re

    package = pathlib.Path(plan.__file__).parent
    classes = [node.name for path in package.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.ClassDef)]
    assert sorted(name for name in set(classes) if classes.count(name) > 1) == []  # SweepPlan vs ValidationPlan
    for module in (plan, visit_costs, cost_fit, tiered_run):
        text = pathlib.Path(module.__file__).read_text()
        private = [node.name for node in ast.parse(text).body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_")]
        assert [name for name in private if len(re.findall(rf"\b{name}\b", text)) < 2] == [], module.__name__
