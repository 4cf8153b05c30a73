"""Sweeps: resume after SIGKILL, failures as rows, grid validation, model reuse."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ftax.read import estimates
from ftax.run import backends, models
from ftax.store import dataframe, env, jsonl, resume, schema
from ftax.study import studies
from ftax.sweep import rounds as sweep
from ftax.run.backends import Prepared
from ftax.study.catalogue import STUDIES
from ftax.store.errors import InvalidConfigError
from ftax.sweep.grids import Grid, study_configs
from ftax.study.page_parameters import study_grids
from ftax.sweep.profiles import PROFILES, ROUNDS, RULES
from ftax.run.runner import MeasureOptions
from ftax.study.studies import measure_studies

SMOKE = MeasureOptions(rule=RULES["smoke"], count_flops=False)


def _raiser(exc: Exception):
    def prepare(model, inputs, cache_dir):
        raise exc
    return prepare


def _wrong_output(model, inputs, cache_dir):
    out = model.module(*inputs) + 1.0
    return Prepared("test-wrong", lambda: out, lambda: out, prepare_s=0.0)


FAKE_BACKENDS = ("test-oom", "test-error", "test-unavailable", "test-wrong")


@pytest.fixture(scope="module", autouse=True)
def fake_backends():
    """Backends that fail in each way a real one can, registered for this module only."""
    backends.register("test-oom", _raiser(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")))
    backends.register("test-error", _raiser(RuntimeError("boom in a native kernel")))
    backends.register("test-unavailable", _raiser(AssertionError("never prepared")),
                      availability=lambda device, dtype: "test backend is never available")
    backends.register("test-wrong", _wrong_output)
    yield
    for name in FAKE_BACKENDS:
        backends.unregister(name)


def _grid(**kw) -> Grid:
    base = dict(name="t", models=("bert-tiny",), backends=("eager",), batch_sizes=(1,), seq_lens=(8,), device="cpu",
                rule=RULES["smoke"])
    base.update(kw)
    return Grid(**base)


def test_each_failure_kind_becomes_a_row_and_the_sweep_goes_on(tmp_path):
    grid = _grid(backends=("test-oom", "test-error", "test-unavailable", "test-wrong", "eager"))
    summary = sweep.run_sweep(grid.configs(), tmp_path, SMOKE, progress=False)
    frame = dataframe.load(tmp_path).set_index("backend")
    assert summary.counts == {"oom": 1, "error": 1, "unsupported": 1, "ok": 2}
    assert frame.loc["test-oom", "status"] == "oom" and "out of memory" in frame.loc["test-oom", "message"]
    assert frame.loc["test-error", "status"] == "error"
    assert frame.loc["test-error", "message"] == "RuntimeError: boom in a native kernel"
    assert frame.loc["test-unavailable", "message"] == "test backend is never available"
    assert frame.loc["test-wrong", "status"] == "ok" and not frame.loc["test-wrong", "parity_ok"]
    assert "parity failed" in frame.loc["test-wrong", "message"]
    assert frame.loc["eager", "status"] == "ok" and frame.loc["eager", "parity_ok"]


def test_resume_skips_stored_and_retry_failed_reruns(tmp_path):
    configs = _grid(backends=("test-error", "eager"), batch_sizes=(1, 2)).configs()
    first = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    assert sum(first.counts.values()) == 4
    again = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    assert sum(again.counts.values()) == 0 and again.skipped == 4 and "nothing to measure" in str(again)
    retried = sweep.run_sweep(configs, tmp_path, SMOKE, retry_failed=True, progress=False)
    assert retried.counts == {"error": 2}


def test_model_is_built_once_per_model_dtype_overrides(tmp_path, monkeypatch):
    calls = []
    real_build = models.build_validated
    monkeypatch.setattr(models, "build_validated", lambda *a, **k: calls.append(a[0].name) or real_build(*a, **k))
    grid = _grid(backends=("eager", "torchscript"), batch_sizes=(1, 2), seq_lens=(8, 16),
                 overrides=((), (("depth", 1),)))
    sweep.run_sweep(grid.configs(), tmp_path, SMOKE, progress=False)
    assert calls == ["bert-tiny", "bert-tiny"]
    assert len(dataframe.load(tmp_path)) == 16


def test_grid_order_is_stable_and_model_major():
    configs = _grid(models=("bert-tiny", "synthetic-linear"), batch_sizes=(1, 2), backends=("eager", "torchscript"))\
        .configs()
    assert configs == _grid(models=("bert-tiny", "synthetic-linear"), batch_sizes=(1, 2),
                            backends=("eager", "torchscript")).configs()
    assert [c.model for c in configs] == ["bert-tiny"] * 4 + ["synthetic-linear"] * 4


@pytest.mark.parametrize("text, message", [
    ("models: [bert-tiny]\nbogus: [1]\n", "unknown key(s) ['bogus']"),
    ("models: [bert-tinyy]\n", "Did you mean bert-tiny"),
    ("models: [bert-tiny]\nbatch_sizes: [1, two]\n", "batch_sizes must be a list of int"),
    ("models: bert-tiny\n", "models must be a list of str"),
    ("models: [bert-tiny]\nbackends: [eagre]\n", "unknown backend 'eagre'"),
    ("- just\n- a list\n", "must hold a mapping"),
])
def test_bad_grid_files_fail_before_anything_runs(tmp_path, text, message):
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(text)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "ftax", "sweep", "--grid", str(grid_file), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def _ok_visits(path: Path) -> list[tuple]:
    return [resume.visit_key(d) for d in jsonl.iter_records(path) if d["status"] == "ok"]


def test_interleaved_is_a_seeded_permutation_keeping_the_backends_of_a_shape_together():
    configs = _grid(models=("bert-tiny", "synthetic-linear"), backends=("eager", "torchscript", "onnxruntime"),
                    batch_sizes=(1, 2, 4), seq_lens=(8, 16)).configs()
    first, again, other = (sweep.interleaved(configs, seed) for seed in (3, 3, 4))
    assert sorted(first, key=str) == sorted(configs, key=str) and first == again and first != other
    assert [c.model for c in first] == [c.model for c in configs]  # model groups keep their order: one build each
    shapes = [(c.model, c.seq_len, c.batch_size) for c in first]
    runs = [shape for i, shape in enumerate(shapes) if i == 0 or shapes[i - 1] != shape]
    assert len(runs) == len(set(runs)) == 12  # each shape's 3 backends back to back
    orders = {tuple(c.backend for c in first[i:i + 3]) for i in range(0, len(first), 3)}
    assert len(orders) > 1  # the backends' order is shuffled, not always the same


def test_rounds_store_one_visit_each_and_resume_per_round(tmp_path):
    configs = _grid(models=("synthetic-linear",), backends=("eager", "torchscript"), batch_sizes=(1, 2),
                    overrides=((("depth", 1), ("width", 16)),)).configs()
    first = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=2, seed=7)
    assert first.total == 8 and sum(first.counts.values()) == 8
    visits = dataframe.load(tmp_path)
    assert sorted(visits["round"].value_counts().items()) == [(0, 4), (1, 4)]
    assert set(visits["rule"]) == {"smoke/2"} and set(visits["threads"]) == {env.default_threads()}
    assert sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=2).skipped == 8
    third = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=3)  # another rule: its own visits
    assert sum(third.counts.values()) == 12
    with pytest.raises(InvalidConfigError, match="rounds must be a positive integer"):
        sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=0)


def test_visits_measured_with_other_software_are_not_resumed_over(tmp_path):
    configs = _grid(models=("synthetic-linear",), batch_sizes=(1,), overrides=((("depth", 1), ("width", 16)),)).configs()
    sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    [store] = list(tmp_path.glob("*.jsonl"))
    data = json.loads(store.read_text().splitlines()[0])
    data["env"]["torch_version"] = "1.0.0"
    store.write_text(json.dumps(data) + "\n")
    again = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    assert sum(again.counts.values()) == 1
    versions = {d["env"]["torch_version"] for d in jsonl.iter_records(store)}
    assert len(versions) == 2 and "1.0.0" in versions


def test_a_visit_gets_its_share_of_the_profiles_time():
    rule = RULES["quick"]
    third = rule.share(3)
    assert third.max_time_s == pytest.approx(rule.max_time_s / 3) and third.min_time_s == pytest.approx(rule.min_time_s / 3)
    assert third.target_rel_ci == rule.target_rel_ci and third.name == "quick/3" and rule.share(1) == rule
    assert third.min_iters == max(3, -(-rule.min_iters // 3)) and third.pipelined_rounds >= 1
    # the warm-up is part of a visit's budget too: otherwise three rounds triple it
    assert third.warmup_max_s == pytest.approx(rule.warmup_max_s / 3)
    assert third.warmup_time_s == pytest.approx(rule.warmup_time_s / 3) and 1 <= third.warmup_iters <= rule.warmup_iters
    assert third.pipelined_max_s == pytest.approx(rule.pipelined_max_s / 3)


def test_flops_decomposition_and_parity_are_taken_in_the_first_round_only(tmp_path):
    configs = _grid(models=("synthetic-linear",), backends=("eager", "torchscript"), batch_sizes=(1,),
                    overrides=((("depth", 1), ("width", 16)),)).configs()
    options = MeasureOptions(rule=RULES["smoke"], decompose=True)
    sweep.run_sweep(configs, tmp_path, options, progress=False, rounds=2)
    visits = dataframe.load(tmp_path).sort_values(["backend", "round"])
    assert visits["decomposition_method"].notna().tolist() == [True, False] * 2
    assert visits["flops"].notna().tolist() == [True, False] * 2
    assert visits["parity_ok"].tolist()[::2] == [True, True] and visits["parity_ok"].isna().tolist()[1::2] == [True] * 2
    assert sum(sweep.run_sweep(configs, tmp_path, options, progress=False, rounds=2).counts.values()) == 0
    one_per_config = estimates.per_config(visits)  # what describes the config reaches its row from round 0
    assert one_per_config["parity_ok"].tolist() == [True, True]
    assert one_per_config["decomposition_method"].notna().all() and one_per_config["flops"].notna().all()
    sizes = one_per_config["write_sizes"].tolist()  # the writes by size, [[bytes, count], ...], add up to the bytes
    assert [sum(s * n for s, n in pairs) for pairs in sizes] == one_per_config["written_bytes"].tolist()


def test_the_book_sweeps_every_study_as_one_so_shared_shapes_are_timed_together(monkeypatch):
    """Page 02's eager configs are page 01's: swept per page, the eager side of a speedup would be a
    visit minutes away from the runtime it is compared with, and page 05 would re-measure round 0."""
    calls, probed = [], []
    summary = sweep.SweepSummary(path=Path("unused"), total=1, skipped=0, counts=Counter(ok=1))
    monkeypatch.setattr(sweep, "run_sweep", lambda configs, *a, **kw: calls.append((configs, kw)) or summary)
    monkeypatch.setattr(studies, "ensure_probe",
                        lambda out, device, dtype, max_age_s: probed.append((device, dtype, max_age_s)))
    for profile in PROFILES:
        calls.clear()
        probed.clear()
        assert measure_studies(profile=profile, device="cpu", results_dir="unused", progress=False) is summary
        [(configs, kw)] = calls
        grids = [g for study in STUDIES for g in study_grids(study, profile, device="cpu")]
        assert configs == study_configs(grids) and kw["rounds"] == ROUNDS[profile]
        assert kw["decompose"] == study_configs(g for g in grids if g.decompose)
        # the tax model's probes, once each, and measured anew because the sweep measured new curves
        assert set(probed) == {(c.device, c.dtype, 0.0) for c in configs}
    probed.clear()  # a sweep that measured nothing leaves the stored probes (of any version) as they are
    monkeypatch.setattr(sweep, "run_sweep", lambda configs, *a, **kw: replace(summary, counts=Counter()))
    monkeypatch.setattr(studies, "any_probe_stored", lambda out, device, dtype: dtype != "fp16")
    measure_studies(profile="quick", device="cpu", results_dir="unused", progress=False)
    assert {dtype for _, dtype, _ in probed} == {"fp16"}


def test_the_tax_model_probes_are_taken_before_each_round_that_measures_and_after_the_last(tmp_path, monkeypatch):
    """So a curve is read with probes from between its rounds (`curve_probes.probe_for`), not from another hour."""
    probed = []
    monkeypatch.setattr(studies, "ensure_probe", lambda out, device, dtype, max_age_s: probed.append(dtype))
    monkeypatch.setattr(studies, "any_probe_stored", lambda out, device, dtype: True)  # (the mock stores none)
    grid = Grid("tiny", models=("synthetic-linear",), batch_sizes=(1, 2), seq_lens=(8,), device="cpu",
                rule=RULES["smoke"], overrides=((("depth", 1), ("width", 16)),))
    studies.measure_grids([grid], tmp_path, rounds=2, probes=True)
    assert probed == ["fp32"] * 3  # before round 1, before round 2, after
    probed.clear()
    studies.measure_grids([grid], tmp_path, rounds=2, probes=True)  # all stored: nothing measured, nothing probed
    assert probed == []


def test_grouped_keeps_each_model_group_contiguous_in_first_seen_order():
    a1, b1, a2 = (_grid(models=(m,), batch_sizes=(bs,)).configs()[0] for m, bs in
                  (("bert-tiny", 1), ("bert-mini", 1), ("bert-tiny", 2)))
    assert sweep.grouped([a1, b1, a2, a1]) == [a1, a2, b1]


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_exactly_one_ok_record_per_visit(tmp_path):
    """8 configs x 2 rounds: a kill loses at most the visit in flight; the rerun adds the missing visits only."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "ftax", "sweep", "--models", "bert-tiny,synthetic-layernorm", "--backends", "eager",
           "--batch-sizes", "1,2,4,8", "--seq-lens", "8", "--device", "cpu", "--profile", "smoke",
           "--rounds", "2", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    store = None
    while time.time() < deadline:
        files = list(out.glob("*.jsonl")) if out.exists() else []
        if files and len(files[0].read_text().splitlines()) >= 3:
            store = files[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert store is not None and proc.returncode == -signal.SIGKILL
    lines_at_kill = len(store.read_text().splitlines())
    assert lines_at_kill < 16, "the sweep finished before it was killed; make the grid bigger"
    with open(store, "a") as fh:  # what a kill in the middle of a write would leave behind
        fh.write('{"config": {"model": "bert-ti')
    with pytest.warns(UserWarning, match=r"\.jsonl:\d+: skipped unreadable record"):
        assert len(dataframe.load(out)) == lines_at_kill

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    visits = _ok_visits(store)
    assert len(visits) == len(set(visits)) == 16
    assert {r for _, r, _ in visits} == {0, 1} and {rule for _, _, rule in visits} == {"smoke/2"}
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "nothing to measure" in final.stdout
    assert _ok_visits(store) == visits


def test_load_reads_several_machines_and_skips_corrupt_lines(tmp_path):
    grid = _grid(backends=("eager",), batch_sizes=(1, 2))
    sweep.run_sweep(grid.configs(), tmp_path, SMOKE, progress=False)
    [mine] = list(tmp_path.glob("*.jsonl"))
    other = tmp_path / "other-gpu-16c-abcdef.jsonl"
    for line in mine.read_text().splitlines():
        data = json.loads(line)
        data["env"].update(machine_id="other-gpu-16c-abcdef", gpu_name="Other GPU")
        data["config"]["device"] = "cuda"
        record = schema.Record.from_dict(data)
        jsonl.append(other, record)
    with open(other, "a") as fh:
        fh.write("not json at all\n")
    with pytest.warns(UserWarning, match="other-gpu-16c-abcdef.jsonl:3"):
        frame = dataframe.load(tmp_path)
    assert sorted(frame["machine_id"].unique()) == sorted([mine.stem, "other-gpu-16c-abcdef"])
    assert len(frame) == 4 and frame["config_key"].is_unique
    assert set(frame.loc[frame.machine_id == "other-gpu-16c-abcdef", "machine_label"]) == {"Other GPU (GPU)"}


def test_append_after_a_truncated_line_starts_a_new_line(tmp_path):
    path = tmp_path / "m.jsonl"
    record = schema.Record(config=schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 8),
                           status="error", message="x", env={"machine_id": "m"})
    path.write_text('{"partial": ')
    jsonl.append(path, record)
    with pytest.warns(UserWarning, match="m.jsonl:1"):
        rows = list(jsonl.iter_records(path))
    assert [r["config_key"] for r in rows] == [record.config_key]


