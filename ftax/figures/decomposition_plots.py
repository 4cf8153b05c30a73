"""Where the time goes: figures of the profiler's decomposition of a call into busy time and overhead.

Same conventions as `ftax.figures.plots` (`ftax.figures.plot_style`); each draws only `ftax.read.rows.decomposed`
rows, the rows the page's captions count, and says what is missing without them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter

from ftax.read.analysis import COMPUTE_BOUND_MAX_SHARE, FRAMEWORK_BOUND_MIN_SHARE
from ftax.read.estimates import curve_keys
from ftax.figures.plot_style import (AXIS_LABELS, REGIME_COLORS, backend_order, color_for, curve_label, empty_figure, fit_for,
                             groups_of, legend_below, log2_axis, panels, plain_number, split_by)
from ftax.read.rows import BUSY_METHODS, decomposed

CURVE_KEYS = ("model", "dtype", "seq_len")  # named in every panel title of the bars, varying or not
_CURVE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))
_GRAY = "#888888"


def _panels_by(rows: pd.DataFrame, panel: str | None, keys: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per panel: one per `panel` value and combination of `keys`, titled by what varies."""
    by = ([panel] if panel else []) + [k for k in keys if k in rows]
    varying = [c for c in by if rows[c].nunique(dropna=False) > 1] or by[:1]
    return [(" ".join(plain_number(v) if isinstance(v, float) else str(v) for c, v in zip(by, values)
                      if c in varying), part)
            for values, part in rows.groupby(by, sort=True, dropna=False)]


def busy_label(rows: pd.DataFrame) -> str:
    """What busy means in this figure; one legend label for all panels, naming each method present."""
    methods = sorted(set(rows.get("decomposition_method", pd.Series(dtype=object)).dropna()))
    named = [BUSY_METHODS[m].label if m in BUSY_METHODS else m for m in methods]
    return "busy: " + " or ".join(named) if named else "busy"


NOT_PROFILED = "No ok records with a profiled decomposition (measure with --decompose)."


def overhead_bars(frame: pd.DataFrame, panel: str | None = None, title: str = "",
                  missing: str = NOT_PROFILED) -> Figure:
    """Where one call's time goes: busy time (solid) and overhead (hatched) stacked per backend and batch size.

    Busy is the profiler's device-busy time on a GPU and the self time of aten compute kernels on
    a CPU; overhead is the paired median of wall - busy (`ftax.measure.decompose.summarize`), so a bar is as
    tall as the decomposition's wall time. A black tick marks the config's timed median latency,
    from the separate timing run, to show how well the profiled pairs represent it. One panel per
    `panel` value and model x dtype x sequence length; bars are grouped by batch size on a log2
    axis, one per backend. The latency axis is linear from zero: stacked lengths on a log axis
    would not add up. Without profiled rows the figure states `missing`.
    """
    rows = decomposed(frame)
    if rows.empty:
        return empty_figure(title, missing)
    sections = _panels_by(rows, panel, split_by(rows, CURVE_KEYS, curve_keys(rows, ("batch_size", "backend")), panel))
    fig, axes = panels([t for t, _ in sections])
    legend: dict = {}
    parts: dict = {}
    for ax, (name, part) in zip(axes, sections):
        batches = sorted(part["batch_size"].unique())
        gaps = np.diff(np.log2(np.asarray(batches, dtype=float)))
        group = 0.8 * (gaps.min() if gaps.size else 1.0)
        names = backend_order(part["backend"])
        step = group / len(names)
        for k, backend in enumerate(names):
            color = color_for("backend", backend, names)
            bars = part[part["backend"] == backend].groupby("batch_size")[
                ["decomposition_busy_ms", "decomposition_overhead_ms", "estimate_ms"]].median()
            left = bars.index.to_numpy(float) * 2.0 ** (-group / 2 + k * step)
            width = left * (2.0 ** step - 1.0)
            busy = ax.bar(left, bars["decomposition_busy_ms"], width, align="edge", color=color, edgecolor=color,
                          lw=0.6)
            ax.bar(left, bars["decomposition_overhead_ms"], width, bottom=bars["decomposition_busy_ms"], align="edge",
                   color=color, alpha=0.3, hatch="///", edgecolor=color, lw=0.6)
            tick = ax.hlines(bars["estimate_ms"], left, left + width, color="k", lw=1.6)
            legend.setdefault(str(backend), busy)
            parts.setdefault(busy_label(rows), Patch(facecolor=_GRAY, edgecolor=_GRAY))
            parts.setdefault("overhead: wall - busy", Patch(facecolor=(*to_rgb(_GRAY), 0.3), hatch="///",
                                                            edgecolor=_GRAY))
            parts.setdefault("timed median latency", tick)
        log2_axis(ax, batches, AXIS_LABELS["batch_size"])
        ax.set_xlim(batches[0] * 2.0 ** (-group / 2 - 0.3), batches[-1] * 2.0 ** (group / 2 + 0.3))
        ax.set_ylim(bottom=0)
        ax.set_ylabel("time per call (ms, median)")
        ax.grid(True, axis="y", alpha=0.3)
        if panel or len(sections) > 1:
            ax.set_title(name, fontsize=10)
    legend_below(fig, {**legend, **parts}, fit_width=True)
    fig.suptitle(title, fontsize=11)
    return fig


def overhead_share_vs_batch(frame: pd.DataFrame, panel: str | None = None, fits: pd.DataFrame | None = None,
                            title: str = "", missing: str = NOT_PROFILED) -> Figure:
    """Overhead share of wall time (%) vs batch size, one line per backend x model x dtype x sequence length.

    Bands mark the regimes `ftax.read.analysis.label_regimes` reads from the share (framework-bound at
    or above FRAMEWORK_BOUND_MIN_SHARE, compute-bound at or below COMPUTE_BOUND_MAX_SHARE), and
    `fits` (`ftax.read.analysis.with_regime` of `framework_bound_regimes`: claim (a)'s rule) adds each curve's
    latency inflection as a dotted line, so the profiler's view and the latency curve's can be compared.
    Each line is one curve (`ftax.read.estimates.curve_columns`). Without profiled rows the figure states
    `missing`.
    """
    rows = decomposed(frame)
    if rows.empty:
        return empty_figure(title, missing)
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], sharey=True)
    keys = split_by(rows, ["backend"], curve_keys(rows, "batch_size"), panel)
    varying = {c for c in keys if rows[c].nunique(dropna=False) > 1} or {"backend"}
    others = sorted({tuple(r) for r in rows[keys[1:]].itertuples(index=False)}, key=str)
    backends_seen = list(rows["backend"].unique())
    order = backend_order(backends_seen)
    legend: dict = {}
    bands = {f"framework-bound (overhead ≥ {FRAMEWORK_BOUND_MIN_SHARE:.0%})": (100 * FRAMEWORK_BOUND_MIN_SHARE, 100),
             f"compute-bound (overhead ≤ {COMPUTE_BOUND_MAX_SHARE:.0%})": (0, 100 * COMPUTE_BOUND_MAX_SHARE)}
    regimes: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for (label, (low, high)), color in zip(bands.items(), REGIME_COLORS.values()):
            regimes.setdefault(label, ax.axhspan(low, high, color=color, alpha=0.15, lw=0, zorder=0))
        curves = sorted(part.groupby(keys, sort=True, dropna=False),
                        key=lambda kv: order.index(kv[0][0] if isinstance(kv[0], tuple) else kv[0]))
        for values, curve in curves:
            values = values if isinstance(values, tuple) else (values,)
            named = dict(zip(keys, values))
            curve_rows = curve
            curve = curve.groupby("batch_size")[["decomposition_overhead_share"]].median().sort_index()
            color = color_for("backend", named["backend"], backends_seen)
            line_style, marker = _CURVE_STYLES[others.index(tuple(values[1:])) % len(_CURVE_STYLES)]
            (line,) = ax.plot(curve.index, 100 * curve["decomposition_overhead_share"], color=color, ls=line_style,
                              marker=marker, ms=4)
            legend.setdefault(curve_label(list(named.items()), varying), line)
            first = part.loc[curve_rows.index[0]]
            fit = fit_for(fits, first, "batch_size")
            if fit is not None and bool(fit.get("reached")) and pd.notna(fit.get("inflection_batch")):
                ax.axvline(float(fit["inflection_batch"]), color=color, ls=":", lw=1.2)
                regimes.setdefault("latency inflection (claim (a))", Line2D([], [], color=_GRAY, ls=":", lw=1.2))
        log2_axis(ax, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        ax.set_ylim(-4, 104)
        ax.yaxis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.set_ylabel("overhead share of wall time")
        ax.grid(True, alpha=0.3)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    legend_below(fig, {**legend, **regimes}, fit_width=True)
    fig.suptitle(title, fontsize=11)
    return fig
