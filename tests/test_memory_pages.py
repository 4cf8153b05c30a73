"""Memory and energy on page 02 and in both explorers, from hand-built records: with memory, without it (records
made before ftax took memory), with energy measured and unavailable. Checked for what is drawn and said
(lines' data, the runtime named largest, that each number is one visit), never for a measured size."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from fake_study import FakeStudy
from ftax import pages
from ftax.figures import interactive
from ftax.pages import explorer, explorer_selection, explorer_view
from ftax.read import memory_findings
from ftax.read.estimates import per_config
from ftax.pages import paradigms
from ftax.sweep.grids import Grid

MIB = 2 ** 20
BATCHES = (1, 8, 64)
GRID = Grid("paradigms", models=("bert-tiny",), backends=("eager", "torchscript", "onnxruntime"),
            batch_sizes=BATCHES, seq_lens=(16,), device="cpu")
NO_ENERGY_REASON = "no RAPL: /sys/class/powercap is absent on this machine"
# peak above the baseline (MiB) per backend and batch: onnxruntime largest at 64, torchscript flat from 8 to 64
PEAKS = {"eager": {1: 0.0, 8: 2.0, 64: 16.0}, "torchscript": {1: 10.0, 8: 5.0, 64: 5.0},
         "onnxruntime": {1: 40.0, 8: 30.0, 64: 60.0}}


def _record(backend: str, batch: int, memory: bool = True, energy_mj: float | None = None, **kw) -> dict:
    row = dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu",
               model="bert-tiny", backend=backend, dtype="fp32", seq_len=16, overrides="{}", batch_size=batch,
               median_ms=float(batch), ci_low_ms=0.9 * batch, ci_high_ms=1.1 * batch, parity_ok=True, prepare_s=0.5,
               rounds=3)
    if memory:
        row.update(memory_method="rss-hwm", memory_peak_bytes=int(PEAKS[backend][batch] * MIB),
                   memory_weights_bytes=int(16.5 * MIB))
        row.update(energy_status="unavailable", energy_reason=NO_ENERGY_REASON, energy_source="")
        if energy_mj is not None:
            row.update(energy_status="ok", energy_reason="", energy_source="nvml (zeus)",
                       energy_joules_per_inference=energy_mj / 1e3, energy_window_s=0.6)
    row.update(kw)
    return row


def _records(**kw) -> list[dict]:
    return [_record(b, n, **kw) for b in PEAKS for n in BATCHES]


def _configs(records: list[dict]) -> pd.DataFrame:
    """The config rows of `records` (one visit each), as the explorers read them."""
    return per_config(pd.DataFrame(records))


def _view(records: list[dict]) -> pages.PageView:
    return pages.view(FakeStudy(pd.DataFrame(records), [GRID], profile="smoke"), "cpu")


def _lines(fig: Figure) -> dict[str, list[tuple[list, list]]]:
    return {ax.get_title(): [(list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()]
            for ax in fig.axes if ax.get_visible() and ax.get_lines()}


def test_memory_figure_caption_and_finding_from_records_with_memory():
    v = _view(_records())
    figure, caption = paradigms.memory_figure(v)
    drawn = _lines(figure)["bert-tiny"]
    assert sorted(tuple(y) for _, y in drawn) == sorted(tuple(PEAKS[b][n] for n in BATCHES) for b in PEAKS)
    bars = [p.get_width() for ax in figure.axes for p in ax.patches]
    assert bars == pytest.approx([16.5] * 3)  # weights held, one bar per runtime
    assert "**CPU A x2 (CPU)** (profile `smoke`)" in caption and "one visit per config (round 0)" in caption
    assert "resident-set high-water mark" in caption and "9 of 9 ok configs carry memory" in caption
    finding = paradigms.memory_finding(v)
    assert "bert-tiny fp32 at batch 64: onnxruntime 60 MiB, eager 16 MiB and torchscript 5 MiB." in finding
    assert "rose for eager (2 to 16 MiB, batch 8 to 64) and onnxruntime (30 to 60 MiB, batch 8 to 64)" in finding
    assert "it did not for torchscript (5 to 5 MiB, batch 8 to 64)." in finding
    assert "Weights held: eager 16.5 MiB" in finding and "single observations" in finding


def test_growth_starts_at_the_smallest_batch_where_batch_8_is_not_measured():
    rows = [_record(b, n) for b in PEAKS for n in (1, 64)]
    rose, flat = memory_findings.growth_phrases(memory_findings.memory_rows(_view(rows).frame))
    assert "eager (0 to 16 MiB, batch 1 to 64)" in rose and "torchscript (10 to 5 MiB, batch 1 to 64)" in flat


def test_records_without_memory_say_so_in_every_cell():
    v = _view(_records(memory=False))
    figure, caption = paradigms.memory_figure(v)
    assert not _lines(figure)  # an empty figure that says so, no invented curve
    assert caption.startswith("No record shown on **CPU A x2 (CPU)** (profile `smoke`) carries memory")
    assert paradigms.memory_finding(v) == caption
    assert paradigms.energy_figure(v)[0] is None and paradigms.energy_markdown(v) == ""
    assert paradigms.energy_note(v).startswith("No record shown on **CPU A x2 (CPU)** (profile `smoke`) carries energy")
    for text in (caption, paradigms.energy_note(v)):
        assert text.count(". ") == 0 and text.endswith(".")  # one sentence


def test_memory_unavailable_names_the_records_reason():
    rows = _records(memory=False, memory_method="unavailable", memory_reason="no /proc/self/clear_refs")
    caption = paradigms.memory_figure(_view(rows))[1]
    assert caption == "Memory is unavailable on **CPU A x2 (CPU)** (profile `smoke`): no /proc/self/clear_refs."


def test_energy_unavailable_is_one_sentence_with_the_reason_and_no_number():
    v = _view(_records())
    assert paradigms.energy_figure(v)[0] is None and paradigms.energy_markdown(v) == ""
    note = paradigms.energy_note(v)
    assert note == (f"Energy per inference is unavailable on **CPU A x2 (CPU)** (profile `smoke`): "
                    f"{NO_ENERGY_REASON}. No estimate is shown in its place.")


def test_energy_where_records_have_it():
    rows = [_record(b, n, energy_mj=0.5 * n) for b in PEAKS for n in BATCHES]
    v = _view(rows)
    figure = paradigms.energy_figure(v)[0]
    assert "{glue:figure} rq2-energy" in paradigms.energy_markdown(v)
    assert sorted(tuple(y) for _, y in _lines(figure)["bert-tiny"]) == [(0.5, 4.0, 32.0)] * 3
    note = paradigms.energy_note(v)
    assert "from nvml (zeus)" in note and "for 0.6 to 0.6 s" in note and "one visit per config" in note
    assert "At batch 64: eager 32 mJ, onnxruntime 32 mJ and torchscript 32 mJ." in note


def test_no_ok_rows_every_memory_and_energy_cell_says_so():
    v = _view([{**r, "status": "error", "median_ms": None} for r in _records()])
    for text in (paradigms.memory_figure(v)[1], paradigms.memory_finding(v), paradigms.energy_note(v)):
        assert text.startswith("Nothing to show here")
    assert paradigms.energy_figure(v)[0] is None and paradigms.energy_markdown(v) == ""


def test_explorer_table_has_memory_rows_only_where_records_carry_memory():
    data = interactive.explorer_data(_configs(_records() + _records(memory=False, model="bert-mini")), pd.DataFrame())
    memory = data[(data.metric == "memory") & (data.axis == "batch_size")]
    assert set(memory.model) == {"bert-tiny"}  # bert-mini has no memory: left out, not drawn as zero
    expected = {(b, n, PEAKS[b][n]) for b in PEAKS for n in BATCHES if PEAKS[b][n] > 0}  # 0 cannot go on a log axis
    assert set(zip(memory.backend, memory.batch_size, memory.value)) == expected
    assert memory.low.isna().all() and set(memory.rounds) == {1}
    assert all(e.endswith(" MiB (one visit: no interval)") for e in memory.estimate)
    assert "bert-tiny eager fp32, batch 8, seq 16" in set(memory.config)  # the tooltip names the record
    spec = interactive.explorer_chart(data, "bert-tiny", "fp32", "CPU A x2 (CPU)", "batch_size").to_dict()
    metric = next(p for p in spec["params"] if p["name"] == "metric")
    assert "memory" in metric["bind"]["options"]
    assert interactive.MEMORY_TITLE in spec["title"]["text"]["expr"]
    assert "memory" in {v["metric"] for v in spec["data"]["values"]}


def test_explorer_coverage_sentence():
    assert memory_findings.memory_coverage(pd.DataFrame(_records())) == (
        "Memory is the peak above the baseline taken before each runtime's preparation (MiB), one visit per config "
        "(round 0): no between-run interval; 9 of 9 ok configs carry it, 1 with a peak of 0 MiB that the log axis "
        "cannot draw.")
    assert memory_findings.memory_coverage(pd.DataFrame(_records(memory=False))).startswith("No record here carries")


def test_widget_explorer_offers_memory_only_where_records_carry_it():
    frame = _configs(_records() + _records(memory=False, model="bert-mini"))
    assert explorer_selection.choices(frame, "bert-tiny", "fp32", "{}").metrics == ("latency", "memory")
    assert explorer_selection.choices(frame, "bert-mini", "fp32", "{}").metrics == ("latency",)
    chosen = explorer_selection.resolve(frame, model="bert-tiny", metric="memory", decompose=True)
    assert chosen.metric == "memory" and not chosen.decompose
    fig = explorer_view.figure_for(frame, chosen)
    drawn = _lines(fig)["CPU A x2 (CPU)"]
    assert sorted(tuple(y) for _, y in drawn) == sorted(tuple(PEAKS[b][n] for n in BATCHES) for b in PEAKS)
    assert "peak memory above baseline vs batch size" in fig._suptitle.get_text()
    caption = explorer_view.caption_for(frame, chosen)
    assert "one visit per config (round 0): no between-run interval" in caption
    assert "from 9 of 9 ok configs (those that carry memory)" in caption
    assert explorer_selection.resolve(frame, model="bert-mini", metric="memory").metric == "latency"


def test_widget_explorer_metric_control():
    frame = _configs(_records() + _records(memory=False, model="bert-mini"))
    shell = explorer.Explorer(frame, show=lambda fig: {"output_type": "display_data", "metadata": {},
                                                       "data": {"text/plain": repr(fig)}})
    shell.select(model="bert-tiny")
    assert [v for _, v in shell.controls["metric"].options] == ["latency", "memory"]
    assert shell.select(metric="memory").metric == "memory" and shell.controls["fit"].disabled
    assert shell.select(model="bert-mini").metric == "latency"
    assert [v for _, v in shell.controls["metric"].options] == ["latency"]
    assert np.isfinite(shell.figure.axes[0].get_lines()[0].get_ydata()).all()
