"""The ledger's sections of page 05 (`ftax.pages.ledger`, `ftax.figures.ledger_plot`) and the intro's answer, on
synthetic ledger rows with known parts: with and without records, the figure's data, the CSV link, the ladder, the
bottom-up model. Cheap: Markdown and data frames, no book build; nothing is measured."""
from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from ftax.figures import ledger_plot
from ftax.figures.interactive import Interactive
from ftax.figures.plot_style import backend_order
from ftax.pages import intro
from ftax.pages import ledger as page
from ftax.pages import claims as claims_page
from ftax.read import bottom_up
from ftax.read.ledger import ENCODER_LADDER, RUNTIME_NAMES, answer, ledger
from ftax.store import jsonl

from test_intro import _check_budget, _synthetic

MACHINE = "m1"  # the machine of test_intro's synthetic studies
PARTS = {"eager": (1.0, 2.0), "torchscript": (0.8, 0.6), "aot-inductor": (0.5, 0.1), "onnxruntime": (0.4, 0.2)}
DRIFT = (0.0, 0.3, -0.2, 0.1, 0.05)


def _visits(batches=(1, 2), seqs=(16, 128), profiled_rounds: int = 3) -> pd.DataFrame:
    """Each runtime's wall = (kernels + host) x batch + the round's drift; every runtime but onnxruntime profiled
    in its first rounds (onnxruntime has no split on a CPU)."""
    rows = []
    for r, d in enumerate(DRIFT):
        for b in batches:
            for s in seqs:
                for backend, (kernels, host) in PARTS.items():
                    row = {"model": "bert-tiny", "backend": backend, "dtype": "fp32", "device": "cpu", "batch_size": b,
                           "seq_len": s, "overrides": "{}", "phase": "forward", "machine_id": MACHINE,
                           "machine_label": "Test CPU (CPU)", "status": "ok", "median_ms": (kernels + host) * b + d,
                           "schema_version": 3, "env_torch_version": "2.13", "round": r, "rule": "quick",
                           "timestamp": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=r)}
                    if backend != "onnxruntime" and r < profiled_rounds:
                        method = ("cpu-compute-ops+inductor-kernels" if backend == "aot-inductor"
                                  else "cpu-compute-ops")
                        row.update(decomposition_method=method, decomposition_busy_ms=kernels * b,
                                   decomposition_host_ms=kernels * b + 0.01)
                    rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return ledger(_visits())


# --- without records ---------------------------------------------------------------------------------------------

def test_without_records_every_section_says_so_and_gives_the_command(tmp_path):
    found = page.rows(tmp_path)
    assert found.empty and page.machine_for(found) is None
    for text in (page.answer_markdown(found, tmp_path), page.ladder_markdown(found, None, tmp_path),
                 page.csv_markdown(found, tmp_path), page.ledger_chart(found, None, tmp_path, "smoke")[1]):
        assert text.startswith("No ledger records in") and page.MEASURE in text
    assert isinstance(page.ledger_chart(found, None, tmp_path, "smoke")[0], Interactive)
    assert "profile `smoke`" in page.ledger_chart(found, None, tmp_path, "smoke")[1]  # every caption names it
    assert "benchmarks/unit_costs.py" in page.bottom_up_markdown(found, None, tmp_path)
    jsonl.append_side(tmp_path, bottom_up.KIND, MACHINE, _probe())
    assert page.MEASURE in page.bottom_up_markdown(found, None, tmp_path)


# --- the answer ---------------------------------------------------------------------------------------------------

def test_the_answer_is_the_ledgers_sentence_for_each_stored_sequence(rows, tmp_path):
    text = page.answer_markdown(rows, tmp_path)
    for seq in (16, 128):
        assert answer(rows, "bert-tiny", 1, seq, MACHINE) in text
    assert text.count("eager spends") == 2
    assert page.answer_markdown(rows[rows["model"] == "none"].assign(), tmp_path).startswith("No ledger records")
    other = rows.assign(model="bert-mini")
    assert page.answer_markdown(other, tmp_path).startswith("The ledger holds no bert-tiny at batch 1")


