"""The book's latency figures: one function per figure kind, matplotlib only, one style throughout.

Each latency figure takes config rows (`ftax.read.estimates.per_config`, one row per config; the
speedup and inflection figures take `ftax.read.analysis.speedups` and the regime fits), draws the
rows it is given with status ok, and returns a `matplotlib.figure.Figure` built without
pyplot (no global state, so a notebook shows it once, where the page asks). Empty input
gives a Figure that says what is missing instead of raising, so a page without, say, GPU
records still builds. Conventions (STYLE.md, drawn by `ftax.figures.plot_style`): batch size on a
log2 x-axis, latency in ms on a log y-axis with its interval as a band (`estimate_ms`,
`low_ms`, `high_ms`: a config's estimate and its between-round interval, NaN, so no band,
where it has one round), one color per
backend, regimes shaded where an inflection was fitted. Titles and captions (machine,
profile) are the caller's: the figure knows only the rows it draws. The profiler's
decomposition has its own figures in `ftax.figures.decomposition_plots`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ftax.read.estimates import curve_keys
from ftax.figures.plot_style import (AXIS_LABELS, BACKEND_COLORS, DTYPE_LINESTYLES, REGIME_COLORS, color_for, curve_label,
                             empty_figure, fit_for, groups_of, legend_below, log2_axis, log_latency_axis, log_ticks,
                             panels, plain_number, si_number, split_by)
from ftax.read.rows import ok_rows


def _fitted(fit: pd.Series) -> bool:
    """A usable fit: a knee was found, or the curve was long enough to say it never left the flat regime."""
    if bool(fit.get("reached")):
        return pd.notna(fit.get("inflection_batch"))
    return int(fit.get("n_batches") or 0) >= 3


def _shade_regimes(ax, fit: pd.Series, x_low: float, x_high: float, legend: dict) -> None:
    """Framework-bound up to the inflection (claim (a)'s rule: `ftax.read.analysis.framework_bound_regimes`),
    compute-bound after; all framework-bound if never left."""
    edge = float(fit["inflection_batch"]) if bool(fit.get("reached")) else x_high
    for name, (start, stop) in (("framework-bound", (x_low, edge)), ("compute-bound", (edge, x_high))):
        if stop > start:
            patch = ax.axvspan(start, stop, color=REGIME_COLORS[name], alpha=0.13, lw=0, zorder=0)
            legend.setdefault(f"{name} (claim (a))", patch)


def _latency_lines(frame: pd.DataFrame, x: str, hue: str, style: str | None, panel: str | None,
                   fits: pd.DataFrame | None, title: str, sharey: bool) -> Figure:
    rows = ok_rows(frame, x)
    if rows.empty:
        return empty_figure(title, f"No ok records to plot latency against {AXIS_LABELS.get(x, x)}.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], sharey=sharey)
    by = split_by(rows, [hue, style], curve_keys(rows, x), panel)
    varying = {c for c in by if rows[c].nunique(dropna=False) > 1} or {hue}
    hue_values = list(rows[hue].unique())
    legend: dict = {}
    regimes: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        longest = None
        for values, curve in part.groupby(by, sort=True, dropna=False):
            keys = dict(zip(by, values if isinstance(values, tuple) else (values,)))
            curve = curve.sort_values(x)
            color = color_for(hue, keys[hue], hue_values)
            line_style = DTYPE_LINESTYLES.get(keys.get(style), "-") if style == "dtype" else "-"
            label = curve_label(list(keys.items()), varying)
            (line,) = ax.plot(curve[x], curve["estimate_ms"], marker="o", ms=4, color=color, ls=line_style)
            if {"low_ms", "high_ms"} <= set(curve):
                ax.fill_between(curve[x], curve["low_ms"], curve["high_ms"], color=color, alpha=0.18, lw=0)
            legend.setdefault(label, line)
            fit = fit_for(fits, curve.iloc[0], x)
            if fit is not None and x == "batch_size" and _fitted(fit):
                if bool(fit.get("reached")):
                    ax.axvline(float(fit["inflection_batch"]), color=color, ls=":", lw=1.2)
                if longest is None or curve[x].nunique() > longest[0]:
                    longest = (curve[x].nunique(), fit)
        if longest is not None:
            _shade_regimes(ax, longest[1], float(part[x].min()), float(part[x].max()), regimes)
        log2_axis(ax, part[x].unique(), AXIS_LABELS.get(x, x))
        log_latency_axis(ax)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    legend_below(fig, {**legend, **regimes})
    fig.suptitle(title, fontsize=11)
    return fig


def latency_vs_batch(frame: pd.DataFrame, hue: str = "model", style: str | None = "dtype", panel: str | None = None,
                     fits: pd.DataFrame | None = None, title: str = "", sharey: bool = False) -> Figure:
    """Median latency vs batch size, one line per `hue` x `style` (paper Fig. 2 / Fig. 5 shape).

    `fits` (`ftax.read.analysis.with_regime` of `framework_bound_regimes`: claim (a)'s rule) marks each curve's
    inflection with a dotted line and shades the framework-bound and compute-bound regimes of each panel's
    longest such curve. Each line is one curve (`ftax.read.estimates.curve_columns`): rows that differ in anything
    but the batch size beyond `hue` and `style` are drawn as lines of their own, named in the legend.
    """
    return _latency_lines(frame, "batch_size", hue, style, panel, fits, title, sharey)


def latency_vs_seq(frame: pd.DataFrame, hue: str = "model", style: str | None = "dtype", panel: str | None = None,
                   title: str = "", sharey: bool = False) -> Figure:
    """Median latency vs sequence length at a fixed batch size (paper Fig. 3)."""
    return _latency_lines(frame, "seq_len", hue, style, panel, None, title, sharey)


def speedup_vs_batch(speedups: pd.DataFrame, hue: str = "backend", style: str | None = "dtype",
                     panel: str | None = None, baseline: str = "eager", title: str = "") -> Figure:
    """Speedup of each runtime over `baseline` vs batch size, one line per `hue` x `style`, with the
    ratio's interval (`speedup_low`..`speedup_high`, paired by round: `ftax.read.analysis.speedups`) as error
    bars, none where it is NaN (one round) (paper Fig. 4)."""
    rows = speedups[speedups["speedup"].notna()] if not speedups.empty and "speedup" in speedups else pd.DataFrame()
    rows = rows[rows[hue] != baseline] if not rows.empty else rows
    if rows.empty:
        return empty_figure(title, f"No speedups over {baseline} to plot: no runtime other than {baseline} "
                                   "measured ok at a batch size where it also did.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], sharey=True)
    drawn = [c for c in (hue, style) if c and c in rows]
    keys = split_by(rows, drawn, curve_keys(rows, "batch_size"), panel)
    varying = {c for c in keys if rows[c].nunique(dropna=False) > 1} or {hue}
    legend: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for values, curve in part.groupby(keys, sort=True, dropna=False):
            named = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
            curve = curve.sort_values("batch_size")
            color = color_for(hue, named[hue], rows[hue].unique())
            line_style = DTYPE_LINESTYLES.get(named.get(style), "-") if style == "dtype" else "-"
            err = None
            if {"speedup_low", "speedup_high"} <= set(curve):
                err = np.vstack([(curve["speedup"] - curve["speedup_low"]).clip(lower=0).fillna(0),
                                 (curve["speedup_high"] - curve["speedup"]).clip(lower=0).fillna(0)])
            line = ax.errorbar(curve["batch_size"], curve["speedup"], yerr=err, marker="o", ms=4, capsize=2,
                               color=color, ls=line_style)
            legend.setdefault(curve_label(list(named.items()), varying), line)
        legend.setdefault(f"{baseline} (1x)", ax.axhline(1.0, color=BACKEND_COLORS.get(baseline, "k"), ls="--", lw=1))
        log2_axis(ax, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}x"))
        ax.set_ylabel(f"speedup over {baseline} (median ratio)")
        ax.grid(True, alpha=0.3)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def latency_heatmap(frame: pd.DataFrame, row: str = "depth", col: str = "width", panel: str = "batch_size",
                    title: str = "") -> Figure:
    """Median latency over a `row` x `col` grid, one heatmap per `panel` value, each cell annotated in ms."""
    rows = ok_rows(frame, row, col)
    if rows.empty:
        return empty_figure(title, f"No ok records with both {row} and {col} set to draw the grid.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], width=4.6, height=3.8)
    for ax, (panel_value, part) in zip(axes, groups):
        grid = part.pivot_table(index=row, columns=col, values="estimate_ms", aggfunc="median").sort_index(
            ascending=False)
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="viridis", norm=LogNorm(np.nanmin(values), np.nanmax(values)), aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                dark = image.norm(value) > 0.6
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=8, color="k" if dark else "w")
        ax.set_xticks(range(grid.shape[1]), [plain_number(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [plain_number(v) for v in grid.index])
        ax.set_xlabel(AXIS_LABELS.get(col, col))
        ax.set_ylabel(AXIS_LABELS.get(row, row))
        ax.set_title(f"{AXIS_LABELS.get(panel, panel)} {panel_value}" if panel else "", fontsize=10)
        bar = fig.colorbar(image, ax=ax, label=AXIS_LABELS["estimate_ms"])
        log_ticks(bar.ax.yaxis)
    fig.suptitle(title, fontsize=11)
    return fig


def flops_vs_latency(frame: pd.DataFrame, hue: str = "depth", panel: str | None = "batch_size",
                     title: str = "") -> Figure:
    """Median latency vs FLOPs per forward; points of equal `hue` are joined in FLOPs order (paper Fig. 6)."""
    rows = ok_rows(frame, "flops", hue)
    if rows.empty:
        return empty_figure(title, f"No ok records with FLOPs and {hue} to plot.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], sharey=False)
    hue_values = sorted(rows[hue].unique())
    cmap = colormaps["viridis"]
    legend: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for value, curve in part.groupby(hue, sort=True):
            curve = curve.sort_values("flops")
            color = cmap(hue_values.index(value) / max(len(hue_values) - 1, 1))
            (line,) = ax.plot(curve["flops"], curve["estimate_ms"], marker="o", ms=5, color=color)
            legend.setdefault(f"{hue} {plain_number(value)}", line)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(si_number))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel(AXIS_LABELS["flops"])
        log_latency_axis(ax)
        if panel:
            ax.set_title(f"{AXIS_LABELS.get(panel, panel)} {panel_value}", fontsize=10)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def model_bars(frame: pd.DataFrame, baseline: str = "bert-base", panel: str | None = "batch_size",
               title: str = "") -> Figure:
    """Median latency per model as bars (interval as error bars, none where it is NaN), each labeled with its latency
    and its FLOPs relative to `baseline` when the baseline was measured in the same panel (paper Fig. 7); the latency
    ratio is the page's paired one, stated in its finding, not a ratio of these bars."""
    rows = ok_rows(frame)
    if rows.empty:
        return empty_figure(title, "No ok records to compare models.")
    groups = groups_of(rows, panel)
    fig, axes = panels([k for k, _ in groups], width=5.0, height=0.45 * rows["model"].nunique() + 1.4)
    for ax, (panel_value, part) in zip(axes, groups):
        part = part.sort_values("estimate_ms", ascending=False)
        base = part[part["model"] == baseline]
        low, high = part["low_ms"].fillna(part["estimate_ms"]), part["high_ms"].fillna(part["estimate_ms"])
        err = np.vstack([part["estimate_ms"] - low, high - part["estimate_ms"]]).clip(0)
        colors = [BACKEND_COLORS["eager"] if m == baseline else "#a8b5c8" for m in part["model"]]
        ax.barh(part["model"], part["estimate_ms"], xerr=err, color=colors, capsize=2)
        for y, (_, r) in enumerate(part.iterrows()):
            text = f" {r['estimate_ms']:.3g} ms"
            if (not base.empty and r["model"] != baseline and pd.notna(r.get("flops"))
                    and pd.notna(base["flops"].iloc[0]) and base["flops"].iloc[0]):
                text += f" ({r['flops'] / base['flops'].iloc[0]:.2g}x FLOPs)"
            ax.text(high[r.name], y, text, va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(low.min() / 2, part["estimate_ms"].max() * 12)
        log_latency_axis(ax, axis="x")
        if panel:
            ax.set_title(f"{AXIS_LABELS.get(panel, panel)} {panel_value}", fontsize=10)
    fig.suptitle(title, fontsize=11)
    return fig


def inflection_by_machine(fits: pd.DataFrame, hue: str = "model", title: str = "") -> Figure:
    """Fitted inflection batch per machine on a log2 axis, one marker per `hue` value, the fit's
    interval (`inflection_low`..`inflection_high`) as error bars where both ends are known (paper Fig. 8).

    A curve that never left the framework-bound regime is drawn as a hollow '>' at its largest
    measured batch (`max_batch`): its inflection lies beyond what was measured.
    """
    rows = fits if fits is not None and not fits.empty else pd.DataFrame()
    if not rows.empty:
        reached = rows["reached"].astype(bool)
        beyond = rows["max_batch"].notna() if "max_batch" in rows else pd.Series(False, index=rows.index)
        long_enough = rows["n_batches"] >= 3 if "n_batches" in rows else pd.Series(True, index=rows.index)
        rows = rows[(reached & rows["inflection_batch"].notna()) | (~reached & beyond & long_enough)]
    if rows.empty:
        return empty_figure(title, "No inflection fits to compare across machines.")
    machines = sorted(rows["machine_label"].unique())
    hues = sorted(rows[hue].unique(), key=str)
    fig = Figure(figsize=(8.0, 0.5 * len(machines) * len(hues) + 1.8), layout="constrained")
    ax = fig.subplots()
    step = 0.7 / len(hues)
    legend: dict = {}
    for k, value in enumerate(hues):
        color = color_for(hue, value, hues)
        for _, r in rows[rows[hue] == value].iterrows():
            y = machines.index(r["machine_label"]) + (k - (len(hues) - 1) / 2) * step
            if bool(r["reached"]):
                x = float(r["inflection_batch"])
                err = None
                if pd.notna(r.get("inflection_low")) and pd.notna(r.get("inflection_high")):
                    err = [[max(x - float(r["inflection_low"]), 0)], [max(float(r["inflection_high"]) - x, 0)]]
                handle = ax.errorbar([x], [y], xerr=err, marker="o", color=color, capsize=3, ls="none")
                ax.annotate(f"{x:.3g}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
            else:
                x = float(r["max_batch"])
                handle = ax.plot([x], [y], marker=">", mfc="none", color=color, ms=9, ls="none")[0]
                ax.annotate(f"> {x:g}", (x, y), textcoords="offset points", xytext=(8, 4), fontsize=8)
            legend.setdefault(str(value), handle)
    ax.set_yticks(range(len(machines)), machines)
    ax.set_ylim(-0.6, len(machines) - 0.4)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: plain_number(v)))
    ax.set_xlabel("inflection batch size (framework-bound below, compute-bound above)")
    ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig
