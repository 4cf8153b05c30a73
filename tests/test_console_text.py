"""What `ftax measure` and `ftax predict` print: hand-built records and predictions as readable lines."""
from __future__ import annotations

from types import SimpleNamespace

from ftax.read.console_text import format_prediction, format_record
from ftax.read.tax_model import TWO_POINT

STATS = {"median_ms": 2.0, "ci_low_ms": 1.9, "ci_high_ms": 2.1, "n": 40, "p90_ms": 2.2, "p99_ms": 2.5,
         "mean_ms": 2.05, "std_ms": 0.1, "iqr_ms": 0.12}
SETUP = {"prepare_s": 0.5, "first_call_ms": 30.0, "threads": 2, "stop_reason": "target", "target_met": False}


def _record(status: str = "ok", load: float = 0.5, **fields) -> SimpleNamespace:
    base = dict(config=SimpleNamespace(label=lambda: "bert-tiny eager fp32 cpu b1 s16"), status=status, message="",
                stats=STATS, setup=SETUP, pipelined_ms=1.8, parity={"max_abs_diff": 1e-6, "ok": True, "tolerance": 1e-3},
                flops=4e9, decomposition=None, machine_id="m1", env={"load_avg_1m": load, "cpu_count": 2})
    return SimpleNamespace(**{**base, **fields})


def test_an_ok_record_reads_as_its_numbers_with_units():
    text = format_record(_record())
    lines = text.splitlines()
    assert lines[0] == "bert-tiny eager fp32 cpu b1 s16" and lines[1].strip() == "status       ok"
    assert "median       2 ms  (95% CI 1.9..2.1, n=40)" in text and "(precision target NOT met)" in text
    assert "2 TFLOP/s achieved" in text and lines[-1].strip() == "machine      m1"


def test_a_failed_record_says_why_and_an_overloaded_machine_is_named():
    failed = format_record(_record(status="unsupported", message="needs CUDA", load=5.0))
    assert "status       unsupported: needs CUDA" in failed and "median" not in failed
    assert failed.splitlines()[-1].strip().startswith("warning      load average 5.0 exceeds 2 cores")


def test_a_prediction_prints_its_curve_and_where_it_leaves_the_flat_regime():
    one = SimpleNamespace(form="affine", inputs={"host_source": "probe"}, host_ms=1.0, host_range_ms=(0.8, 1.2),
                          batch_sizes=[1, 2], latency_ms=[1.5, 2.0], low_ms=[1.4, 1.8], high_ms=[1.6, 2.2],
                          inflection_batch=8.0, inflection_interval=(4.0, None), message="")
    text = format_prediction("bert-tiny", one)
    assert text.splitlines()[0].startswith("bert-tiny: predicted from batch 1 (affine; H = 1 ms from probe")
    assert "leaves the flat regime at batch 8 (range 4-beyond 512)" in text
    two = SimpleNamespace(**{**vars(one), "form": TWO_POINT, "inputs": {"second_batch": 16}, "work_scale": 0.1,
                             "inflection_batch": None, "message": "flat throughout"})
    text = format_prediction("bert-tiny", two)
    assert "predicted from batch 1 and batch 16" in text and text.splitlines()[-1].strip() == "flat throughout"
