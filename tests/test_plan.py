"""ftax.plan and the gpu-reference study without a GPU: the cost model's properties on synthetic records, the tier
order, the budget cut, resuming after an interruption; compressed stores; and gpu-marked real measurements."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pandas as pd
import pytest
import torch

from ftax import plan, results, studies
from ftax.cli import main
from ftax.results import MeasureConfig, Record
from ftax.runner import MeasureOptions
from ftax.timing import StopRule


def _gpu_grids(device: str = "cuda") -> list[studies.Grid]:
    return studies.study_grids("gpu-reference", "quick", device)


def test_gpu_reference_is_not_a_book_study_and_keeps_the_other_studies():
    assert "gpu-reference" not in studies.STUDIES and "gpu-reference" in studies.RUNS
    grids = _gpu_grids()
    names = [name for name, _ in plan.tiers(grids)]
    assert names[0] == "must-have" and len(names) == len(set(names)) > 3
    must = studies.study_configs(plan.tiers(grids)[0][1])
    curve = {c.batch_size for c in must if c.model == "bert-base" and c.backend == "cudagraph"}
    assert curve == set(studies.pow2(1, 256))
    assert {c.backend for c in must if c.batch_size == 64} >= {"eager", "torchscript", "compile"}
    assert {c.model for c in must if c.batch_size == 1} >= {"distilbert", "mobilebert", "squeezebert"}
    assert all(c.device == "cuda" and c.seq_len == 128 for c in must)


def test_timing_grows_with_the_call_and_the_sampling_share():
    rule = studies.RULES["quick"].share(3)
    times = [plan.timing_s(rule, t) for t in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)]
    assert times == sorted(times)
    assert plan.timing_s(rule, 1e-3, 0.0) < plan.timing_s(rule, 1e-3, 1.0)
    assert plan.timing_s(rule, 1e-3, 0.0) >= rule.min_time_s


def test_compile_graphs_follow_dynamos_rule():
    # page 02's round 0 on the CPU: static, then dynamic batch, then the batch-1 and seq-1 specializations
    flags = plan.compile_graphs([(2, 128), (32, 128), (4, 128), (8, 128), (16, 128), (1, 128), (1, 1), (64, 128)])
    assert flags == [True, True, False, False, False, True, True, False]
    assert plan.compile_graphs([(8, 128), (8, 128)]) == [True, False]


def test_cuda_plan_on_a_cpu_machine_uses_labelled_defaults_and_cuts_at_the_budget(tmp_path):
    grids = _gpu_grids()
    cal = plan.calibrate(pd.DataFrame(), "cuda")
    assert cal.device == "cuda" and cal.figure("compile_graph_s").source.startswith("default")
    full = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1e9)
    cut = plan.estimate(grids, 3, grids[0].rule, cal, budget_s=full.tier_seconds()[0][1] + 1)
    assert full.within_budget() == [name for name, _ in plan.tiers(grids)]
    assert cut.within_budget() == ["must-have"] or cut.within_budget()[0] == "must-have"
    assert plan.estimate(grids, 3, grids[0].rule, cal, budget_s=1).within_budget() == []
    text = cut.format()
    assert "cuts here" in text and "must-have" in text and "default:" in text
    # an onnxruntime without a CUDA provider: rows, not measurements, and nearly free
    ort = [v for _, _, vs in full.tiers for v in vs if v.config.backend == "onnxruntime"]
    if ort and not torch.cuda.is_available():
        assert not any(v.runs for v in ort)
    # more rounds cost more
    assert plan.estimate(grids, 5, grids[0].rule, cal).seconds > full.seconds


def _record(config: MeasureConfig, round_: int, rule: str, median_ms: float = 1.0, **setup) -> Record:
    from ftax.env import fingerprint

    stats = dict(median_ms=median_ms, p90_ms=median_ms, p99_ms=median_ms, mean_ms=median_ms, std_ms=0.0,
                 iqr_ms=0.0, ci_low_ms=median_ms, ci_high_ms=median_ms, n=10)
    setup = {"prepare_s": 0.1, "model_build_s": 0.5, "total_time_s": 0.2, "first_call_ms": median_ms,
             "backend_detail": "", **setup}
    return Record(config=config, status="ok", message="", env=fingerprint(), stats=stats, setup=setup,
                  round=round_, rule=rule, flops=1e6 * config.batch_size)


def test_resume_plans_only_what_is_missing_in_priority_order(tmp_path):
    grids = [replace(g, rule=studies.RULES["smoke"]) for g in studies.study_grids("paradigms", "smoke", "cpu")]
    grids = [replace(grids[0], backends=("eager", "torchscript"), decompose=False, tier="first"),
             replace(grids[0], backends=("eager", "onnxruntime"), batch_sizes=(1,), decompose=False, tier="second")]
    cal = plan.calibrate(pd.DataFrame(), "cpu")
    before = plan.estimate(grids, 2, grids[0].rule, cal, budget_s=1e9)
    assert [name for name, _, _ in before.tiers] == ["first", "second"]
    # the eager/torchscript configs of tier one are stored for both rounds (an interrupted run that finished it)
    first = studies.study_configs(grids[:1])
    stored = {}
    from ftax.env import fingerprint

    machine = fingerprint()["machine_id"]
    for config in first:
        for r in range(2):
            data = json.loads(_record(config, r, grids[0].rule.share(2).name).to_json())
            stored[(results.config_key(config, machine), r, grids[0].rule.share(2).name)] = data
    after = plan.estimate(grids, 2, grids[0].rule, cal, budget_s=1e9, stored=stored)
    assert after.tiers[0][2] == []  # nothing left of the first tier
    second = {v.config for v in after.tiers[1][2]}
    assert second and all(c.backend == "onnxruntime" for c in second)  # eager bs=1 came with the first tier
    assert after.seconds < before.seconds


def test_run_tiers_stops_before_a_tier_past_the_budget(tmp_path, monkeypatch):
    grids = [replace(g, tier=t) for g, t in zip(studies.study_grids("paradigms", "smoke", "cpu") * 2, ("a", "b"))]
    grids[1] = replace(grids[1], batch_sizes=(2, 3))
    monkeypatch.setattr(plan, "plan_sweep", lambda *a, **k: plan.estimate(
        grids, 1, grids[0].rule, plan.calibrate(pd.DataFrame(), "cpu"), budget_s=1e9))
    measured, lines, now = [], [], [0.0]

    def fake_measure(tier_grids, *args, **kwargs):
        measured.append(tier_grids[0].tier)
        now[0] += 1e6  # this tier took the whole budget
        return None

    plan.run_tiers(grids, tmp_path, 1, MeasureOptions(), budget_s=100.0,
                   log=lines.append, clock=lambda: now[0], measure=fake_measure)
    assert measured == ["a"]
    assert any("stopping before tier 2/2 b" in line for line in lines)


def test_cli_plan_prints_without_measuring(tmp_path, capsys):
    code = main(["sweep", "--study", "gpu-reference", "--device", "cuda", "--rounds", "3", "--plan",
                 "--budget-s", "300", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "budget 300 s" in out and "must-have" in out
    assert not list(tmp_path.glob("*.jsonl"))
    assert main(["sweep", "--study", "gpu-reference", "--plan", "--budget-s", "-1", "--out", str(tmp_path)]) == 2


def test_calibration_from_records_names_its_source(tmp_path):
    rule = studies.RULES["quick"].share(3)
    for r in range(3):
        for b in (1, 2, 4, 8):
            results.append(results.store_path(tmp_path, "m"), _record(
                MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", b, 16), r, rule.name, median_ms=b, total_time_s=0.2))
    cal = plan.calibrate(results.load(tmp_path), "cpu")
    assert cal.source.startswith("records")
    assert cal.figure("sampling_share").source.startswith("records")
    t, how = plan.latency_s(MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 2, 16), cal)
    assert how == "records" and t == pytest.approx(2e-3)
    t16, how = plan.latency_s(MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 16, 16), cal)
    assert how == "records" and t16 > 8e-3  # a line through the curve, beyond its last point


def test_loader_reads_compressed_stores_next_to_plain_ones(tmp_path):
    config = MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 16)
    archived, live = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl"
    with gzip.open(archived, "wt") as fh:
        fh.write(_record(config, 0, "quick/3").to_json() + "\n")
    results.append(live, _record(config, 1, "quick/3"))
    frame = results.load(tmp_path)
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
        rows = list(results.iter_records(cut.parent))
    assert 0 < len(rows) < 50 and data


# --- on a GPU (run by benchmarks/gpu_reference.sh) -----------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cudagraph", "compile-reduce-overhead"])
def test_cuda_static_runtime_measures_bert_tiny(backend):
    from ftax.runner import MeasureOptions, measure_config

    rule = StopRule(name="smoke-gpu", warmup_iters=2, min_iters=5, min_time_s=0.02, max_time_s=0.2)
    record = measure_config(MeasureConfig.make("bert-tiny", backend, "fp32", "cuda", 8, 128), MeasureOptions(rule=rule))
    assert record.status == "ok", record.message
    assert record.parity["ok"] and record.stats["median_ms"] > 0 and record.pipelined_ms > 0
    assert record.setup["prepare_s"] > 0


@pytest.mark.gpu
def test_gpu_plan_calibrates_from_a_real_cuda_record(tmp_path):
    from ftax.runner import MeasureOptions, measure_config

    record = measure_config(MeasureConfig.make("bert-tiny", "eager", "fp32", "cuda", 1, 128),
                            MeasureOptions(rule=studies.RULES["smoke"]), round_=0)
    results.append(results.store_path(tmp_path, record.machine_id), record)
    cal = plan.calibrate(results.load(tmp_path), "cuda")
    assert cal.source.startswith("records")
    t, how = plan.latency_s(record.config, cal)
    assert how == "records" and t > 0
