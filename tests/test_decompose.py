"""The decomposition: pure event parsing on hand-built events, then decompose on real callables."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from ftax.measure import decompose
from ftax.measure.decompose import Event, StepParts, split_cpu_ops, step_parts, summarize, union_ms

# --- union ---------------------------------------------------------------------------------


@pytest.mark.parametrize("intervals, expected", [
    ([], 0.0),
    ([(1.0, 3.0)], 2.0),
    ([(0.0, 2.0), (1.0, 3.0)], 3.0),                  # overlap
    ([(0.0, 10.0), (2.0, 3.0), (4.0, 9.0)], 10.0),    # nesting
    ([(0.0, 1.0), (2.0, 3.0), (5.0, 9.0)], 6.0),      # gaps
    ([(5.0, 9.0), (0.0, 1.0), (0.5, 2.0)], 6.0),      # unsorted, overlap and gap
    ([(0.0, 1.0), (1.0, 2.0)], 2.0),                  # touching
    ([(3.0, 3.0), (4.0, 2.0)], 0.0),                  # empty and reversed count nothing
])
def test_union(intervals, expected):
    assert union_ms(intervals) == pytest.approx(expected)


def test_union_matches_a_dense_grid():
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 100, 40)
    intervals = [(s, s + d) for s, d in zip(starts, rng.uniform(0, 8, 40))]
    grid = np.arange(0, 120, 0.001) + 0.0005
    covered = np.zeros_like(grid, dtype=bool)
    for s, e in intervals:
        covered |= (grid >= s) & (grid < e)
    assert union_ms(intervals) == pytest.approx(covered.sum() * 0.001, abs=0.01)


# --- CPU classification --------------------------------------------------------------------

def test_cpu_compute_classification():
    compute = ["aten::addmm", "aten::bmm", "aten::mkldnn_convolution", "aten::_softmax", "aten::native_layer_norm",
               "aten::gelu", "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::copy_",
               "graph_0_cpp_fused_gelu_view_3"]
    host = ["aten::linear", "aten::matmul", "aten::view", "aten::t", "aten::empty", "aten::conv2d",
            "aten::layer_norm", "aten::scaled_dot_product_attention", "ftax_step", "Torch-Compiled Region: 0/0",
            "cudaLaunchKernel", "other::addmm"]
    assert all(decompose.is_cpu_compute(n) for n in compute)
    assert not any(decompose.is_cpu_compute(n) for n in host)


def test_split_cpu_ops_sums_self_times():
    ops = [("aten::linear", 2.0), ("aten::t", 1.0), ("aten::addmm", 10.0), ("aten::copy_", 3.0),
           ("ftax_step", 50.0), ("## Call CompiledFxGraph abc ##", 7.0), ("graph_0_cpp_fused_x", 4.0)]
    busy, host, count = split_cpu_ops(ops)
    assert busy == pytest.approx(17.0)        # addmm + copy_ + fused kernel
    assert host == pytest.approx(20.0)        # every aten op and the fused kernel
    assert count == 4                         # aten ops only


# --- steps ---------------------------------------------------------------------------------

def _cpu_step(t0: float) -> list[Event]:
    return [Event("ftax_step", t0, t0 + 100, 5.0, activity="user_annotation"),
            Event("aten::linear", t0 + 1, t0 + 40, 4.0), Event("aten::t", t0 + 2, t0 + 3, 1.0),
            Event("aten::addmm", t0 + 4, t0 + 39, 30.0), Event("aten::gelu", t0 + 50, t0 + 60, 10.0)]


def test_cpu_step_parts():
    events = _cpu_step(0.0) + _cpu_step(200.0) + [Event("aten::addmm", 150, 160, 10.0)]  # between steps: ignored
    parts = step_parts(events, cuda=False)
    assert parts == [StepParts(100.0, 40.0, 45.0, 4, 0)] * 2


def test_cuda_step_parts_union_and_launches():
    events = [Event("ftax_step", 0, 100, activity="user_annotation"),
              Event("ftax_step", 0, 100, on_device=True, activity="gpu_user_annotation"),
              Event("aten::addmm", 1, 10, 3.0), Event("cudaLaunchKernel", 2, 4, 2.0, activity="cuda_runtime"),
              Event("aten::gelu", 11, 15, 2.0), Event("cudaLaunchKernel", 12, 14, 2.0, activity="cuda_runtime"),
              Event("cudaMemcpyAsync", 16, 17, 1.0, activity="cuda_runtime"),
              Event("sgemm", 20, 50, on_device=True, activity="kernel"),
              Event("gelu_kernel", 40, 60, on_device=True, activity="kernel"),      # overlaps sgemm
              Event("Memcpy HtoD", 70, 75, on_device=True, activity="gpu_memcpy"),
              Event("Stream Sync", 76, 99, on_device=True, activity="cuda_sync")]  # not busy
    (part,) = step_parts(events, cuda=True)
    assert part.busy_us == pytest.approx(45.0)
    assert part.launches == 2 and part.ops == 2 and part.host_us == pytest.approx(5.0)


def test_summarize_pairs_steps_takes_medians_and_clamps():
    parts = [StepParts(1000, 400, 600, 10, 0), StepParts(1200, 500, 700, 10, 0), StepParts(9000, 8000, 700, 12, 0)]
    result = summarize("cpu-compute-ops", [0.8, 1.0, 2.0], parts)
    assert result["wall_ms"] == pytest.approx(1.0) and result["profiled_wall_ms"] == pytest.approx(1.2)
    assert result["busy_ms"] == pytest.approx(0.5) and result["host_ms"] == pytest.approx(0.7)
    assert result["overhead_ms"] == pytest.approx(0.4)              # paired: 0.4, 0.5, 0 (clamped)
    assert result["overhead_share"] == pytest.approx(0.4 / 0.8)     # shares 0.5, 0.5, 0
    assert result["profiled_overhead_share"] == pytest.approx(0.7 / 1.2)  # 0.6, 0.583, 0.111
    assert result["ops"] == 10 and result["steps"] == 3


# --- decompose on real callables -----------------------------------------------------------

def test_decompose_small_torch_call(tmp_path):
    layer = torch.nn.Linear(64, 64)
    x = torch.randn(4, 64)
    result = decompose.decompose(lambda: torch.relu(layer(x)), "cpu", steps=3, trace_dir=tmp_path, trace_name="lin")
    assert result["method"] == "cpu-compute-ops", result
    assert result["ops"] >= 2 and result["launches"] == 0 and result["steps"] == 3
    assert 0 < result["busy_ms"] <= result["profiled_wall_ms"]
    assert 0 <= result["overhead_share"] <= 1
    assert (tmp_path / "lin.json").stat().st_size > 0


def test_decompose_without_aten_ops_is_unavailable():
    a = np.ones((32, 32))
    result = decompose.decompose(lambda: a @ a, "cpu")
    assert result["method"] == "unavailable" and "aten" in result["message"]
    assert result["wall_ms"] > 0 and math.isnan(result["overhead_share"])


def test_decompose_never_raises():
    def broken() -> None:
        raise RuntimeError("boom")

    result = decompose.decompose(broken, "cpu")
    assert result["method"] == "failed" and "boom" in result["message"]
    assert set(decompose.RESULT_KEYS) <= set(result)


# --- through the runner, for every CPU backend (bert-tiny bs1 seq16) -----------------------

@pytest.mark.parametrize("backend", ["eager", "torchscript", pytest.param("compile", marks=pytest.mark.slow),
                                     "onnxruntime"])
def test_measure_with_decompose(backend):
    from ftax.store.schema import MeasureConfig
    from ftax.run.runner import MeasureOptions, measure_config
    from ftax.measure.timing import StopRule

    rule = StopRule(min_time_s=0.05, max_time_s=0.3, min_iters=5, warmup_iters=2)
    record = measure_config(MeasureConfig.make("bert-tiny", backend, "fp32", "cpu", 1, 16),
                            MeasureOptions(decompose=True, rule=rule))
    assert record.status == "ok", record.message
    p = record.decomposition
    assert set(decompose.RESULT_KEYS) <= set(p)
    if backend == "onnxruntime":  # outside the dispatcher: split by its own profiler (ftax.measure.ort_profile)
        assert p["method"] == "ort-node-kernels" and p["wall_ms"] > 0
    else:
        assert p["method"] == ("cpu-compute-ops+inductor-kernels" if backend == "compile" else "cpu-compute-ops"), p
        assert 0 <= p["overhead_share"] <= 1 and 0 <= p["profiled_overhead_share"] <= 1
        assert p["ops"] > 0 and p["busy_ms"] > 0 and p["launches"] == 0


def test_decompose_keeps_stderr_free_of_kineto_chatter_but_passes_other_lines(capfd):
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    decompose.decompose(lambda: torch.relu(layer(x)), "cpu", steps=2)
    with decompose._without_kineto_chatter():
        os.write(2, b"USDT:2026-01-01 00:00:00 1:1 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a real warning\n")
    err = capfd.readouterr().err
    assert "profiler_start" not in err and "Completed Stage" not in err
    assert "a real warning" in err

