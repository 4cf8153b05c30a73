"""Figures from small hand-built frames: structure (axes, lines, scales, colors), never pixel values."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ftax.figures import plot_style, plots
from ftax.read import analysis


def _row(**kw) -> dict:
    """A config row (as `ftax.read.estimates.per_config` gives it)."""
    base = dict(status="ok", machine_id="m1", machine_label="CPU A x2 (CPU)", model="bert-tiny", backend="eager",
                dtype="fp32", device="cpu", batch_size=1, seq_len=16, overrides="{}", width=None, depth=None,
                flops=1e6, message="")
    base.update(kw)
    median = base.setdefault("estimate_ms", 1.0)
    base.setdefault("low_ms", median * 0.95)
    base.setdefault("high_ms", median * 1.05)
    return base


def _as_visits(rows: pd.DataFrame) -> pd.DataFrame:
    """Config rows as the visits of a one-round sweep (what speedups pair)."""
    return rows.rename(columns={"estimate_ms": "median_ms", "low_ms": "ci_low_ms", "high_ms": "ci_high_ms"})


def _knee(batch: int, flat_ms: float, knee: int) -> float:
    return flat_ms * max(1.0, batch / knee)


@pytest.fixture
def batch_frame() -> pd.DataFrame:
    """Two models x two dtypes, batch 1..64, flat then linear (knees at 8 and 64+)."""
    rows = [_row(model=model, dtype=dtype, batch_size=b,
                 estimate_ms=_knee(b, flat, knee) * (1.3 if dtype == "fp16" else 1))
            for model, flat, knee in (("bert-tiny", 1.0, 8), ("bert-mini", 2.0, 128))
            for dtype in ("fp32", "fp16") for b in (1, 2, 4, 8, 16, 32, 64)]
    return pd.DataFrame(rows)


def _visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _texts(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " " + (
        fig._suptitle.get_text() if fig._suptitle else "")


def test_latency_vs_batch_one_panel_per_model_one_line_per_dtype(batch_frame):
    fig = plots.latency_vs_batch(batch_frame, hue="dtype", style=None, panel="model", title="t")
    axes = _visible_axes(fig)
    assert isinstance(fig, Figure) and len(axes) == 2
    for ax in axes:
        assert len(ax.get_lines()) == 2
        assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
        assert ax.get_yscale() == "log"
        assert [int(t) for t in ax.get_xticks()] == [1, 2, 4, 8, 16, 32, 64]
    colors = {to_hex(line.get_color()) for line in axes[0].get_lines()}
    assert colors == {plot_style.DTYPE_COLORS["fp32"], plot_style.DTYPE_COLORS["fp16"]}


def test_latency_vs_batch_marks_fitted_inflections_and_shades_regimes(batch_frame):
    fits = analysis.inflections(batch_frame)
    fig = plots.latency_vs_batch(batch_frame, hue="dtype", style=None, panel="model", fits=fits)
    by_title = {ax.get_title(): ax for ax in _visible_axes(fig)}
    tiny, mini = by_title["bert-tiny"], by_title["bert-mini"]
    assert len(tiny.get_lines()) == 4  # two curves + their inflection lines
    assert len(tiny.patches) == 2  # framework-bound and compute-bound spans
    assert len(mini.get_lines()) == 2 and len(mini.patches) == 1  # never left the flat regime
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "framework-bound (claim (a))" in labels and "compute-bound (claim (a))" in labels


def test_two_batch_sizes_are_drawn_without_regimes(batch_frame):
    short = batch_frame[batch_frame.batch_size.isin([1, 4])]
    fig = plots.latency_vs_batch(short, panel="model", fits=analysis.inflections(short))
    assert all(len(ax.patches) == 0 for ax in _visible_axes(fig))


def test_backends_keep_their_colors_everywhere(batch_frame):
    frame = pd.concat([batch_frame.assign(backend=b) for b in ("eager", "onnxruntime", "torchscript")])
    frame = frame[(frame.model == "bert-tiny") & (frame.dtype == "fp32")]
    fig = plots.latency_vs_batch(frame, hue="backend", style="dtype", panel="model")
    colors = {to_hex(line.get_color()) for line in _visible_axes(fig)[0].get_lines()}
    assert colors == {plot_style.BACKEND_COLORS[b] for b in ("eager", "onnxruntime", "torchscript")}


def test_latency_vs_seq_uses_log2_sequence_axis():
    frame = pd.DataFrame([_row(seq_len=s, estimate_ms=1 + s / 256) for s in (16, 32, 64, 128, 256)])
    fig = plots.latency_vs_seq(frame)
    (ax,) = _visible_axes(fig)
    assert len(ax.get_lines()) == 1 and ax.xaxis.get_transform().base == 2
    assert "sequence length" in ax.get_xlabel()


def test_speedup_vs_batch_leaves_out_the_baseline(batch_frame):
    frame = pd.concat([batch_frame.assign(backend="eager"),
                       batch_frame.assign(backend="torchscript", estimate_ms=batch_frame.estimate_ms / 2,
                                          low_ms=batch_frame.low_ms / 2, high_ms=batch_frame.high_ms / 2)])
    speedups = analysis.speedups(_as_visits(frame))
    fig = plots.speedup_vs_batch(speedups, panel="model")
    axes = _visible_axes(fig)
    assert len(axes) == 2
    for ax in axes:
        assert len(ax.containers) == 2  # one errorbar per dtype of torchscript
        assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())  # the eager reference


def _grid_frame() -> pd.DataFrame:
    return pd.DataFrame([_row(model="bert-base", width=w, depth=d, batch_size=b, flops=w * w * d * b,
                              overrides=f'{{"depth": {d}, "width": {w}}}', estimate_ms=0.1 * d * (1 + b * w / 512))
                         for w in (128, 256, 512) for d in (2, 4) for b in (1, 16)])


def test_latency_heatmap_one_annotated_panel_per_batch():
    fig = plots.latency_heatmap(_grid_frame())
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == 2
    for ax in axes:
        assert ax.images[0].get_array().shape == (2, 3)
        assert len(ax.texts) == 6


def test_flops_vs_latency_one_line_per_depth():
    fig = plots.flops_vs_latency(_grid_frame(), hue="depth")
    axes = _visible_axes(fig)
    assert len(axes) == 2 and all(len(ax.get_lines()) == 2 for ax in axes)
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in axes)


def test_model_bars_label_ratios_to_the_baseline():
    frame = pd.DataFrame([_row(model=m, estimate_ms=v, flops=f) for m, v, f in
                          (("bert-base", 10.0, 4e9), ("distilbert", 6.0, 2e9), ("mobilebert", 12.0, 1e9))])
    fig = plots.model_bars(frame, baseline="bert-base", panel=None)
    (ax,) = _visible_axes(fig)
    assert len(ax.patches) == 3
    text = _texts(fig)
    assert "x time" not in text and "x FLOPs" in text


def test_inflection_by_machine_one_row_per_machine(batch_frame):
    frame = pd.concat([batch_frame, batch_frame.assign(machine_id="m2", machine_label="GPU B (GPU)",
                                                       estimate_ms=batch_frame.estimate_ms / 10)])
    fits = analysis.inflections(frame[frame.dtype == "fp32"])
    fig = plots.inflection_by_machine(fits, hue="model")
    (ax,) = _visible_axes(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CPU A x2 (CPU)", "GPU B (GPU)"]
    assert "> 64" in _texts(fig)  # bert-mini never left the flat regime: drawn at its largest batch


@pytest.mark.parametrize("draw", [
    lambda f: plots.latency_vs_batch(f, title="empty"),
    lambda f: plots.latency_vs_seq(f, title="empty"),
    lambda f: plots.speedup_vs_batch(analysis.speedups(_as_visits(f)) if not f.empty else f, title="empty"),
    lambda f: plots.latency_heatmap(f, title="empty"),
    lambda f: plots.flops_vs_latency(f, title="empty"),
    lambda f: plots.model_bars(f, title="empty"),
    lambda f: plots.inflection_by_machine(analysis.inflections(f) if not f.empty else f, title="empty"),
])
@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame([_row(status="unsupported", estimate_ms=float("nan"),
                                                                       message="cudagraph needs a CUDA device")])],
                         ids=["no-rows", "only-unsupported"])
def test_empty_data_gives_a_figure_that_says_so(draw, frame):
    fig = draw(frame)
    assert isinstance(fig, Figure)
    assert "No " in _texts(fig) and "empty" in _texts(fig)


def test_every_line_is_one_curve_even_where_hue_and_style_do_not_split_them(batch_frame):
    """A batch curve measured at two sequence lengths, drawn with hue=dtype: two lines, each with rising, distinct
    batch sizes (one line per (model, dtype) would zigzag between them), and the legend names the length."""
    from ftax.figures import decomposition_plots, interactive

    two = pd.concat([batch_frame, batch_frame.assign(seq_len=128, estimate_ms=batch_frame.estimate_ms * 3,
                                                      low_ms=float("nan"), high_ms=float("nan"))],
                    ignore_index=True)
    fig = plots.latency_vs_batch(two, hue="dtype", style=None, panel="model", title="t")
    for ax in _visible_axes(fig):
        lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(lines) == 4  # 2 dtypes x 2 sequence lengths
        for line in lines:
            x = list(line.get_xdata())
            assert x == sorted(set(x))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "fp32 seq len 16" in labels and "fp16 seq len 128" in labels
    speedups = pd.DataFrame([dict(machine_id="m1", model="bert-tiny", backend="onnxruntime", dtype="fp32",
                                  device="cpu", seq_len=s, overrides="{}", batch_size=b, speedup=2.0, speedup_low=1.9,
                                  speedup_high=2.1) for s in (16, 128) for b in (1, 2, 4)])
    fig = plots.speedup_vs_batch(speedups, title="t")
    assert len([c for c in fig.axes[0].containers]) == 2
    chart = interactive.latency_chart(two, "batch_size", color="dtype", panel="model").to_dict()
    assert "curve" in str(chart["layer"][0]["encoding"].get("detail"))
    shares = two.assign(decomposition_busy_ms=0.5, decomposition_overhead_ms=0.5, decomposition_overhead_share=0.5,
                        decomposition_wall_ms=1.0, decomposition_method="cpu-compute-ops")
    fig = decomposition_plots.overhead_share_vs_batch(shares[(shares.dtype == "fp32") & (shares.model == "bert-tiny")])
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() != "None"]
    assert len(lines) == 2 and all(list(line.get_xdata()) == sorted(set(line.get_xdata())) for line in lines)
