"""The validation appendix's figures: one function per figure kind.

They follow the conventions of `ftax.figures.plots` (`ftax.figures.plot_style`). Each takes a table of `ftax.appendix.validation_report` and returns a `matplotlib.figure.Figure` built
without pyplot; an empty table gives a figure that says nothing was measured.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ftax.figures.plot_style import (OTHER_COLORS, empty_figure, legend_below, log_latency_axis, log_ticks, panels,
                             si_number)
from ftax.measure.validation_spec import TOLERANCE

METHOD_COLORS = {"ftax": "#222222", "torch-benchmark": "#d95f02", "timeit-loop": "#7570b3", "subprocess": "#1b9e77"}
NOT_MEASURED = "Nothing measured for this figure in this run."


def _method_order(methods) -> list[str]:
    """ftax first, then the other methods in `METHOD_COLORS` order, unknown ones after by name."""
    order = list(METHOD_COLORS)
    return sorted(set(methods), key=lambda m: (order.index(m) if m in order else len(order), str(m)))


def _grouped_barh(ax, rows: pd.DataFrame, category: str, hue: str, value: str, colors: dict,
                  categories: Sequence, hues: Sequence, legend: dict, text=None, dots: bool = False) -> None:
    """Horizontal bars of `value` (dots, for a log axis, where a bar's length means nothing), one group
    per `category` (top to bottom), one bar or dot per `hue`."""
    height = 0.8 / max(len(hues), 1)
    for k, h in enumerate(hues):
        part = rows[rows[hue] == h]
        ys = [categories.index(c) + (k - (len(hues) - 1) / 2) * height for c in part[category]]
        color = colors.get(h, OTHER_COLORS[k % len(OTHER_COLORS)])
        if dots:
            ax.hlines(ys, 0, part[value], color=color, lw=0.8, alpha=0.35)
            handle = ax.plot(part[value], ys, "o", color=color, ms=6)[0]
        else:
            handle = ax.barh(ys, part[value], height=height * 0.9, color=color)
        legend.setdefault(str(h), handle)
        if text is not None:
            for y, (_, r) in zip(ys, part.iterrows()):
                ax.annotate(text(r), (r[value], y), textcoords="offset points", xytext=(5, 0), va="center",
                            fontsize=7)
    ax.set_yticks(range(len(categories)), categories)
    ax.set_ylim(len(categories) - 0.5, -0.5)


def _validation_time_axis(ax, label: str) -> None:
    """Log x-axis when the panel spans a factor of 3 or more, else linear (a log axis that narrow has no
    labeled ticks); the right end leaves room for the labels drawn past the data."""
    low, high = ax.get_xlim()
    if high / max(low, 1e-12) >= 3:
        log_latency_axis(ax, label, axis="x")
        low, high = ax.get_xlim()
        ax.set_xlim(low, high * (high / low) ** 0.3)
    else:
        ax.set_xlim(low, high + (high - low) * 0.35)
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)


def validation_methods(table: pd.DataFrame, title: str = "", missing: str = NOT_MEASURED) -> Figure:
    """Each method's central value per callable (one panel each, log latency axis): a dot at the median
    over rounds, a thick bar over the range of the rounds' values, a capped whisker one IQR wide (the
    median over rounds of each measurement's IQR) centered on the dot; each labeled with its ratio to
    ftax's median. `table` is `ftax.appendix.validation_report.agreement`."""
    if table is None or table.empty:
        return empty_figure(title, missing)
    targets = list(dict.fromkeys(table["target"]))
    fig, axes = panels(targets, width=4.4, height=2.3)
    legend: dict = {}
    for ax, target in zip(axes, targets):
        part = table[table["target"] == target]
        unit, scale = ("µs", 1e3) if part["high_ms"].max() < 0.01 else ("ms", 1.0)
        part = part.assign(**{c: part[c] * scale for c in ("center_ms", "spread_ms", "low_ms", "high_ms")})
        methods = _method_order(part["method"])
        for y, method in enumerate(methods):
            r = part[part["method"] == method].iloc[0]
            color = METHOD_COLORS.get(method, OTHER_COLORS[y % len(OTHER_COLORS)])
            span = ax.plot([r["low_ms"], r["high_ms"]], [y, y], color=color, lw=7, alpha=0.25,
                           solid_capstyle="butt")[0]
            half = r["spread_ms"] / 2
            low = max(r["center_ms"] - half, r["center_ms"] / 50)
            whisker = ax.errorbar([r["center_ms"]], [y], xerr=[[r["center_ms"] - low], [half]], fmt="o", ms=5,
                                  color=color, capsize=3, lw=1)
            ax.annotate(f"{r['ratio_to_ftax']:.3g}x", (max(r["high_ms"], r["center_ms"] + half), y),
                        textcoords="offset points", xytext=(5, -3), fontsize=8, color=color)
            legend.setdefault("range of the rounds' values", span)
            legend.setdefault("median over rounds, whisker one IQR wide", whisker)
        ax.set_yticks(range(len(methods)), methods)
        ax.set_ylim(len(methods) - 0.5, -0.5)
        _validation_time_axis(ax, f"time per call ({unit})")
        ax.set_title(target, fontsize=10)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def validation_ratios(table: pd.DataFrame, tolerance: float = TOLERANCE, title: str = "",
                      missing: str = NOT_MEASURED) -> Figure:
    """Each method's ratio to ftax's median per callable (log2 axis), the band of +-`tolerance` shaded;
    a point outside the band is a disagreement that `ftax.appendix.validation_report.explain` accounts for."""
    rows = table[table["method"] != "ftax"] if table is not None and not table.empty else pd.DataFrame()
    if rows.empty:
        return empty_figure(title, missing)
    targets = list(dict.fromkeys(rows["target"]))
    methods = _method_order(rows["method"])
    fig = Figure(figsize=(8.0, 0.65 * len(targets) + 1.8), layout="constrained")
    ax = fig.subplots()
    band = ax.axvspan(1 - tolerance, 1 + tolerance, color="#cccccc", alpha=0.5, lw=0)
    ax.axvline(1.0, color=METHOD_COLORS["ftax"], lw=1)
    legend: dict = {}
    step = 0.7 / len(methods)
    for k, method in enumerate(methods):
        part = rows[rows["method"] == method]
        ys = [targets.index(t) + (k - (len(methods) - 1) / 2) * step for t in part["target"]]
        color = METHOD_COLORS.get(method, OTHER_COLORS[k % len(OTHER_COLORS)])
        legend[method] = ax.plot(part["ratio_to_ftax"], ys, "o", color=color, ms=6)[0]
        for x, y in zip(part["ratio_to_ftax"], ys):
            ax.annotate(f"{x:.3g}x", (x, y), textcoords="offset points", xytext=(6, -3), fontsize=7, color=color)
    legend[f"ftax +-{tolerance * 100:g}%"] = band
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}x"))
    low, high = min(rows["ratio_to_ftax"].min(), 1 - tolerance), max(rows["ratio_to_ftax"].max(), 1 + tolerance)
    ax.set_xlim(low / 1.15, high * 1.3)
    ax.set_yticks(range(len(targets)), targets)
    ax.set_ylim(len(targets) - 0.5, -0.5)
    ax.set_xlabel("method's central value / ftax's median (each the median over rounds)")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def validation_cost(table: pd.DataFrame, title: str = "", missing: str = NOT_MEASURED) -> Figure:
    """What one measurement cost each method per callable: seconds (left) and calls (right), log axes."""
    if table is None or table.empty:
        return empty_figure(title, missing)
    targets = list(dict.fromkeys(table["target"]))
    methods = _method_order(table["method"])
    fig = Figure(figsize=(10.0, 0.75 * len(targets) + 1.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    legend: dict = {}
    for ax, (column, label, fmt) in zip(axes, (("time_s", "seconds per measurement", lambda r: f"{r['time_s']:.2g}"),
                                               ("n", "calls per measurement", lambda r: si_number(float(f"{r['n']:.3g}"))))):
        _grouped_barh(ax, table, "target", "method", column, METHOD_COLORS, targets, methods, legend, fmt, dots=True)
        ax.set_xscale("log")
        log_ticks(ax.xaxis)
        if column == "n":
            ax.xaxis.set_major_formatter(FuncFormatter(si_number))
        low, high = table[column].min(), table[column].max()
        ax.set_xlim(low / 2, high * 6)
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def validation_repeatability(rep: pd.DataFrame, title: str = "", missing: str = NOT_MEASURED) -> Figure:
    """Coefficient of variation (%) of each method's central value over the rounds, per callable (log axis)."""
    rows = rep[rep["cv_of_medians"].notna()] if rep is not None and not rep.empty else pd.DataFrame()
    if rows.empty:
        return empty_figure(title, missing if rep is None or rep.empty else "Fewer than two rounds: no variation.")
    rows = rows.assign(cv_pct=rows["cv_of_medians"].clip(lower=1e-4) * 100)
    targets = list(dict.fromkeys(rows["target"]))
    fig = Figure(figsize=(8.0, 0.75 * len(targets) + 1.8), layout="constrained")
    ax = fig.subplots()
    legend: dict = {}
    _grouped_barh(ax, rows, "target", "method", "cv_pct", METHOD_COLORS, targets, _method_order(rows["method"]),
                  legend, lambda r: f"{r['cv_pct']:.2g}%", dots=True)
    ax.set_xscale("log")
    log_ticks(ax.xaxis)
    ax.set_xlim(rows["cv_pct"].min() / 2, rows["cv_pct"].max() * 4)
    ax.set_xlabel(f"coefficient of variation over {int(rows['runs'].max())} rounds (%)")
    ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def validation_sensitivity(summary: pd.DataFrame, title: str = "", missing: str = NOT_MEASURED) -> Figure:
    """ftax's median under each setting of each factor (one panel per factor): bar at the median over
    rounds, whisker over the rounds' range, labeled with the ratio to the factor's first (ftax's) setting."""
    if summary is None or summary.empty:
        return empty_figure(title, missing)
    factors = list(dict.fromkeys(summary["factor"]))
    fig, axes = panels(factors, width=4.2, height=2.0, sharey=False)
    for ax, factor in zip(axes, factors):
        part = summary[summary["factor"] == factor].reset_index(drop=True)
        colors = [METHOD_COLORS["ftax"] if i == 0 else "#a8b5c8" for i in range(len(part))]
        err = np.vstack([part["center_ms"] - part["low_ms"], part["high_ms"] - part["center_ms"]]).clip(0)
        ax.barh(range(len(part)), part["center_ms"], xerr=err, color=colors, capsize=3, height=0.6)
        for y, r in part.iterrows():
            ax.text(r["high_ms"], y, f" {r['ratio']:.3g}x", va="center", fontsize=8)
        ax.set_yticks(range(len(part)), part["setting"])
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_xlim(0, part["high_ms"].max() * 1.3)
        ax.set_xlabel("ftax median (ms)")
        ax.set_title(factor, fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(title, fontsize=11)
    return fig


CUDA_TIMINGS = {"sync_wall_ms": "synchronized wall (ftax)", "cuda_events_ms": "CUDA events",
                "pipelined_ms": "pipelined (back to back)", "no_sync_ms": "no synchronization"}


def validation_cuda_sync(cuda: pd.DataFrame, title: str = "",
                         missing: str = "This section needs a CUDA device: nothing to show on a CPU.") -> Figure:
    """Median per-call time of one model under four ways of timing it, one panel per batch size (linear
    from zero, so a bar's length compares: the unsynchronized one shows how much a clock read misses)."""
    if cuda is None or cuda.empty:
        return empty_figure(title, missing)
    fig, axes = panels(list(cuda["batch_size"]), width=4.2, height=2.2)
    for ax, (_, r) in zip(axes, cuda.iterrows()):
        values = [r[k] for k in CUDA_TIMINGS]
        ax.barh(range(len(values)), values, color=OTHER_COLORS[: len(values)], height=0.6)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3g} ms", va="center", fontsize=8)
        ax.set_yticks(range(len(values)), list(CUDA_TIMINGS.values()))
        ax.set_ylim(len(values) - 0.5, -0.5)
        ax.set_xlim(0, max(values) * 1.35)
        ax.set_xlabel("median time per call (ms)")
        ax.set_title(f"batch size {r['batch_size']:g}", fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    fig.suptitle(title, fontsize=11)
    return fig