def test_record_round_trips_and_refuses_unknown_schema():
    record = schema.Record(config=schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 8,
                                                            {"width": 64}),
                           status="ok", message="", env={"machine_id": "m"}, stats={"median_ms": 1.0})
    data = json.loads(record.to_json())
    assert schema.Record.from_dict(data) == record
    data["schema_version"] = 999
    with pytest.raises(ValueError, match="schema_version"):
        schema.Record.from_dict(data)
    with pytest.raises(ValueError, match="status"):
        schema.Record(config=record.config, status="great", message="", env={})


def test_config_key_depends_on_config_and_machine_only():
    a = schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 8, {"width": 64, "depth": 2})
    b = schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 8, {"depth": 2, "width": 64})
    assert schema.config_key(a, "m") == schema.config_key(b, "m")
    assert schema.config_key(a, "m") != schema.config_key(a, "n")


def test_study_validation_is_clear():
    with pytest.raises(InvalidConfigError, match="unknown study"):
        study_grids("nope")
    with pytest.raises(InvalidConfigError, match="batch_sizes must hold positive integers"):
        study_grids("paradigms", "smoke", "cpu", batch_sizes=[0])
    with pytest.raises(InvalidConfigError, match="models must be a list"):
        study_grids("paradigms", "smoke", "cpu", models="bert-tiny")


