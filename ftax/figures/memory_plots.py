"""Memory and energy figures: peak memory above a baseline and energy per inference against batch size.

The book's conventions (`ftax.figures.plot_style`): one color per backend, a line style per dtype, batch size on a
log2 axis, one legend below the panels, a figure that says what is missing instead of raising. Memory is
drawn on a symmetric log axis (log above 1 MiB, linear below) because a peak can be 0: memory that did not
rise above the baseline is a measurement, not a missing point. The rows come from
`ftax.read.memory_findings.memory_rows` / `energy_rows`, so a figure and its caption count the same rows.
"""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from ftax.read.estimates import curve_keys
from ftax.read.memory_findings import energy_rows, memory_rows
from ftax.figures.plot_style import (AXIS_LABELS, DTYPE_LINESTYLES, backend_order, color_for, curve_label, empty_figure,
                             groups_of, legend_below, log2_axis, log_latency_axis, panels, plain_number, split_by)

PEAK_LABEL = "peak above baseline (MiB)"
ENERGY_LABEL = "energy per inference (mJ)"
LINEAR_BELOW_MIB = 1.0


def _memory_axis(ax, label: str = PEAK_LABEL) -> None:
    ax.set_yscale("symlog", linthresh=LINEAR_BELOW_MIB)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    ax.set_ylabel(label)
    ax.grid(True, which="major", axis="y", alpha=0.3)


def _lines(ax, rows: pd.DataFrame, x: str, y: str, hue: str, style: str | None, varying: set[str],
           legend: dict) -> None:
    """One line per curve of `rows` (already one panel's): per `hue` x `style`, and apart where any other column of
    the curve's identity (`ftax.read.estimates.curve_keys`) differs."""
    keys = split_by(rows, [hue, style], curve_keys(rows, x))
    varying = varying | {c for c in keys[len([c for c in (hue, style) if c]):]}
    for values, curve in rows.groupby(keys, sort=True, dropna=False):
        named = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        curve = curve.groupby(x, as_index=False)[y].median().sort_values(x)
        color = color_for(hue, named[hue], rows[hue].unique())
        line_style = DTYPE_LINESTYLES.get(named.get(style), "-") if style == "dtype" else "-"
        (line,) = ax.plot(curve[x], curve[y], marker="o", ms=4, color=color, ls=line_style)
        legend.setdefault(curve_label(list(named.items()), varying), line)


def _varying(rows: pd.DataFrame, hue: str, style: str | None) -> set[str]:
    return {c for c in (hue, style) if c and rows[c].nunique(dropna=False) > 1} or {hue}


def memory_vs(frame: pd.DataFrame, x: str = "batch_size", hue: str = "backend", style: str | None = "dtype",
              panel: str | None = "model", title: str = "", sharey: bool = False) -> Figure:
    """Peak memory above the baseline (MiB) against `x`, one line per `hue` x `style`, one panel per `panel`."""
    rows = memory_rows(frame)
    rows = rows[rows[x].notna()] if x in rows else rows.iloc[0:0]
    if rows.empty:
        return empty_figure(title, "No ok record here carries memory: nothing to draw.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], sharey=sharey)
    legend: dict = {}
    for ax, (value, part) in zip(axes, groups):
        _lines(ax, part, x, "peak_mib", hue, style, _varying(rows, hue, style), legend)
        log2_axis(ax, part[x].unique(), AXIS_LABELS.get(x, x))
        _memory_axis(ax)
        if panel:
            ax.set_title(str(value), fontsize=10)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def memory_figure(frame: pd.DataFrame, panel: str = "model", title: str = "") -> Figure:
    """Page 02's memory figure: per `panel` value a column, peak above the baseline against batch size on top,
    the weights each runtime holds (the median over its configs, MiB) as bars below."""
    rows = memory_rows(frame)
    if rows.empty:
        return empty_figure(title, "No ok record here carries memory: nothing to draw.")
    groups = groups_of(rows, panel)
    fig = Figure(figsize=(4.2 * len(groups) + 1.6, 6.4), layout="constrained")
    axes = fig.subplots(2, len(groups), squeeze=False, height_ratios=(3, 2))
    varying = _varying(rows, "backend", "dtype")
    legend: dict = {}
    for k, (value, part) in enumerate(groups):
        top, bottom = axes[0][k], axes[1][k]
        _lines(top, part, "batch_size", "peak_mib", "backend", "dtype", varying, legend)
        log2_axis(top, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        _memory_axis(top)
        top.set_title(str(value), fontsize=10)
        held = part[part["weights_mib"].notna()].groupby(["backend", "dtype"])["weights_mib"].median()
        order = [(b, d) for b in backend_order(held.index.get_level_values(0)) for d in sorted(held.loc[b].index)]
        labels = [b if "dtype" not in varying else f"{b} {d}" for b, d in order]
        bars = bottom.barh(labels, [held.loc[key] for key in order],
                           color=[color_for("backend", b, rows["backend"].unique()) for b, _ in order])
        bottom.bar_label(bars, [f" {held.loc[key]:.3g}" for key in order], fontsize=8)
        bottom.invert_yaxis()
        bottom.set_xlabel("weights held (MiB)")
        bottom.set_xlim(0, max(held.max() * 1.3, 1e-3) if len(held) else 1)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def energy_vs_batch(frame: pd.DataFrame, panel: str | None = "model", title: str = "") -> Figure | None:
    """Energy per inference (mJ, log) against batch size, one line per backend x dtype; None where no row
    has a measured energy (the page then shows only the sentence that says why)."""
    rows = energy_rows(frame)
    if rows.empty:
        return None
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups])
    legend: dict = {}
    for ax, (value, part) in zip(axes, groups):
        _lines(ax, part, "batch_size", "energy_mj", "backend", "dtype", _varying(rows, "backend", "dtype"), legend)
        log2_axis(ax, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        log_latency_axis(ax, label=ENERGY_LABEL)
        if panel:
            ax.set_title(str(value), fontsize=10)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig
