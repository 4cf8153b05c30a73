"""The bottom-up model (`ftax.read.bottom_up`) on synthetic probes and ledger frames with known parts."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from ftax.read import bottom_up
from ftax.store import jsonl
from ftax.store.errors import SelectionError


def _cost(name: str, ms: float | None, error: str | None = None, python_calls: int = 0) -> dict:
    return {"name": name, "median_ms": ms, "ci_low_ms": ms, "ci_high_ms": ms, "n": 10, "calls": 20, "error": error,
            "python_calls": python_calls}


def _run(timestamp: str = "2026-12-07T04:00:00+0000", module_ms: float = 0.001, torch_ms: float = 0.002,
         forward: dict | None = None) -> dict:
    """10 module calls, 20 torch calls, ops (meta price, CPU price): a (3 x 0.01, 0.004, host), b (2 x 0.1, 0.05, busy,
    Python meta), c (1 x no meta price, 0.002, host)."""
    ops = [{"op": "aten.a", "signature": "f32[1]", "count": 3, "busy": False, "meta": _cost("aten.a", 0.01),
            "cpu": _cost("aten.a", 0.004)},
           {"op": "aten.b", "signature": "f32[1]", "count": 2, "busy": True, "meta": _cost("aten.b", 0.1, None, 30),
            "cpu": _cost("aten.b", 0.05)},
           {"op": "aten.c", "signature": "b8[]", "count": 1, "busy": False,
            "meta": _cost("aten.c", None, "RuntimeError: no data on meta"), "cpu": _cost("aten.c", 0.002)}]
    config = {"model": "toy", "batch_size": 1, "seq_len": 16, "dtype": "float32", "phase": "forward",
              "counts": {"module_calls": 10, "torch_calls": 20, "aten_ops": 6, "ops": ops},
              "meta_forward": [forward or _cost("inputs", None, "RuntimeError: Tensor.item() on meta (at m.py:1)")]}
    return {"format": 1, "machine_id": "m1", "timestamp": timestamp, "units": [_cost("module_call", module_ms),
            _cost("torch_call", torch_ms)], "configs": [config]}


def _ledger(estimate: float, low: float, high: float, backend: str = "eager") -> pd.DataFrame:
    row = {"model": "toy", "backend": backend, "dtype": "fp32", "batch_size": 1, "seq_len": 16, "phase": "forward",
           "machine_id": "m1", "part": "host", "estimate_ms": estimate, "low_ms": low, "high_ms": high,
           "method": "wall - busy"}
    return pd.DataFrame([row, {**row, "part": "kernels", "estimate_ms": 9.0, "low_ms": 8.0, "high_ms": 10.0}])


def test_the_model_is_counts_times_costs():
    row = bottom_up.model_frame([_run()]).iloc[0]
    assert row["module_ms"] == pytest.approx(10 * 0.001) and row["torch_ms"] == pytest.approx(20 * 0.002)
    assert row["aten_ms"] == pytest.approx(3 * 0.01 + 2 * 0.1) and row["aten_host_ms"] == pytest.approx(3 * 0.01)
    assert row["bottom-up"] == pytest.approx(0.01 + 0.04 + 0.23)
    assert row["bottom-up, host ops"] == pytest.approx(0.01 + 0.04 + 0.03)
    assert row["calls only"] == pytest.approx(0.05)
    assert row["bottom-up, CPU replay"] == pytest.approx(0.05 + 3 * 0.004 + 0.002)
    assert row["unpriced_ops"] == 1 and row["python_meta_ops"] == 2
    assert math.isnan(row["meta forward"]) and "Tensor.item()" in row["meta_forward_error"]


def test_the_ratio_interval_comes_from_the_host_interval():
    models = bottom_up.model_frame([_run()])
    agree = bottom_up.agreement(models, _ledger(0.28, 0.2, 0.4)).set_index("method")
    row = agree.loc["bottom-up"]
    assert row["ratio"] == pytest.approx(1.0)
    assert row["ratio_low"] == pytest.approx(0.28 / 0.4) and row["ratio_high"] == pytest.approx(0.28 / 0.2)
    assert row["verdict"] == "undecided" and row["failing_assumption"] == ""
    assert row["unexplained_ms"] == pytest.approx(0.0)
    assert (row["unexplained_low_ms"], row["unexplained_high_ms"]) == pytest.approx((0.2 - 0.28, 0.4 - 0.28))


def test_a_method_inside_the_target_is_within():
    agree = bottom_up.agreement(bottom_up.model_frame([_run()]), _ledger(0.28, 0.27, 0.29)).set_index("method")
    assert agree.loc["bottom-up", "verdict"] == "within 25%"


def test_a_disagreeing_method_is_shown_with_its_failing_assumption():
    agree = bottom_up.agreement(bottom_up.model_frame([_run()]), _ledger(0.28, 0.27, 0.29))
    assert list(agree["method"]) == list(bottom_up.METHODS)  # none is dropped
    calls = agree.set_index("method").loc["calls only"]
    assert calls["verdict"] == "outside 25%" and calls["direction"] == "under"
    assert calls["failing_assumption"] == bottom_up.METHODS["calls only"]
    assert calls["unexplained_ms"] == pytest.approx(0.28 - 0.05)
    meta = agree.set_index("method").loc["meta forward"]
    assert meta["verdict"] == "no estimate" and "Tensor.item()" in meta["failing_assumption"]


def test_sentences_give_each_verdict_on_its_machine():
    agree = bottom_up.agreement(bottom_up.model_frame([_run()]), _ledger(0.28, 0.27, 0.29))
    lines = dict(zip(agree["method"], bottom_up.sentences(agree)))
    assert lines["bottom-up"].startswith("On m1, bottom-up for toy batch 1 seq 16 is 1x [0.966, 1.04]")
    assert lines["bottom-up"].endswith("within 25%.")
    assert lines["calls only"].endswith(f"outside 25%; it assumes {bottom_up.METHODS['calls only']}.")
    assert "gives no estimate" in lines["meta forward"] and "Tensor.item()" in lines["meta forward"]


def test_the_newest_probe_and_the_named_backend_are_used():
    runs = [_run("2026-12-07T04:00:00+0000", module_ms=0.002), _run("2026-12-07T04:10:00+0000")]
    decode = _ledger(7.0, 6.0, 8.0).assign(phase="decode")
    ledger = pd.concat([_ledger(0.28, 0.27, 0.29), _ledger(5.0, 4.0, 6.0, backend="torchscript"), decode])
    agree = bottom_up.agreement(bottom_up.model_frame(runs), ledger).set_index("method")
    assert agree.loc["bottom-up", "estimate_ms"] == pytest.approx(0.28)
    assert agree.loc["bottom-up", "host_ms"] == 0.28 and set(agree["backend"]) == {"eager"} and len(agree) == 5


def test_the_newest_probe_is_taken_whole_and_only_from_the_ledgers_machine():
    forward = _cost("without attention mask", 0.5)
    runs = [_run("2026-12-07T04:00:00+0000", forward=forward), _run("2026-12-07T04:10:00+0000"),
            {**_run("2026-12-07T04:20:00+0000", module_ms=1.0), "machine_id": "m2"}]
    agree = bottom_up.agreement(bottom_up.model_frame(runs), _ledger(0.28, 0.27, 0.29)).set_index("method")
    assert agree.loc["meta forward", "verdict"] == "no estimate"  # the newest probe's failure, not an older price
    assert agree.loc["bottom-up", "estimate_ms"] == pytest.approx(0.28) and set(agree["machine_id"]) == {"m1"}


def test_drift_between_two_probes_ten_minutes_apart():
    runs = [_run("2026-12-07T04:00:00+0000", torch_ms=0.002), _run("2026-12-07T04:10:00+0000", torch_ms=0.0025)]
    moved = bottom_up.drift(runs).set_index("unit")
    assert moved.loc["torch_call", "change"] == pytest.approx(0.25)
    assert moved.loc["module_call", "change"] == pytest.approx(0.0)
    assert moved.loc["torch_call", "minutes_apart"] == pytest.approx(10.0)


def test_a_ledger_frame_without_its_columns_is_a_one_line_error():
    with pytest.raises(SelectionError, match="needs columns low_ms, high_ms"):
        bottom_up.agreement(bottom_up.model_frame([_run()]),
                            _ledger(1, 1, 1).drop(columns=["low_ms", "high_ms"]))


def test_report_reads_the_store_and_a_ledger_csv(tmp_path):
    assert "no unit-cost probes" in bottom_up.report(tmp_path)
    jsonl.append_side(tmp_path, bottom_up.KIND, "m1", _run())
    csv = tmp_path / "ledger.csv"
    _ledger(0.28, 0.2, 0.4).to_csv(csv, index=False)
    text = bottom_up.report(tmp_path, csv)
    assert "Bottom-up model per probe" in text and "Agreement with the ledger" in text and "undecided" in text