def test_record_json_is_strict_even_with_non_finite_values():
    record = schema.Record(config=schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 8),
                           status="ok", message="", env={"machine_id": "m"},
                           parity={"max_abs_diff": float("inf"), "tolerance": 1e-3, "ok": False})
    data = json.loads(record.to_json(), parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert data["parity"]["max_abs_diff"] is None


def test_unknown_names_raise_but_impossible_sizes_are_rows():
    from ftax.run.runner import measure_config

    with pytest.raises(InvalidConfigError, match="unknown model"):
        measure_config(schema.MeasureConfig.make("bert-tinyy", "eager", "fp32", "cpu", 1, 8), SMOKE)
    record = measure_config(schema.MeasureConfig.make("bert-tiny", "eager", "fp32", "cpu", 1, 4096), SMOKE)
    assert record.status == "unsupported" and "outside bert-tiny's range" in record.message


def test_the_deadline_stops_a_sweep_of_slow_visits_with_every_finished_record_kept(tmp_path, monkeypatch):
    """Fake visits of one second each on a fake clock: none starts at or after the deadline, each one finished is
    on disk, the summary counts those left, and a rerun resumes exactly them."""
    now, started, rounds_begun = [0.0], [], []

    def slow_visit(together, options, cache, round_, order_seed):
        started.append(now[0])
        now[0] += 1.0
        stats = dict(median_ms=1.0, p90_ms=1.0, p99_ms=1.0, mean_ms=1.0, std_ms=0.0, iqr_ms=0.0, ci_low_ms=1.0,
                     ci_high_ms=1.0, n=5)
        return [schema.Record(config=c, status="ok", message="", env=env.fingerprint(), stats=stats, round=round_,
                              rule=options.rule.name) for c in together]

    monkeypatch.setattr(sweep, "measure_compared", slow_visit)
    configs = _grid(backends=("eager", "torchscript"), batch_sizes=(1, 2, 3, 4)).configs()  # 4 shapes of 2
    summary = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=2, deadline=5.5,
                              clock=lambda: now[0], before_round=rounds_begun.append)
    assert started == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and max(started) < 5.5  # round 0's 4 shapes, 2 of round 1
    assert rounds_begun == [0, 1]
    path = jsonl.store_path(tmp_path, env.fingerprint()["machine_id"])
    stored = list(jsonl.iter_records(path))
    assert len(stored) == 12 == sum(summary.counts.values())  # every finished visit is on disk
    assert summary.unmeasured == 4 and "the deadline left 4 visits unmeasured" in str(summary)
    # a deadline already past starts nothing, not even a round's probe
    late = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=2, deadline=0.0, clock=lambda: now[0],
                           before_round=rounds_begun.append)
    assert late.unmeasured == 4 and not sum(late.counts.values()) and rounds_begun == [0, 1]
    # the rerun makes exactly the visits left
    rest = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, rounds=2, clock=lambda: now[0])
    assert sum(rest.counts.values()) == 4 and rest.unmeasured == 0
    visits = [resume.visit_key(d) for d in jsonl.iter_records(path)]
    assert len(visits) == len(set(visits)) == 16


