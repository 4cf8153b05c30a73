"""Where the time goes: the decomposition figures and phrases from hand-built frames (structure,
never pixel values or literal latencies), and the page in the shared smoke build."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from bs4 import BeautifulSoup
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

from ftax.figures import decomposition_plots, plot_style
from ftax.read import analysis, decomposition_findings
from ftax.read.rows import BUSY_METHODS, decomposed, on_device

BATCHES = (1, 2, 4, 8, 16, 32, 64)


def _row(backend: str, batch: int, fixed_ms: float, **kw) -> dict:
    """A profiled config row: busy grows with the batch, overhead is nearly fixed per call."""
    busy, overhead = 0.2 + 0.1 * batch, fixed_ms * (1 + 0.01 * batch)
    wall = busy + overhead
    base = dict(status="ok", machine_id="m1", machine_label="CPU A x2 (CPU)", model="bert-tiny", backend=backend,
                dtype="fp32", device="cpu", batch_size=batch, seq_len=128, overrides="{}", message="",
                estimate_ms=wall, low_ms=wall * 0.95, high_ms=wall * 1.05, decomposition_method="cpu-compute-ops",
                decomposition_busy_ms=busy, decomposition_overhead_ms=overhead, decomposition_wall_ms=wall,
                decomposition_overhead_share=overhead / wall)
    base.update(kw)
    return base


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame([_row(b, n, fixed) for b, fixed in (("eager", 2.0), ("torchscript", 1.0)) for n in BATCHES])


def _axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else []


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_overhead_bars_stack_overhead_on_busy_per_backend_and_batch(frame):
    fig = decomposition_plots.overhead_bars(frame, title="t")
    (ax,) = _axes(fig)
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert [int(t) for t in ax.get_xticks()] == list(BATCHES)
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    bars = ax.patches
    assert len(bars) == 2 * 2 * len(BATCHES)  # busy + overhead, per backend and batch
    for backend in ("eager", "torchscript"):
        color = plot_style.BACKEND_COLORS[backend]
        mine = [p for p in bars if to_hex(p.get_facecolor()[:3]) == color]
        busy = sorted((p for p in mine if p.get_y() == 0), key=lambda p: p.get_x())
        over = sorted((p for p in mine if p.get_y() > 0), key=lambda p: p.get_x())
        rows = frame[frame.backend == backend].sort_values("batch_size")
        assert len(busy) == len(over) == len(BATCHES)
        assert [p.get_height() for p in busy] == pytest.approx(list(rows.decomposition_busy_ms))
        assert [p.get_y() for p in over] == pytest.approx(list(rows.decomposition_busy_ms))  # stacked on busy
        assert [p.get_height() for p in over] == pytest.approx(list(rows.decomposition_overhead_ms))
        assert all(p.get_hatch() for p in over) and not any(p.get_hatch() for p in busy)
    lefts = {b: min(p.get_x() for p in bars if to_hex(p.get_facecolor()[:3]) == plot_style.BACKEND_COLORS[b])
             for b in ("eager", "torchscript")}
    assert lefts["eager"] < lefts["torchscript"]  # eager first within each batch group
    ticks = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(ticks) == 2 and all(len(c.get_segments()) == len(BATCHES) for c in ticks)  # timed medians
    labels = _legend(fig)
    assert labels[:2] == ["eager", "torchscript"]  # the book's backend order
    assert {"busy: " + BUSY_METHODS["cpu-compute-ops"].label, "overhead: wall - busy", "timed median latency"} <= set(labels)


def test_overhead_bars_one_panel_per_machine_and_model(frame):
    other = frame.assign(machine_id="m2", machine_label="GPU B (GPU)", device="cuda", decomposition_method="cuda-busy")
    both = pd.concat([frame, other, frame.assign(model="bert-mini")], ignore_index=True)
    fig = decomposition_plots.overhead_bars(both, panel="machine_label")
    titles = sorted(ax.get_title() for ax in _axes(fig))
    assert titles == ["CPU A x2 (CPU) bert-mini", "CPU A x2 (CPU) bert-tiny", "GPU B (GPU) bert-tiny"]
    busy = [label for label in _legend(fig) if label.startswith("busy")]
    assert len(busy) == 1 and "device kernels" in busy[0] and "CPU compute-kernel" in busy[0]  # one swatch


def test_decomposition_figures_skip_rows_without_a_profile_and_say_what_is_missing(frame):
    unprofiled = frame.assign(decomposition_busy_ms=float("nan"), decomposition_overhead_share=float("nan"))
    failed = frame.assign(status="error")
    for make in (decomposition_plots.overhead_bars, decomposition_plots.overhead_share_vs_batch):
        for empty in (unprofiled, failed, frame.drop(columns=[c for c in frame if c.startswith("decomposition_")]),
                      pd.DataFrame()):
            fig = make(empty, title="t")
            assert not fig.legends and "decomposition" in _texts(fig)
        assert "no GPU here" in _texts(make(pd.DataFrame(), missing="no GPU here"))
    mixed = pd.concat([frame, unprofiled.assign(backend="onnxruntime")], ignore_index=True)
    assert "onnxruntime" not in _legend(decomposition_plots.overhead_bars(mixed))


def test_overhead_share_lines_bands_and_fitted_inflections(frame):
    fits = analysis.inflections(frame)
    fig = decomposition_plots.overhead_share_vs_batch(frame, fits=fits, title="t")
    (ax,) = _axes(fig)
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 1 and line.get_linestyle() != ":"]
    assert len(lines) == 2
    for line in lines:
        backend = next(b for b, c in plot_style.BACKEND_COLORS.items() if c == to_hex(line.get_color()))
        rows = frame[frame.backend == backend].sort_values("batch_size")
        assert list(line.get_xdata()) == list(rows.batch_size)
        assert list(line.get_ydata()) == pytest.approx(list(100 * rows.decomposition_overhead_share))
    low, high = ax.get_ylim()
    assert low <= 0 and high >= 100 and ax.get_xscale() == "log"
    assert len(ax.patches) == 2  # framework-bound and compute-bound bands
    knees = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(knees) == int(fits.reached.sum()) >= 1
    labels = _legend(fig)
    assert "latency inflection (claim (a))" in labels
    assert any(f"{analysis.FRAMEWORK_BOUND_MIN_SHARE:.0%}" in label for label in labels)
    short = frame[frame.batch_size.isin([1, 4])]
    fig = decomposition_plots.overhead_share_vs_batch(short, fits=analysis.inflections(short))
    assert not any(line.get_linestyle() == ":" for line in _axes(fig)[0].get_lines())


def test_overhead_share_names_only_what_varies(frame):
    two = pd.concat([frame, frame.assign(model="bert-mini")], ignore_index=True)
    labels = _legend(decomposition_plots.overhead_share_vs_batch(two))
    assert {"eager bert-tiny", "eager bert-mini", "torchscript bert-mini"} <= set(labels)
    fig = decomposition_plots.overhead_share_vs_batch(pd.concat([frame, frame.assign(machine_label="GPU B (GPU)")]),
                                        panel="machine_label")
    assert sorted(ax.get_title() for ax in _axes(fig)) == ["CPU A x2 (CPU)", "GPU B (GPU)"]


def test_phrases_state_the_decomposition_it_was_given(frame):
    share = frame.set_index(["backend", "batch_size"]).decomposition_overhead_share
    phrases = decomposition_findings.share_phrases(frame, ["model", "backend"])
    assert len(phrases) == 2 and phrases[0].startswith("eager: ")
    assert f"{share['eager', 1]:.0%} of" in phrases[0] and "at batch 1 and" in phrases[0] and "at batch 64" in phrases[0]
    assert "aten operators" in decomposition_findings.busy_phrase(frame)
    assert "GPU" in decomposition_findings.busy_phrase(frame.assign(decomposition_method="cuda-busy"))
    assert decomposition_findings.pairing_phrase(frame).endswith(f"within 25% of it for {len(frame)} of {len(frame)} configs")
    assert decomposition_findings.pairing_phrase(frame.assign(status="error")) is None
    slow_pairs = frame.assign(decomposition_wall_ms=frame.decomposition_wall_ms.where(frame.backend == "eager",
                                                                          3 * frame.estimate_ms))
    assert decomposition_findings.pairing_phrase(slow_pairs).endswith("the pairs are off for torchscript by a median 3x, so that "
                                                        "split is less reliable than the timed latency")
    assert decomposition_findings.caveat_phrases(frame) == []
    assert "upper bound" in decomposition_findings.caveat_phrases(frame.assign(backend="compile"))[0]


def test_regime_phrases_merge_consecutive_batches(frame):
    labeled = analysis.label_regimes(frame)
    phrases = decomposition_findings.regime_phrases(labeled, ["model", "backend"])
    assert len(phrases) == 2
    for phrase, backend in zip(phrases, ("eager", "torchscript")):
        runs = labeled[labeled.backend == backend].sort_values("batch_size")
        first, last = runs.iloc[0], runs.iloc[-1]
        assert phrase.startswith(f"{backend}: {first.regime} at batch 1")
        assert f"{last.regime} at batch" in phrase and phrase.endswith(str(last.batch_size))
        assert phrase.count("framework-bound") <= 1  # merged, not listed per batch


def test_selections_for_the_gpu_section(frame):
    mixed = pd.concat([frame, frame.assign(device="cuda:0", machine_label="GPU B (GPU)")], ignore_index=True)
    assert set(on_device(mixed, "cuda").machine_label) == {"GPU B (GPU)"}
    assert on_device(pd.DataFrame(), "cuda").empty
    failed = frame.assign(decomposition_method="unavailable", decomposition_message="the profiler saw no aten ops",
                          decomposition_overhead_share=float("nan"))
    assert decomposed(failed).empty
    assert decomposition_findings.not_decomposed(failed.assign(backend="onnxruntime")) == [
        "onnxruntime at batch 1, 2, 4, 8, 16, 32 and 64: the profiler saw no aten ops"]


@pytest.mark.slow
def test_page_builds_with_captioned_figures(smoke_book):
    _, out, results_dir, _ = smoke_book
    html = out / "_build" / "html" / "book" / "_executed" / "05-where-time-goes.html"
    article = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser").find("article")
    every = article.find_all("figure")
    assert every[0].get("id") == "fig-ledger" and every[0].find("img")  # the ledger opens the page
    figures = every[1:]  # the smoke build measures no ledger run: its figure says so; the others state numbers
    gpu = torch.cuda.is_available()
    assert len(figures) == (3 if gpu else 2) and all(f.find("img") for f in figures)
    captions = [f.find(class_="caption-text").get_text(" ", strip=True) for f in figures]
    assert all("smoke" in c for c in captions)
    assert "(CPU)" in captions[0]
    text = article.get_text(" ", strip=True)
    assert text.count("Finding.") == len(figures) and "Nothing to show here" not in text
    if not gpu:  # the GPU section is left out, heading and all, where no GPU measured
        assert "On a GPU" not in text and "No GPU records" not in text
