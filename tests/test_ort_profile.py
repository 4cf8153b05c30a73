"""ONNX Runtime's own profile: run spans parsed from a synthetic trace, the paired split, and a real session."""
from __future__ import annotations

import json

import pytest

from ftax.measure import ort_profile


def _trace(runs: list[tuple[float, float, list[tuple[float, float]]]]) -> list[dict]:
    """A Chrome trace as ONNX Runtime writes it: a `model_run` span per run and a node span per kernel."""
    events = [{"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 5}]
    for start, dur, nodes in runs:
        events.append({"cat": "Session", "name": "model_run", "ts": start, "dur": dur})
        events += [{"cat": "Node", "name": f"/layer/{i}/MatMul_kernel_time", "ts": s, "dur": d}
                   for i, (s, d) in enumerate(nodes)]
        events.append({"cat": "Node", "name": "/layer/0/MatMul_fence_before", "ts": start, "dur": 0})
    return events


def test_a_runs_busy_time_is_the_union_of_its_node_kernel_spans():
    events = _trace([(100, 50, [(105, 10), (110, 10), (130, 5)]),  # overlap counts once: 15 + 5
                     (200, 40, [(210, 20)])])
    assert ort_profile.run_spans(events) == [(50, 20, 3), (40, 20, 1)]


def test_the_split_pairs_each_profiled_run_with_an_unprofiled_call(tmp_path):
    trace = tmp_path / "trace.json"
    steps = 3
    runs = [(1000 * i, 900, [(1000 * i + 100, 600)]) for i in range(ort_profile.WARM_CALLS + steps)]
    trace.write_text(json.dumps(_trace(runs)))
    result = ort_profile.decompose_ort(lambda: None, lambda: None, lambda: str(trace), steps=steps)
    assert result["method"] == ort_profile.ORT_METHOD and result["steps"] == steps
    assert result["busy_ms"] == pytest.approx(0.6) and result["ops"] == 1
    assert not trace.exists()  # the trace is read, then deleted


def test_a_failed_profile_is_a_result_not_an_exception():
    def broken() -> str:
        raise RuntimeError("no trace")

    result = ort_profile.decompose_ort(lambda: None, lambda: None, broken, steps=2)
    assert result["method"] == "failed" and "no trace" in result["message"]


def test_onnxruntime_on_a_cpu_is_split_by_its_own_profile(bert_tiny_bs1_seq16, tmp_path):
    from ftax.run import backends

    model, inputs, _ = bert_tiny_bs1_seq16
    prepared = backends.prepare("onnxruntime", model, inputs, cache_dir=tmp_path)
    result = prepared.own_split()
    assert result["method"] == ort_profile.ORT_METHOD, result
    assert 0 < result["busy_ms"] <= result["profiled_wall_ms"] and result["ops"] > 10
    assert not list(tmp_path.rglob("profile-*.json"))