# --- the figure ---------------------------------------------------------------------------------------------------

def test_the_figures_parts_sum_to_the_wall_per_runtime_and_the_unsplit_runtime_is_its_wall_alone(rows):
    data = ledger_plot.stacked_data(rows, MACHINE)
    assert set(data["runtime"]) == {RUNTIME_NAMES[b] for b in PARTS}
    for (backend, config), drawn in data.groupby(["backend", "config"]):
        if backend == "onnxruntime":
            assert list(drawn["part"]) == [ledger_plot.NOT_SPLIT]
            assert drawn["value"].iloc[0] == pytest.approx(drawn["wall"].iloc[0])
        else:
            assert list(drawn["part"]) == ["kernels", "host"]
            assert drawn["value"].sum() == pytest.approx(drawn["wall"].iloc[0])
            b = int(drawn["batch_size"].iloc[0])
            assert drawn["value"].iloc[0] == pytest.approx(PARTS[backend][0] * b)  # the known kernel part
    assert (data["wall_low"] <= data["wall"]).all() and (data["wall"] <= data["wall_high"]).all()


def test_the_chart_has_a_runtime_menu_and_carries_every_drawn_part(rows, tmp_path):
    shown, caption = page.ledger_chart(rows, MACHINE, tmp_path, "quick")
    spec = shown.spec()
    menu = next(p for p in spec["params"] if p["name"] == "runtime")
    assert menu["bind"]["options"] == [RUNTIME_NAMES[b] for b in backend_order(PARTS)]  # the book's order
    models = next(p for p in spec["params"] if p["name"] == "model")["bind"]["options"]
    assert models == [ledger_plot.ALL_MODELS, "bert-tiny"]
    assert len(spec["data"]["values"]) == len(ledger_plot.stacked_data(rows, MACHINE))
    assert "Grey: the wall time alone, for ONNX Runtime" in caption and "profile `quick`" in caption and json.dumps(spec, allow_nan=False)
    assert len(shown.figure.axes) == len(PARTS)  # the static twin: one panel per runtime


# --- the ladder ---------------------------------------------------------------------------------------------------

def test_the_ladder_names_each_step_with_its_parts_and_says_which_runtime_is_not_split(rows, tmp_path):
    text = page.ladder_markdown(rows, MACHINE, tmp_path)
    for step in ENCODER_LADDER:
        assert step.removes in text and step.changes in text
        saved = rows[(rows["part"] == step.name) & (rows["batch_size"] == 1) & (rows["seq_len"] == 16)].iloc[0]
        assert page._cell(saved) in text
    table = [line for line in text.splitlines() if line.startswith("| bert-tiny s16")]
    assert len(table) == len(ENCODER_LADDER)
    assert "Not split (never drawn as kernels and host): ONNX Runtime:" in text
    assert "kernels and host each lie between 0 and its wall time" in text


# --- the bottom-up model ------------------------------------------------------------------------------------------

def _probe(timestamp: str = "2026-01-01T00:10:00+0000", module_ms: float = 0.01) -> dict:
    """One eager forward of bert-tiny b1 s16 counted and priced, its precision named as a probe names it (torch's)."""
    cost = lambda name, ms, error=None: {"name": name, "median_ms": ms, "ci_low_ms": ms, "ci_high_ms": ms, "n": 10,
                                         "calls": 20, "error": error, "python_calls": 0}
    ops = [{"op": "aten.view", "signature": "f32[1]", "count": 50, "busy": False, "meta": cost("aten.view", 0.01),
            "cpu": cost("aten.view", 0.004)}]
    config = {"model": "bert-tiny", "batch_size": 1, "seq_len": 16, "dtype": "float32", "phase": "forward",
              "counts": {"module_calls": 40, "torch_calls": 100, "aten_ops": 50, "ops": ops},
              "meta_forward": [cost("inputs", None, "RuntimeError: Tensor.item() on meta")]}
    return {"format": 1, "machine_id": MACHINE, "timestamp": timestamp,
            "units": [cost("module_call", module_ms), cost("torch_call", 0.005)], "configs": [config]}