@pytest.mark.parametrize("rounds", [0, -2, 1.5, True])
def test_run_sweep_refuses_a_count_of_rounds_that_is_not_positive(tmp_path, rounds):
    with pytest.raises(InvalidConfigError, match="rounds must be a positive integer"):
        sweep.run_sweep(_grid().configs(), tmp_path, SMOKE, progress=False, rounds=rounds)


def test_a_run_says_its_estimate_first_and_weights_its_progress_by_cost(tmp_path, monkeypatch, capsys):
    """A newcomer's first `make book` took 40 minutes while its ETA swung between 4 minutes and 6 hours: the run
    says up front what the planner expects (and where its costs came from), and the bar moves by planned seconds."""
    calls = []
    summary = sweep.SweepSummary(path=Path("unused"), total=4, skipped=0, counts=Counter(ok=4))
    monkeypatch.setattr(sweep, "run_sweep", lambda configs, *a, **kw: calls.append((configs, kw)) or summary)
    grid = _grid(backends=("eager", "torchscript"), batch_sizes=(1, 2))
    studies.measure_grids([grid], tmp_path, rounds=2, progress=True)
    err = capsys.readouterr().err
    assert "8 visits to make, estimated" in err and "costs from " in err
    [(configs, kw)] = calls
    assert set(kw["costs"]) == {(c, r) for c in configs for r in range(2)}
    assert all(seconds > 0 for seconds in kw["costs"].values())
    studies.measure_grids([grid], tmp_path, rounds=2, progress=False)  # a notebook's quiet call plans nothing
    assert calls[-1][1]["costs"] is None and capsys.readouterr().err == ""


def test_progress_moves_by_each_visits_planned_seconds():
    configs = [schema.MeasureConfig.make("bert-tiny", b, "fp32", "cpu", 1, 8) for b in ("eager", "torchscript", "compile")]
    visits = [(c, 0) for c in configs]
    assert sweep.progress_weights(visits, None) == {v: 1 for v in visits}
    weights = sweep.progress_weights(visits, {visits[0]: 0.2, visits[1]: 30.4})  # compile: not priced
    assert weights == {visits[0]: 1, visits[1]: 30, visits[2]: round((0.2 + 30.4) / 2)}


def test_a_summary_ends_with_the_time_taken_against_the_estimate(tmp_path):
    grid = _grid(batch_sizes=(1, 2))
    configs = study_configs([grid])
    costs = {(c, 0): 3.0 for c in configs}
    summary = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False, costs=costs)
    assert summary.planned_s == 6.0
    assert f"in {summary.wall_s:.1f} s, planned 6 s" in str(summary)
    assert "planned" not in str(sweep.run_sweep(configs, tmp_path / "other", SMOKE, progress=False))
