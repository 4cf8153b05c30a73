"""The hosted pages' interactive charts without a browser: what data each spec carries, what its tooltips
name, how a page's output holds it, and what the Sphinx extension changes in an executed notebook."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive
from ftax.book.sphinx_pages import (FOLDED_HEADER, MEASURED_HEADING, drop_spec_outputs, drop_widget_state,
                                    fold_parameters, measured_at_end)


def _rows(model: str = "bert-tiny", backend: str = "eager", scale: float = 1.0, rounds: int = 3,
          seq_len: int = 16, machine: str = "CPU A (CPU)", batches=(1, 2, 4, 8)) -> pd.DataFrame:
    return pd.DataFrame([dict(status="ok", model=model, backend=backend, dtype="fp32", overrides="{}",
                              batch_size=b, seq_len=seq_len, machine_label=machine, rounds=rounds,
                              env_torch_version="2.13.0", estimate_ms=scale * b, low_ms=0.9 * scale * b
                              if rounds > 1 else np.nan, high_ms=1.1 * scale * b if rounds > 1 else np.nan,
                              decomposition_overhead_share=0.5 if b == 1 else np.nan)
                         for b in batches])


def _values(spec: dict) -> list[dict]:
    return spec["data"]["values"]


def test_latency_chart_carries_each_ok_row_with_its_record_in_the_tooltip():
    rows = pd.concat([_rows(), _rows(backend="onnxruntime", scale=0.5, rounds=1),
                      _rows(model="bert-mini", scale=2.0)], ignore_index=True)
    rows.loc[len(rows)] = {**rows.iloc[0].to_dict(), "backend": "cudagraph", "status": "unsupported",
                           "estimate_ms": np.nan}
    spec = interactive.latency_chart(rows, "batch_size", color="backend", panel="model").to_dict()
    json.dumps(spec, allow_nan=False)  # strict JSON: no NaN in the page
    values = _values(spec)
    ok = rows[rows.status == "ok"]
    assert sorted((v["backend"], v["batch_size"], v["value"]) for v in values) == \
        sorted(zip(ok.backend, ok.batch_size, ok.estimate_ms))
    one_round = [v for v in values if v["backend"] == "onnxruntime"]
    assert all(v["low"] is None and "(no interval)" in v["estimate"] for v in one_round)
    assert any(re.fullmatch(r"\d[\d.]* ms \[[\d.]+, [\d.]+\]", v["estimate"]) for v in values)
    tooltip = {t["title"] for layer in spec["layer"] for t in layer.get("encoding", {}).get("tooltip", [])}
    assert {"config", "estimate", "rounds", "machine", "torch"} <= tooltip
    menu = spec["params"][0]
    assert menu["bind"]["input"] == "select" and menu["bind"]["options"] == ["bert-mini", "bert-tiny"]
    assert spec["width"] == "container"  # resizes to the page, phones included


def test_no_ok_rows_no_chart_and_the_page_shows_the_figure_alone():
    rows = _rows().assign(status="error")
    assert interactive.latency_chart(rows, "batch_size", color="backend") is None
    figure = Figure()
    bundle = interactive.Interactive(None, figure, "x")._repr_mimebundle_()
    assert "image/png" in bundle and "text/html" not in bundle and interactive.VEGALITE_MIME not in bundle


def test_page_output_holds_the_spec_for_the_browser_and_the_png_for_print():
    chart = interactive.latency_chart(_rows(), "batch_size", color="backend")
    bundle = interactive.Interactive(chart, Figure(), "rq-x")._repr_mimebundle_()
    page = bundle["text/html"]
    assert page.startswith('<div class="ftax-chart" data-name="rq-x">')
    payload = re.search(r'<script type="application/json">(.*)</script>', page).group(1)
    assert json.loads(payload) == bundle[interactive.VEGALITE_MIME] == chart.to_dict()
    assert "</" not in payload and "image/png" in bundle
    assert f"data:image/png;base64,{bundle['image/png']}" in page.split("<noscript>")[1]  # without JavaScript


def test_explorer_data_draws_each_curve_at_its_most_measured_other_axis():
    latency = pd.concat([_rows(), _rows(backend="torchscript", scale=0.8), _rows(seq_len=64, batches=(1,)),
                         _rows(model="bert-mini", machine="GPU B (GPU)")], ignore_index=True)
    speedups = latency[latency.backend == "torchscript"].assign(speedup=1.25, speedup_low=1.2, speedup_high=1.3)
    data = interactive.explorer_data(latency, speedups)
    batch = data[(data.axis == "batch_size") & (data.metric == "latency") & (data.model_label == "bert-tiny")]
    assert set(batch.seq_len) == {16} and len(batch) == 8  # seq 16 is measured most: seq 64 is not on the curve
    along_seq = data[(data.axis == "seq_len") & (data.metric == "latency") & (data.model_label == "bert-tiny")]
    assert set(along_seq.batch_size) == {1} and set(along_seq.x) == {16, 64}
    assert set(data[data.metric == "speedup over eager"].value) == {1.25}
    share = data[data.metric == "overhead share"]
    assert set(share.value) == {0.5} and share.low.isna().all()
    spec = interactive.explorer_chart(data, "bert-tiny", "fp32", "CPU A (CPU)", "batch_size").to_dict()
    bound = {p["name"]: p.get("bind", {}) for p in spec["params"]}
    assert {"model", "dtype", "machine", "xaxis", "metric"} <= set(bound)
    assert [b["name"].strip() for n, b in bound.items() if n.startswith("show_")] == ["eager", "torchscript"]
    assert bound["metric"]["options"] == list(interactive.METRICS)


def _notebook() -> dict:
    cell = lambda source, tags=(), outputs=(): {"cell_type": "code", "source": source, "outputs": list(outputs),
                                                "metadata": {"tags": list(tags)}}
    glued = {"output_type": "display_data", "metadata": {}, "data": {
        "application/papermill.record/" + interactive.VEGALITE_MIME: {}, "application/papermill.record/text/html": "x"}}
    return {"metadata": {"widgets": {"state": {}}}, "cells": [
        cell('profile = "quick"\n', ["parameters"]),
        cell('# Parameters\nprofile = "smoke"\nmeasure = False\n', ["injected-parameters"]),
        cell("glue(...)", ["hide-input"], [glued])]}


def test_the_site_shows_the_parameters_once_with_this_builds_values():
    notebook = fold_parameters(_notebook())
    assert [c["metadata"]["tags"] for c in notebook["cells"]] == [["parameters"], ["hide-input"]]
    assert notebook["cells"][0]["source"] == f'profile = "quick"\n\n{FOLDED_HEADER}\nprofile = "smoke"\nmeasure = False'
    untouched = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {"tags": ["parameters"]}}]}
    assert fold_parameters(json.loads(json.dumps(untouched))) == untouched


def test_the_parameters_cell_is_read_last_folded_under_how_the_page_was_measured():
    notebook = _notebook()
    heading = {"cell_type": "markdown", "source": MEASURED_HEADING + "\n\ntext", "metadata": {}}
    finding = {"cell_type": "markdown", "source": "## A finding", "metadata": {}}
    notebook["cells"] = [notebook["cells"][0], finding, heading, {"cell_type": "markdown", "source": "## Try it"}]
    moved = measured_at_end(notebook)["cells"]
    assert [c["source"][:12] for c in moved] == ["## A finding", MEASURED_HEADING[:12], 'profile = "q', "## Try it"]
    assert moved[2]["metadata"]["tags"] == ["parameters", "hide-input"]
    without = _notebook()
    assert measured_at_end(json.loads(json.dumps(without))) == without


def test_the_site_drops_what_myst_nb_cannot_render_or_would_fetch():
    notebook = drop_widget_state(drop_spec_outputs(_notebook()))
    assert "widgets" not in notebook["metadata"]
    assert list(notebook["cells"][2]["outputs"][0]["data"]) == ["application/papermill.record/text/html"]
