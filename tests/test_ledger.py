"""The ledger (`ftax.read.ledger`) on synthetic visits with known kernel and host parts."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from ftax.read.ledger import ENCODER_LADDER, LEDGER_COLUMNS, answer, ledger
from ftax.store.errors import SelectionError

# Known parts per runtime (ms): kernels, host. Each round shifts every runtime's host by the same drift, which the
# paired steps cancel.
PARTS = {"eager": (1.0, 2.0), "torchscript": (0.8, 0.6), "aot-inductor": (0.5, 0.1)}
DRIFT = (0.0, 0.3, -0.2, 0.1, 0.05)


def _visit(backend: str, round_: int, median_ms: float, busy_ms: float | None, batch: int = 1, model: str = "bert-tiny",
           method: str = "cpu-compute-ops", **extra) -> dict:
    row = {"model": model, "backend": backend, "dtype": "fp32", "device": "cpu", "batch_size": batch, "seq_len": 16,
           "overrides": "{}", "phase": "forward", "machine_id": "sim", "machine_label": "Sim CPU", "status": "ok",
           "median_ms": median_ms, "schema_version": 3, "env_torch_version": "2.13", "round": round_, "rule": "quick",
           "timestamp": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=round_)}
    if busy_ms is not None:
        row.update(decomposition_method=method, decomposition_busy_ms=busy_ms, decomposition_host_ms=busy_ms + 0.05)
    return {**row, **extra}


def _frame(parts: dict = PARTS, drift=DRIFT, profiled_rounds: int = 1, batch: int = 1) -> pd.DataFrame:
    rows = []
    for r, d in enumerate(drift):
        for backend, (kernels, host) in parts.items():
            method = "cpu-compute-ops+inductor-kernels" if backend == "aot-inductor" else "cpu-compute-ops"
            rows.append(_visit(backend, r, kernels + host + d, kernels if r < profiled_rounds else None, batch,
                               method=method))
    return pd.DataFrame(rows)


def _part(rows: pd.DataFrame, backend: str, part: str) -> pd.Series:
    found = rows[(rows["backend"] == backend) & (rows["part"] == part)]
    assert len(found) == 1, (backend, part, found)
    return found.iloc[0]


def test_the_split_recovers_known_kernels_and_host_per_runtime():
    rows = ledger(_frame())
    assert list(rows.columns) == list(LEDGER_COLUMNS)
    for backend, (kernels, host) in PARTS.items():
        k, h, wall = (_part(rows, backend, p) for p in ("kernels", "host", "wall"))
        assert k["estimate_ms"] == pytest.approx(kernels)
        assert h["estimate_ms"] == pytest.approx(host + float(np.median(DRIFT)))
        assert k["estimate_ms"] + h["estimate_ms"] == pytest.approx(wall["estimate_ms"])
        assert h["low_ms"] <= h["estimate_ms"] <= h["high_ms"] and h["rounds"] == len(DRIFT)
        assert math.isnan(k["low_ms"]) and "one round" in k["note"]  # profiled in round 0 only


def test_kernels_get_an_interval_when_several_rounds_were_profiled():
    rows = ledger(_frame(profiled_rounds=3))
    k = _part(rows, "eager", "kernels")
    assert k["rounds"] == 3 and k["low_ms"] <= 1.0 <= k["high_ms"]


def test_each_ladder_step_is_paired_by_round_and_its_wall_is_kernels_plus_host():
    rows = ledger(_frame())
    for step in ENCODER_LADDER:
        wall, kernels, host = (_part(rows, step.target, name) for name in
                               (step.name, f"{step.name}:kernels", f"{step.name}:host"))
        (k0, h0), (k1, h1) = PARTS[step.source], PARTS[step.target]
        assert wall["estimate_ms"] == pytest.approx(k0 + h0 - k1 - h1)
        # the drift is shared by both sides of a round, so the paired interval is a point
        assert wall["high_ms"] - wall["low_ms"] == pytest.approx(0.0, abs=1e-9)
        assert kernels["estimate_ms"] == pytest.approx(k0 - k1) and host["estimate_ms"] == pytest.approx(h0 - h1)
        assert kernels["estimate_ms"] + host["estimate_ms"] == pytest.approx(wall["estimate_ms"])
        assert step.removes in wall["note"] and step.changes in wall["note"]


def test_a_runtime_the_profiler_cannot_see_is_not_split_and_says_why():
    frame = _frame()
    blind = frame["backend"] == "aot-inductor"
    frame.loc[blind, "decomposition_method"] = "cpu-compute-ops"  # a package compiled without kernel profiling
    frame = pd.concat([frame, pd.DataFrame([_visit("onnxruntime", r, 1.0, None, decomposition_method="unavailable",
                                                   decomposition_message="the profiler saw no aten ops")
                                            for r in range(len(DRIFT))])], ignore_index=True)
    rows = ledger(frame)
    for backend in ("aot-inductor", "onnxruntime"):
        k = _part(rows, backend, "kernels")
        assert math.isnan(k["estimate_ms"]) and k["method"] == "not split" and "between 0 and the wall" in k["note"]
    assert "no profiler events" in _part(rows, "aot-inductor", "kernels")["note"]
    assert "no aten ops" in _part(rows, "onnxruntime", "host")["note"]
    step = _part(rows, "aot-inductor", "torchscript->aot-inductor:kernels")
    assert math.isnan(step["estimate_ms"])


def test_one_round_gives_estimates_without_intervals_and_says_so():
    rows = ledger(_frame(drift=(0.0,)))
    assert rows[["low_ms", "high_ms"]].isna().all().all()
    assert (rows["rounds"] <= 1).all()
    assert "one round" in _part(rows, "eager", "host")["note"]
    assert "no interval" in answer(rows, "bert-tiny", 1)


def test_the_answer_sentence_takes_its_numbers_from_the_rows():
    rows = ledger(_frame())
    sentence = answer(rows, "bert-tiny", 1)
    assert sentence.startswith("On sim, bert-tiny at batch 1 and sequence 16: eager spends ")
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", sentence.split(": ", 1)[1])]
    expected = [_part(rows, "eager", "kernels")["estimate_ms"], _part(rows, "eager", "host")["estimate_ms"],
                _part(rows, "torchscript", "eager->torchscript")["estimate_ms"],
                _part(rows, "aot-inductor", "torchscript->aot-inductor")["estimate_ms"],
                _part(rows, "aot-inductor", "torchscript->aot-inductor:kernels")["estimate_ms"]]
    for value in expected:
        assert any(n == pytest.approx(value, rel=1e-2) for n in numbers), (value, sentence)
    assert "TorchScript saves" in sentence and "AOTInductor saves" in sentence and "faster kernels" in sentence


def test_unknown_model_or_not_visits_is_a_one_line_error():
    rows = ledger(_frame())
    with pytest.raises(SelectionError) as err:
        answer(rows, "no-such-model", 1)
    assert "\n" not in str(err.value) and "bert-tiny" in str(err.value)
    with pytest.raises(ValueError, match="needs visits"):
        ledger(rows.rename(columns={"estimate_ms": "estimate_ms"}).assign(estimate_ms=1.0))
    assert ledger(pd.DataFrame(columns=["status", "median_ms"])).empty


def test_a_step_whose_sides_were_not_timed_together_says_so():
    frame = _frame()
    later = frame["backend"] == "aot-inductor"
    frame.loc[later, "timestamp"] = frame.loc[later, "timestamp"] + pd.Timedelta(days=2)
    rows = ledger(frame)
    assert "not timed together" in _part(rows, "aot-inductor", "torchscript->aot-inductor")["note"]
    assert "not timed together" not in _part(rows, "torchscript", "eager->torchscript")["note"]


def test_a_decoder_step_runs_the_decoders_ladder_and_names_what_is_unseen():
    parts = {"eager": (10.0, 30.0), "compile": (9.0, 5.0), "aot-inductor": (8.5, 1.0)}
    frame = _frame(parts).assign(model="gpt2", phase="decode", seq_len=128)
    rows = ledger(frame)
    assert {"eager->compile", "compile->aot-inductor"} <= set(rows["part"])
    assert "eager->torchscript" not in set(rows["part"])
    assert "fused C++ kernels" in _part(rows, "compile", "kernels")["note"]
    sentence = answer(rows, "gpt2", 1)
    assert "(decode step)" in sentence and "torch.compile saves" in sentence and "AOTInductor saves" in sentence


def test_the_kernel_parts_bounds_are_the_profilers_cost_below_and_the_unseen_self_time_above():
    frame = _frame()
    profiled = frame["decomposition_busy_ms"].notna()
    frame.loc[profiled, "decomposition_wall_ms"] = 3.0
    frame.loc[profiled, "decomposition_profiled_wall_ms"] = 3.4  # profiling added 0.4 ms to a call
    rows = ledger(frame)
    k = _part(rows, "eager", "kernels")
    assert k["bound_low_ms"] == pytest.approx(1.0 - 0.4) and k["bound_high_ms"] == pytest.approx(1.0 + 0.05)
    assert "profiling made the call 0.4 ms slower" in k["note"]
    assert rows.loc[rows["part"] != "kernels", ["bound_low_ms", "bound_high_ms"]].isna().all().all()
    from ftax.pages.ledger import bias_markdown

    said = bias_markdown(rows)
    assert "profiling added 0.4 ms" in said and "0.05 ms of self time" in said
    assert bias_markdown(ledger(_frame())).count("profiling added") == 0  # no profiled walls, no lower bound


def test_a_runtime_whose_kernel_part_exceeds_its_wall_is_named_with_the_profilers_cost():
    from ftax.pages.ledger import above_wall

    frame = _frame()
    inflated = frame["decomposition_busy_ms"].notna() & (frame["backend"] == "torchscript")
    frame.loc[inflated, "decomposition_busy_ms"] = 2.0  # above torchscript's 1.4 ms wall
    frame.loc[inflated, "decomposition_wall_ms"] = 1.4
    frame.loc[inflated, "decomposition_profiled_wall_ms"] = 2.3
    said = above_wall(ledger(frame))
    assert "TorchScript's kernel part exceeds its wall time in 1 of 1 configs" in said and "0.9 ms slower" in said
    assert "eager" not in said and above_wall(ledger(_frame())) == ""


def test_the_answers_kernel_difference_carries_a_caveat_where_a_sides_host_part_is_not_told_from_zero():
    resolved = {**PARTS, "aot-inductor": (0.5, 0.5)}  # every host part well above zero in every round
    frame = _frame(resolved)
    inflated = frame["decomposition_busy_ms"].notna() & (frame["backend"] == "torchscript")
    frame.loc[inflated, "decomposition_busy_ms"] = 2.0  # above torchscript's 1.4 ms wall: a negative host part
    sentence = answer(ledger(frame), "bert-tiny", 1)
    assert "faster kernels (a difference of profiled busy times; the host part of TorchScript is not told" in sentence
    assert "AOTInductor" not in sentence.split("the host part of", 1)[1]  # only the side whose host is unresolved
    assert "not told from zero" not in answer(ledger(_frame(resolved)), "bert-tiny", 1)
    # PARTS's AOTInductor host (0.1 ms) dips below zero in one round's drift: its interval reaches zero
    assert "the host part of AOTInductor is not told from zero" in answer(ledger(_frame()), "bert-tiny", 1)
