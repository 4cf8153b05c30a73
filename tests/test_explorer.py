"""The explorer without a browser: hand-built records, controls changed through `.value`, and the figure
checked for what it draws (lines' data, legend entries, panels, axis scale), never for measured times."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftax.pages import explorer, explorer_selection, explorer_view
from ftax.read import analysis

BATCHES = (1, 2, 4, 8, 16, 32, 64)


def _rows(scale: float = 1.0, busy: bool = False, **common) -> pd.DataFrame:
    """Config rows of a batch curve flat to batch 8, then linear: latency = scale * max(1, b / 8) ms."""
    base = dict(status="ok", machine_id="a", machine_label="CPU A (CPU)", device="cpu", model="bert-tiny",
                backend="eager", dtype="fp32", seq_len=16, overrides="{}", message="")
    rows = []
    for b in common.pop("batch_sizes", BATCHES):
        median = scale * max(1.0, b / 8)
        row = {**base, **common, "batch_size": b, "estimate_ms": median, "low_ms": 0.9 * median,
               "high_ms": 1.1 * median}
        if busy:
            row["decomposition_busy_ms"] = 0.25 * median
        rows.append(row)
    return pd.DataFrame(rows)


def _frame() -> pd.DataFrame:
    return pd.concat([
        _rows(), _rows(backend="onnxruntime", scale=0.5),
        _rows(machine_id="b", machine_label="GPU B (GPU)", device="cuda", scale=0.1),
        _rows(model="bert-mini", backend="torchscript", dtype="fp16", scale=2.0, batch_sizes=(1, 4)),
        _rows(model="bert-tiny", backend="cudagraph", status="unsupported", scale=np.nan),
    ], ignore_index=True)


def _visits(frame: pd.DataFrame, rounds: int = 3) -> pd.DataFrame:
    """`frame`'s configs visited in `rounds` rounds, each round's machine a few percent faster or slower."""
    visits = [frame.assign(round=r, median_ms=frame["estimate_ms"] * (1 + 0.03 * r)) for r in range(rounds)]
    return pd.concat(visits, ignore_index=True).drop(columns=["estimate_ms", "low_ms", "high_ms"], errors="ignore")


def _dotted_x(fig) -> list[float]:
    return sorted({line.get_xdata()[0] for ax in fig.axes for line in ax.get_lines() if line.get_linestyle() == ":"})


def _explorer(frame: pd.DataFrame, visits: pd.DataFrame | None = None) -> explorer.Explorer:
    """An explorer that skips the PNG rendering (one test keeps it)."""
    return explorer.Explorer(frame, show=lambda fig: {"output_type": "display_data", "metadata": {},
                                                      "data": {"text/plain": repr(fig)}}, visits=visits)


def _curves(fig) -> dict[str, list[tuple[list, list]]]:
    """Per panel title, the (x, y) data of each latency line (the solid lines with round markers)."""
    return {ax.get_title(): [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()
                             if line.get_marker() == "o"]
            for ax in fig.axes if ax.get_visible() and ax.get_title()}


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []


def test_opening_view_is_the_most_measured_model_with_its_backends_and_machines():
    frame = _frame()
    view = explorer_selection.resolve(frame)
    assert view.model == "bert-tiny" and view.dtype == "fp32" and view.x == "batch_size" and view.at == 16
    assert view.backends == ("eager", "onnxruntime")  # cudagraph only failed here: not offered
    assert view.machines == ("CPU A (CPU)", "GPU B (GPU)")
    fig = explorer_view.figure_for(frame, view, _visits(frame))
    curves = _curves(fig)
    assert set(curves) == {"CPU A (CPU)", "GPU B (GPU)"}  # one panel per machine, never mixed
    cpu = dict(zip(("eager", "onnxruntime"), curves["CPU A (CPU)"]))
    assert cpu["eager"][0] == list(BATCHES) and cpu["onnxruntime"][1] == pytest.approx(
        [0.5 * max(1, b / 8) for b in BATCHES])
    assert curves["GPU B (GPU)"][0][1] == pytest.approx([0.1 * max(1, b / 8) for b in BATCHES])
    assert _legend(fig)[:2] == ["eager", "onnxruntime"] and "framework-bound (claim (a))" in _legend(fig)
    caption = explorer_view.caption_for(frame, view)
    assert "21 ok configs" in caption and "**CPU A (CPU)** and **GPU B (GPU)**" in caption


def test_changing_the_model_refreshes_the_dependent_controls_and_the_figure():
    ui = explorer.Explorer(_frame())
    before = ui.figure
    ui.select(model="bert-mini")
    c = ui.controls
    assert c["backends"].options == ("torchscript",) and c["backends"].value == ("torchscript",)
    assert c["dtype"].options == ("fp16",) and c["machines"].options == ("CPU A (CPU)",)
    assert ui.figure is not before and _legend(ui.figure) == ["torchscript"]
    assert _curves(ui.figure)["CPU A (CPU)"] == [([1, 4], pytest.approx([2.0, 2.0]))]
    assert ui.output.outputs and "image/png" in ui.output.outputs[0]["data"]
    ui.select(model="bert-tiny")  # back: every backend and machine of bert-tiny again
    assert c["backends"].value == ("eager", "onnxruntime") and len(c["machines"].value) == 2


def test_backend_and_machine_selection_drop_lines_and_panels():
    ui = _explorer(_frame())
    ui.select(backends=("onnxruntime",))
    assert _legend(ui.figure)[0] == "onnxruntime" and "eager" not in _legend(ui.figure)
    assert [len(lines) for lines in _curves(ui.figure).values()] == [1]  # GPU B has no onnxruntime rows
    ui.select(backends=("eager", "onnxruntime"), machines=("GPU B (GPU)",))
    assert set(_curves(ui.figure)) == {"GPU B (GPU)"}
    ui.select(machines=())
    assert not _curves(ui.figure) and "Nothing to draw" in explorer_view.caption_for(ui.frame, ui.selection)


def test_log_and_linear_y_and_the_fit_toggle():
    ui = _explorer(_frame(), _visits(_frame()))
    axes = [ax for ax in ui.figure.axes if ax.get_visible()]
    assert {ax.get_yscale() for ax in axes} == {"log"} and {ax.get_xscale() for ax in axes} == {"log"}
    ui.select(log_y=False)
    axes = [ax for ax in ui.figure.axes if ax.get_visible()]
    assert {ax.get_yscale() for ax in axes} == {"linear"} and all(ax.get_ylim()[0] == 0 for ax in axes)
    dotted = lambda fig: [l for ax in fig.axes for l in ax.get_lines() if l.get_linestyle() == ":"]  # noqa: E731
    assert dotted(ui.figure) and "framework-bound (claim (a))" in _legend(ui.figure)
    assert explorer_view.FIT_LABEL in _legend(ui.figure)
    ui.select(fit=False)  # the fit goes; claim (a)'s regimes stay: the fit never decides them
    assert explorer_view.FIT_LABEL not in _legend(ui.figure) and "framework-bound (claim (a))" in _legend(ui.figure)


def test_regimes_are_marked_by_claim_a_and_the_fit_decides_nothing(monkeypatch):
    frame = _frame()
    view = explorer_selection.resolve(frame)
    regimes = analysis.framework_bound_regimes(explorer_selection.rows_for(_visits(frame), view, "median_ms"))
    assert set(regimes["regime"]) == {analysis.FLAT}
    assert _dotted_x(explorer_view.figure_for(frame, view, _visits(frame))) == sorted(set(regimes["inflection_batch"]))
    fits = analysis.inflections
    monkeypatch.setattr(analysis, "inflections",
                        lambda rows: fits(rows).assign(inflection_batch=2.0, reached=True))  # a fit elsewhere
    assert _dotted_x(explorer_view.figure_for(frame, view, _visits(frame))) == sorted(set(regimes["inflection_batch"]))
    assert not _dotted_x(explorer_view.figure_for(frame, view))  # one row per config pairs nothing: no regime
    caption = explorer_view.caption_for(frame, view, _visits(frame))
    assert "by claim (a)'s rule" in caption and "decides nothing" in caption


def test_sequence_length_axis_fixes_the_batch_size():
    frame = pd.concat([_rows(), *[_rows(seq_len=s, batch_sizes=(1,), scale=s / 16) for s in (32, 64, 128)]],
                      ignore_index=True)
    ui = _explorer(frame)
    assert ui.selection.x == "batch_size" and ui.selection.at == 16 and ui.controls["at"].options == (16, 32, 64, 128)
    assert ui.controls["at"].description == "seq len"
    ui.select(x="seq_len")
    assert ui.selection.at == 1 and ui.controls["at"].description == "batch"
    assert ui.controls["at"].options == tuple(BATCHES) and ui.controls["fit"].disabled
    (x, y), = _curves(ui.figure)["CPU A (CPU)"]
    assert x == [16, 32, 64, 128] and y == pytest.approx([1, 2, 4, 8])
    assert "sequence length" in ui.figure.axes[0].get_xlabel()
    ui.select(at=8)  # batch 8 was measured at seq 16 only: one point
    assert _curves(ui.figure)["CPU A (CPU)"] == [([16], pytest.approx([1.0]))]


def test_decomposition_draws_busy_time_only_where_records_have_a_profile():
    ui = _explorer(_frame())
    assert ui.controls["decompose"].disabled and not ui.selection.decompose
    frame = pd.concat([_rows(busy=True), _rows(backend="torchscript", busy=True, scale=0.8)], ignore_index=True)
    ui = _explorer(frame)
    assert not ui.controls["decompose"].disabled
    ui.select(decompose=True)
    dashed = [line for ax in ui.figure.axes for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 2 and list(dashed[0].get_ydata()) == pytest.approx([0.25 * max(1, b / 8) for b in BATCHES])
    assert explorer_view.BUSY_LABEL in _legend(ui.figure) and "eager" in _legend(ui.figure)
    assert "Dashed: profiled busy time" in explorer_view.caption_for(frame, ui.selection)


def test_two_machines_with_one_label_get_separate_panels():
    frame = pd.concat([_rows(), _rows(machine_id="a2", scale=2.0)], ignore_index=True)
    view = explorer_selection.resolve(frame)
    assert view.machines == ("CPU A (CPU) [a2]", "CPU A (CPU) [a]")
    assert [len(lines) for lines in _curves(explorer_view.figure_for(frame, view)).values()] == [1, 1]


def test_a_decoders_prefill_and_decode_steps_stay_off_its_forward_curve():
    frame = pd.concat([_rows(model="gpt2", phase="forward"), _rows(model="gpt2", phase="decode", scale=5.0),
                       _rows(model="gpt2", phase="prefill", scale=50.0)], ignore_index=True)
    view = explorer_selection.resolve(frame)
    curves = _curves(explorer_view.figure_for(frame, view))["CPU A (CPU)"]
    assert len(curves) == 1 and curves[0][0] == list(BATCHES) and max(curves[0][1]) == pytest.approx(8.0)


def test_width_depth_variants_are_separate_configs():
    frame = pd.concat([_rows(), _rows(overrides='{"depth": 4, "width": 256}', scale=3.0)], ignore_index=True)
    ui = _explorer(frame)
    assert ui.selection.variant == "{}" and [label for label, _ in ui.controls["variant"].options] == [
        "default", "depth=4 width=256"]
    assert len(_curves(ui.figure)["CPU A (CPU)"]) == 1
    ui.select(variant='{"depth": 4, "width": 256}')
    assert _curves(ui.figure)["CPU A (CPU)"][0][1][0] == pytest.approx(3.0)
    assert "depth=4 width=256" in ui.figure.get_suptitle()


def test_no_records_still_builds_and_says_so():
    for frame in (pd.DataFrame(), _rows(status="error", scale=np.nan)):
        ui = _explorer(frame)
        assert ui.selection is None and ui.controls["model"].disabled
        texts = [t.get_text() for ax in ui.figure.axes for t in ax.texts]
        assert any("No ok records" in t for t in texts)
        figure, caption, view = explorer_view.default_view(frame)
        assert view is None and caption.startswith("No ok records")
    assert explorer_view.summary(pd.DataFrame(), "results").startswith("No records in `results`")


def test_find_results_looks_above_the_notebook_folder(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert explorer_selection.find_results("results") == tmp_path / "results"
    assert explorer_selection.find_results(tmp_path / "x") == tmp_path / "x"
    assert explorer_selection.find_results("nowhere") == Path("nowhere")


def test_the_opening_model_is_the_one_with_the_most_to_show():
    grid = [_rows(model="bert-base", overrides=f'{{"depth": {d}, "width": 64}}', batch_sizes=(1, 4)) for d in (1, 2, 4)]
    short = [_rows(backend=b, batch_sizes=(1, 4)) for b in ("eager", "onnxruntime")]
    view = explorer_selection.resolve(pd.concat([*grid, *short], ignore_index=True))
    assert view.model == "bert-tiny" and view.backends == ("eager", "onnxruntime")  # more backends than records
    view = explorer_selection.resolve(pd.concat(grid, ignore_index=True))
    assert view.variant == '{"depth": 1, "width": 64}'  # no own config: the first of the most measured
    caption = explorer_view.caption_for(pd.concat(grid, ignore_index=True), view)
    assert "bert-base (depth=1 width=64)" in caption and "No shape is fitted" in caption