def test_the_bottom_up_section_shows_every_method_its_drift_and_the_meta_forward(rows, tmp_path):
    jsonl.append_side(tmp_path, bottom_up.KIND, MACHINE, _probe())
    jsonl.append_side(tmp_path, bottom_up.KIND, MACHINE, _probe("2026-01-01T00:20:00+0000", 0.012))
    text = page.bottom_up_markdown(rows, MACHINE, tmp_path)
    lines = [line for line in text.splitlines() if line.startswith("| bert-tiny b1 s16")]
    assert [line.split(" | ")[1] for line in lines] == list(bottom_up.METHODS)  # none dropped
    assert "outside 25%" in text and "no estimate: RuntimeError: Tensor.item() on meta" in text
    assert "2 probes, 10 minutes apart" in text and "| module_call | 0.01 | 0.012 | +20.0% |" in text
    assert "bert-tiny b1 s16: failed (RuntimeError: Tensor.item() on meta)" in text and "No probed config" not in text
    for assumption in bottom_up.METHODS.values():
        assert assumption in text


# --- the CSV ------------------------------------------------------------------------------------------------------

def test_the_csv_link_decodes_to_the_ledger(rows, tmp_path):
    text = page.csv_markdown(rows, tmp_path)
    href = re.search(r'href="data:text/csv;base64,([^"]+)" download="ledger.csv"', text)
    decoded = base64.b64decode(href.group(1)).decode()
    assert decoded == rows.to_csv(index=False)
    back = pd.read_csv(io.StringIO(decoded))
    assert len(back) == len(rows) and np.allclose(back["estimate_ms"], rows["estimate_ms"], equal_nan=True)


# --- the intro ----------------------------------------------------------------------------------------------------

def test_the_intros_top_sentence_is_the_ledgers_answer_and_fits_the_budget(rows, monkeypatch):
    studies = _synthetic()
    monkeypatch.setattr(page, "rows", lambda results_dir: rows)
    text = intro.tax_markdown(studies, "cpu")
    label = intro.view(studies["paradigms"], "cpu").machine  # the intro names the machine as its pages do
    assert text.split("\n\n")[0] == answer(rows, "bert-tiny", 1, None, MACHINE, label=label)
    assert "onnxruntime removes the largest share of eager's latency" in text and ", paired by round over 3 rounds" in text
    figure, caption = intro.tax_figure(studies, "cpu")
    assert len(figure.axes) == len(PARTS) and caption.startswith(f"Time per call of bert-tiny on {label}")
    _check_budget(intro.texts(studies, claims_page.table(studies), "cpu"))


def test_the_intro_falls_back_to_the_paired_speedup_without_the_machines_ledger(rows, monkeypatch):
    studies = _synthetic()
    monkeypatch.setattr(page, "rows", lambda results_dir: rows.assign(machine_id="elsewhere"))
    assert intro.ledger_answer(studies, "cpu") is None
    assert intro.tax_markdown(studies, "cpu").startswith("On **Test CPU (CPU)**, for bert-tiny")


def test_a_kernel_part_above_the_wall_is_drawn_as_the_wall_alone_and_says_why(rows):
    above = rows.copy()
    kernels = (above["backend"] == "torchscript") & (above["part"] == "kernels")
    host = (above["backend"] == "torchscript") & (above["part"] == "host")
    above.loc[kernels, "estimate_ms"] += 5.0  # the profiler's cost: kernels above the wall, host below zero
    above.loc[host, "estimate_ms"] -= 5.0
    data = ledger_plot.stacked_data(above, MACHINE)
    drawn = data[data["backend"] == "torchscript"]
    assert set(drawn["part"]) == {ledger_plot.NOT_SPLIT} and (drawn["value"] == drawn["wall"]).all()
    assert drawn["note"].str.startswith(ledger_plot.ABOVE_WALL).all()
    assert set(data.loc[data["backend"] == "eager", "part"]) == {"kernels", "host"}
