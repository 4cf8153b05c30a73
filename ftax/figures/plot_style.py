"""The book's figure style: colors, axes, panels and legends that every figure shares.

One color per backend and dtype across the whole book (STYLE.md), batch size on a log2 axis,
latency in ms on a log10 axis with plain tick labels, one legend below the panels. The figure
modules (`ftax.figures.plots`, `ftax.figures.decomposition_plots`, `ftax.appendix.validation_plots`) and the explorer
draw with these, so a change of style is made here once.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from ftax.read.estimates import curve_columns

BACKEND_COLORS = {
    "eager": "#1f77b4", "torchscript": "#ff7f0e", "compile": "#2ca02c",
    "compile-reduce-overhead": "#17becf", "cudagraph": "#d62728", "onnxruntime": "#9467bd",
    "aot-inductor": "#8c564b",
}
DTYPE_COLORS = {"fp32": "#264653", "fp16": "#e76f51", "bf16": "#e9c46a"}
DTYPE_LINESTYLES = {"fp32": "-", "fp16": "--", "bf16": ":"}
REGIME_COLORS = {"framework-bound": "#8d99ae", "compute-bound": "#f4a261"}
AXIS_LABELS = {"batch_size": "batch size", "seq_len": "sequence length (tokens, pixels or frames)",
               "estimate_ms": "latency (ms, median)", "flops": "FLOPs per forward", "width": "width (hidden size)",
               "depth": "depth (layers)", "machine_label": "machine"}
OTHER_COLORS = colormaps["tab10"].colors


def color_for(column: str, value, values: Sequence = ()) -> str | tuple:
    """The book's color for `value` of `column`: fixed per backend and dtype, else tab10 by rank."""
    fixed = {"backend": BACKEND_COLORS, "dtype": DTYPE_COLORS}.get(column)
    if fixed is not None and value in fixed:
        return fixed[value]
    ranked = sorted(set(values) | {value}, key=str)
    return OTHER_COLORS[ranked.index(value) % len(OTHER_COLORS)]


def backend_order(backends) -> list[str]:
    """Backends in the book's order (eager first, as in `BACKEND_COLORS`), unknown ones after, by name."""
    order = list(BACKEND_COLORS)
    return sorted(set(backends), key=lambda b: (order.index(b) if b in order else len(order), str(b)))


def empty_figure(title: str, message: str) -> Figure:
    """A small figure that states what is missing (drawn where a figure would be)."""
    fig = Figure(figsize=(6.4, 1.8), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11, color="#555555")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plain_number(value: float) -> str:
    """A tick label: 8, 0.5, 1e+03 (no trailing zeros)."""
    return f"{value:g}"


def log2_axis(ax, values: Sequence[float], label: str, axis: str = "x") -> None:
    """A log2 axis with a labeled tick at each measured value (batch sizes, sequence lengths)."""
    ticks = sorted({float(v) for v in values if v and v > 0})
    getattr(ax, f"set_{axis}scale")("log", base=2)
    which = ax.xaxis if axis == "x" else ax.yaxis
    which.set_major_locator(FixedLocator(ticks))
    which.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    which.set_minor_locator(NullLocator())
    getattr(ax, f"set_{axis}label")(label)


def log_ticks(axis) -> None:
    """Plain numbers on a log10 axis. Minor ticks are labeled too when the view spans few decades
    (at 2x and 5x under two decades, 2x to 8x under one); decided at draw time from the view."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))

    def minor(value: float, _) -> str:
        low, high = sorted(axis.get_view_interval())
        if value <= 0 or low <= 0:
            return ""
        decades = math.log10(high / low)
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        shown = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0) if decades < 1 else (2.0, 5.0) if decades < 2 else ()
        return plain_number(float(f"{value:.2g}")) if mantissa in shown else ""

    axis.set_minor_formatter(FuncFormatter(minor))


def si_number(value: float, _=None) -> str:
    """FLOPs with SI prefixes: 25M, 1.2G."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{prefix}"
    return f"{value:g}"


def log_latency_axis(ax, label: str = AXIS_LABELS["estimate_ms"], axis: str = "y") -> None:
    """Latency in ms on a log10 axis with plain tick labels."""
    getattr(ax, f"set_{axis}scale")("log")
    log_ticks(ax.yaxis if axis == "y" else ax.xaxis)
    getattr(ax, f"set_{axis}label")(label)
    ax.grid(True, which="major", axis=axis, alpha=0.3)


def panels(values: Sequence, width: float = 4.2, height: float = 3.4, sharey: bool = False):
    """A figure with one panel per value, three to a row, and its visible axes."""
    ncols = min(len(values), 3)
    nrows = math.ceil(len(values) / ncols)
    fig = Figure(figsize=(width * ncols + 1.6, height * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=sharey, squeeze=False).ravel())
    for ax in axes[len(values):]:
        ax.set_visible(False)
    return fig, axes[: len(values)]


def legend_below(fig: Figure, entries: dict, fit_width: bool = False) -> None:
    """One legend for the whole figure, below the panels (a title above never collides with it): in up
    to four columns, or with `fit_width` as many as the figure's width holds (2.7 inches a column, for
    long labels in a narrow figure)."""
    if entries:
        ncols = max(1, min(len(entries), int(fig.get_figwidth() // 2.7))) if fit_width else min(len(entries), 4)
        fig.legend(list(entries.values()), list(entries.keys()), loc="outside lower center", fontsize=9,
                   ncols=ncols, frameon=False)


def groups_of(rows: pd.DataFrame, column: str | None) -> list[tuple[object, pd.DataFrame]]:
    """(value, rows) per value of `column`, sorted; all rows as one group when `column` is None."""
    if column is None:
        return [(None, rows)]
    return [(key, part) for key, part in rows.groupby(column, sort=True, dropna=False)]


SELF_NAMED = ("model", "backend", "dtype", "phase", "device", "machine_label")  # values that read as what they are


def curve_label(parts: Sequence[tuple[str, object]], varying: set[str]) -> str:
    """A legend label naming only the columns that vary among the figure's curves; a value that does not say
    what it is (a sequence length, overrides, a software version) comes with its column's name."""
    return " ".join(str(v) if c in SELF_NAMED else f"{c.replace('_', ' ')} {v}"
                    for c, v in parts if c in varying and v is not None) or "median"


def split_by(rows: pd.DataFrame, drawn: Sequence[str], identity: Sequence[str], panel: str | None = None) -> list[str]:
    """The columns that split `rows` into curves: the `drawn` ones (color, dash), then every column of the
    curve's identity (`ftax.read.estimates.curve_keys`) that takes more than one value within a `panel`, so one
    line is never two curves (a batch curve at two sequence lengths would zigzag)."""
    drawn = [c for c in drawn if c]
    parts = [part for _, part in groups_of(rows, panel)]
    return drawn + [c for c in identity if c not in drawn and c != panel
                    and any(part[c].nunique(dropna=False) > 1 for part in parts)]


def fit_for(fits: pd.DataFrame | None, row: pd.Series, varying: str) -> pd.Series | None:
    """The regime row of `fits` for the curve along `varying` that `row` (one of its points) lies on: matched on
    the curve's identity (`ftax.read.estimates.curve_columns`) and machine label; columns the fits or the row lack,
    and missing values, are ignored."""
    if fits is None or fits.empty:
        return None
    match = fits
    for column in (*curve_columns(varying, series=False), "machine_label"):
        value = row.get(column)
        if column in match and not pd.isna(value):
            match = match[match[column] == value]
    return None if match.empty else match.iloc[0]
