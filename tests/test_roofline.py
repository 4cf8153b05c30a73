"""The roofline of a decode step on synthetic probes, work counts and visits: nothing here is timed."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from ftax import pages
from ftax.measure.op_profile import DECODE_OPS
from ftax.measure.probe import Probe, mean_of
from ftax.measure.step_work import StepWork
from ftax.pages import decode_roofline as roof
from ftax.read import curve_probes, roofline
from ftax.store import jsonl
from fake_study import FakeStudy
from ftax.sweep.grids import Grid

GBS, GFLOPS = 10.0, 100.0  # the synthetic machine: reads at 10 GB/s, multiplies at 100 GFLOP/s at every size
T0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")


def _probe(read: bool = True, gbs: float = GBS, gflops: float = GFLOPS, when: str = "2026-01-05T10:30:00+00:00",
           version: int = 3) -> Probe:
    return Probe(device="cpu", dtype="fp32", gemm_n=(16, 2048), gemm_flops=(8192.0, 1.7e10),
                 gemm_gflops=(gflops, gflops), bandwidth_gbs=20.0, threads=2, version=version, timestamp=when,
                 write_bytes=(65536.0,), write_gbs=(5.0,),
                 read_bytes=(2.0 ** 20, 2.0 ** 30) if read else (), read_gbs=(gbs, gbs) if read else ())


def _work(weight_bytes: float, flops_per_call: float = 1e6, calls: int = 10, buffer_bytes: float = 0) -> StepWork:
    return StepWork(int(weight_bytes), int(buffer_bytes), 0, ((flops_per_call, calls),))


def test_the_floor_is_the_larger_roof_and_says_which_binds():
    memory_bound = roofline.floor(_work(1e9), _probe())  # 1 GB at 10 GB/s = 100 ms; 1e7 FLOPs at 1e11/s = 0.1 ms
    assert memory_bound.memory_ms == pytest.approx(100.0) and memory_bound.compute_ms == pytest.approx(0.1)
    assert memory_bound.floor_ms == pytest.approx(100.0) and memory_bound.binds == "memory"
    compute_bound = roofline.floor(_work(1e6, flops_per_call=1e9, calls=100), _probe())  # 1e11 FLOPs: 1 s
    assert compute_bound.compute_ms == pytest.approx(1000.0) and compute_bound.binds == "compute"
    assert compute_bound.floor_ms == pytest.approx(max(compute_bound.memory_ms, compute_bound.compute_ms))


def test_the_read_rate_is_the_ladders_at_the_steps_bytes_and_each_gemm_is_priced_at_its_own_size():
    probe = Probe(device="cpu", dtype="fp32", gemm_n=(16, 2048), gemm_flops=(1e6, 1e8), gemm_gflops=(10.0, 100.0),
                  bandwidth_gbs=20.0, threads=2, read_bytes=(1e6, 1e9), read_gbs=(100.0, 10.0))
    assert probe.read_gbs_at(1e9) == pytest.approx(10.0) and probe.read_gbs_at(1e12) == pytest.approx(10.0)
    assert probe.read_gbs_at(1e6) == pytest.approx(100.0)
    work = StepWork(0, int(1e9), 0, ((1e6, 3), (1e8, 2)))  # buffers count as bytes read, like weights
    found = roofline.floor(work, probe)
    assert found.memory_ms == pytest.approx(100.0)
    assert found.compute_ms == pytest.approx((3 * 1e6 / 10e9 + 2 * 1e8 / 100e9) * 1e3)
    assert found.flops == pytest.approx(3e6 + 2e8)


def test_a_probe_without_the_read_ladder_draws_no_floor():
    assert roofline.floor(_work(1e9), _probe(read=False, version=2)) is None


def test_read_probe_round_trip_through_the_store(tmp_path):
    probe = _probe()
    assert Probe.from_dict(json.loads(json.dumps(probe.to_dict()))) == probe
    jsonl.append_side(tmp_path, "probes", "a", {**probe.to_dict(), "machine_id": "a"})
    jsonl.append_side(tmp_path, "probes", "a", {**_probe(read=False, version=2).to_dict(), "machine_id": "a"})
    assert roofline.read_probes(tmp_path) == {("a", "cpu", "fp32"): (probe,)}


OLD_V1 = {"bandwidth_gbs": 34.4, "device": "cpu", "dtype": "fp32", "gemm_flops": [8192.0, 65536.0],
          "gemm_gflops": [4.1, 7.4], "gemm_n": [16, 32], "machine_id": "a", "threads": 2, "version": 1}
OLD_V2 = {**OLD_V1, "version": 2, "timestamp": "2026-01-01T00:00:00+00:00", "write_bytes": [65536.0, 262144.0],
          "write_gbs": [5.0, 4.0]}


def test_old_probe_records_still_load_and_average_with_new_ones(tmp_path):
    for data in (OLD_V1, OLD_V2):
        jsonl.append_side(tmp_path, "probes", "a", data)
    old = curve_probes.stored_probes(tmp_path)[("a", "cpu", "fp32")]
    assert [p.version for p in old] == [1, 2] and all(p.read_gbs_at(1e9) is None for p in old)
    assert old[1].write_gbs_at(65536.0) == pytest.approx(5.0)
    assert roofline.read_probes(tmp_path) == {}
    mixed = mean_of([old[1], _probe()])
    assert mixed.read_gbs_at(1e9) == pytest.approx(GBS) and mixed.write_gbs_at(65536.0) == pytest.approx(5.0)


GRIDS = [Grid("decode", models=("gpt2",), backends=("eager",), batch_sizes=(1, 4, 16), seq_lens=(128,),
              phases=("decode",), device="cpu"),
         Grid("prefill", models=("gpt2",), batch_sizes=(1,), seq_lens=(128,), phases=("prefill",), device="cpu")]
STEP_MS = {1: 40.0, 4: 100.0, 16: 104.0}


def _visits() -> pd.DataFrame:
    rows = []
    for r, level in enumerate((1.0, 1.1, 0.95)):
        for i, (batch, ms) in enumerate(STEP_MS.items()):
            rows.append(_visit("decode", batch, ms * level, r, 10 * r + i))
        rows.append(_visit("prefill", 1, 200.0 * level, r, 10 * r + 5))
    return pd.DataFrame(rows)


def _visit(phase: str, batch: int, ms: float, round_: int, minute: float) -> dict:
    return dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu", model="gpt2",
                backend="eager", dtype="fp32", seq_len=128, overrides="{}", batch_size=batch, phase=phase,
                median_ms=ms, ci_low_ms=ms * 0.99, ci_high_ms=ms * 1.01, target_met=True, target_rel_ci=0.03,
                schema_version=3, env_torch_version="2.0", env_torch_threads=2, env_cpu_count=2, env_load_avg_1m=1.0,
                env_hostname="box-1", rule="quick/3", round=round_, timestamp=T0 + pd.Timedelta(minutes=minute))


def _store_work(out, phase: str, batch: int, work: StepWork, ops=None, profiled_ms=None) -> None:
    jsonl.append_side(out, DECODE_OPS, "a", {"model": "gpt2", "dtype": "fp32", "device": "cpu", "batch_size": batch,
                                             "seq_len": 128, "phase": phase, "work": work.to_dict(),
                                             "profiled_ms": profiled_ms, "steps": 10, "ops": ops or [], "shapes": [],
                                             "machine_id": "a", "timestamp": "2026-01-05T11:00:00+00:00"})


def _view(out) -> pages.PageView:
    return pages.view(FakeStudy(_visits(), GRIDS, results_dir=str(out)), "cpu")


def _stored(out, probe: bool = True) -> None:
    for batch in STEP_MS:  # weights 300 MB and a cache of 10 MB per sequence: 31, 34 and 46 ms at 10 GB/s
        _store_work(out, "decode", batch, _work(3e8, flops_per_call=2e6 * batch, calls=100, buffer_bytes=1e7 * batch))
    _store_work(out, "prefill", 1, _work(3e8, flops_per_call=2.56e8, calls=100))  # 2.56e10 FLOPs: 256 ms
    if probe:
        jsonl.append_side(out, "probes", "a", {**_probe().to_dict(), "machine_id": "a"})


def test_floors_recover_each_steps_ratio_to_its_floor(tmp_path):
    _stored(tmp_path)
    table = roof.roofline_table(_view(tmp_path)).set_index(["phase", "batch_size"])
    for batch, ms in STEP_MS.items():
        floor_ms = (3e8 + 1e7 * batch) / (GBS * 1e9) * 1e3
        row = table.loc[("decode", batch)]
        assert row.floor_ms == pytest.approx(floor_ms) and row.binds == "memory"
        assert row.over_low <= row.over <= row.over_high
        assert row.over == pytest.approx(row.estimate_ms / floor_ms)
    prefill = table.loc[("prefill", 1)]
    assert prefill.binds == "compute" and prefill.compute_ms == pytest.approx(256.0)


def test_growth_sets_the_paired_ratio_beside_each_roofs_and_says_how_it_grows_against_the_floor(tmp_path):
    _stored(tmp_path)
    v = _view(tmp_path)
    text = roof.roofline_markdown(v)
    table = roof.roofline_table(v)
    floor = {b: table[(table.phase == "decode") & (table.batch_size == b)].iloc[0].floor_ms for b in STEP_MS}
    assert f"| T(16)/T(4) | 1.04x [1.04, 1.04], 3 rounds | {floor[16] / floor[4]:.3g}x | 4x |" in text
    assert f"| T(4)/T(1) | 2.5x [2.5, 2.5], 3 rounds | {floor[4] / floor[1]:.3g}x | 4x |" in text
    assert "gpt2 T(4)/T(1) grows more than its floor for eager" in text  # 2.5x against 1.1x
    assert "gpt2 T(16)/T(4) grows less than its floor for eager" in text  # 1.04x against 1.35x
    assert roofline.growth(table, pd.DataFrame(), 4, 16).empty


def test_without_a_read_probe_the_section_says_not_measured(tmp_path):
    _stored(tmp_path, probe=False)
    jsonl.append_side(tmp_path, "probes", "a", {**OLD_V2, "machine_id": "a"})
    text = roof.roofline_markdown(_view(tmp_path))
    assert text.startswith("Not measured") and "no probe with the read ladder" in text
    assert "benchmarks/decode_ops.py" in text


def test_without_work_counts_the_section_says_not_measured(tmp_path):
    jsonl.append_side(tmp_path, "probes", "a", {**_probe().to_dict(), "machine_id": "a"})
    text = roof.roofline_markdown(_view(tmp_path))
    assert text.startswith("Not measured") and "work not counted" in text
    assert roof.ops_markdown(_view(tmp_path)).startswith("Not measured")


def test_a_config_without_its_work_counted_is_named_not_dropped(tmp_path):
    _stored(tmp_path)
    rows = _visits()
    rows = pd.concat([rows, rows[rows.batch_size == 16].assign(batch_size=64)], ignore_index=True)  # no work counted at batch 64
    text = roof.roofline_markdown(pages.view(FakeStudy(rows, GRIDS, results_dir=str(tmp_path)), "cpu"))
    assert "No floor for work not counted: gpt2 eager decode batch 64." in text
