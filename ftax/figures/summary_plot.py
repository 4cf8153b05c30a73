"""The intro's one figure: a model's latency per runtime against batch, beside the share of eager's a runtime removes.

Left, each runtime's latency against batch size (config rows of `ftax.read.estimates.per_config`, the band their
between-round interval), with a dashed line at eager's smallest-batch latency: what the curve would be if it were
flat, the paper's sign of a framework-bound model. Right, the share of eager's latency each runtime removes at each
batch, 1 - 1/speedup, with the paired-by-round interval of `ftax.read.analysis.speedups` mapped through. Side by
side they show a tax (the right panel above zero) on a curve that is not flat (the left panel leaving the dashed
line). Matplotlib only, no pyplot; the caption is the caller's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ftax.figures.plot_style import (AXIS_LABELS, BACKEND_COLORS, backend_order, color_for, empty_figure, legend_below,
                                     log2_axis, log_latency_axis)
from ftax.read.rows import ok_rows

DODGE = 0.08  # log2 units between neighbouring runtimes' points in the right panel


def removed_share(speedup: pd.Series | float) -> pd.Series | float:
    """The share of the baseline's latency a runtime removes: 1 - 1/speedup (0 at 1x, 50% at 2x)."""
    return 1 - 1 / speedup


def tax_vs_batch(rows: pd.DataFrame, speedups: pd.DataFrame, baseline: str = "eager", title: str = "") -> Figure:
    """Two panels: latency per runtime against batch size, with a dashed flat line at `baseline`'s smallest-batch
    latency, and the share of `baseline`'s latency each runtime removes (`removed_share`), with error bars from
    the speedup's interval. `rows`: one curve per runtime (config rows); `speedups`: `ftax.read.analysis.speedups`
    of the same visits. Empty input gives a figure saying so."""
    rows = ok_rows(rows, "batch_size")
    if rows.empty:
        return empty_figure(title, "No ok records to plot latency against batch size.")
    fig = Figure(figsize=(9.6, 3.8), layout="constrained")
    latency_ax, share_ax = fig.subplots(1, 2)
    backends = backend_order(rows["backend"].unique())
    legend: dict = {}
    for backend in backends:
        curve = rows[rows["backend"] == backend].sort_values("batch_size")
        color = color_for("backend", backend, backends)
        (line,) = latency_ax.plot(curve["batch_size"], curve["estimate_ms"], marker="o", ms=4, color=color)
        if {"low_ms", "high_ms"} <= set(curve):
            latency_ax.fill_between(curve["batch_size"], curve["low_ms"], curve["high_ms"], color=color, alpha=0.18,
                                    lw=0)
        legend[backend] = line
    base = rows[rows["backend"] == baseline].sort_values("batch_size")
    if not base.empty:
        flat = latency_ax.axhline(float(base["estimate_ms"].iloc[0]), color=BACKEND_COLORS.get(baseline, "k"),
                                  ls="--", lw=1)
        legend[f"flat at {baseline}'s batch {int(base['batch_size'].iloc[0])} (the paper's framework-bound)"] = flat
    log2_axis(latency_ax, rows["batch_size"].unique(), AXIS_LABELS["batch_size"])
    log_latency_axis(latency_ax)
    latency_ax.set_title("latency per runtime", fontsize=10)
    others = speedups[speedups["backend"] != baseline] if not speedups.empty else speedups
    drawn = backend_order(others["backend"].unique()) if not others.empty else []
    for i, backend in enumerate(drawn):
        curve = others[others["backend"] == backend].sort_values("batch_size")
        # each runtime a little to the side of the batch it was measured at, so the error bars do not hide each other
        x = curve["batch_size"] * 2.0 ** (DODGE * (i - (len(drawn) - 1) / 2))
        share = removed_share(curve["speedup"])
        err = np.vstack([(share - removed_share(curve["speedup_low"])).clip(lower=0).fillna(0),
                         (removed_share(curve["speedup_high"]) - share).clip(lower=0).fillna(0)])
        share_ax.errorbar(x, share, yerr=err, marker="o", ms=4, capsize=2,
                          color=color_for("backend", backend, backends))
    share_ax.axhline(0.0, color=BACKEND_COLORS.get(baseline, "k"), ls="--", lw=1)
    log2_axis(share_ax, rows["batch_size"].unique(), AXIS_LABELS["batch_size"])
    share_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    share_ax.set_ylabel(f"share of {baseline}'s latency removed")
    share_ax.set_title("what a runtime removes (paired by round)", fontsize=10)
    share_ax.grid(True, alpha=0.3)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig
