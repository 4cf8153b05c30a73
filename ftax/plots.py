"""The book's figures: one function per figure kind, matplotlib only, one style throughout.

Each function takes a tidy frame (from `ftax.results.load` or `ftax.analysis`), draws the
rows it is given with status ok, and returns a `matplotlib.figure.Figure` built without
pyplot (no global state, so a notebook shows it once, where the page asks). Empty input
gives a Figure that says what is missing instead of raising, so a page without, say, GPU
records still builds. Conventions (STYLE.md): batch size on a log2 x-axis, median latency
in ms on a log y-axis with its 95% CI as a band, one color per backend (`BACKEND_COLORS`),
regimes shaded where an inflection was fitted. Titles and captions (machine, profile) are
the caller's: the figure knows only the rows it draws.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

BACKEND_COLORS = {
    "eager": "#1f77b4", "torchscript": "#ff7f0e", "compile": "#2ca02c",
    "compile-reduce-overhead": "#17becf", "cudagraph": "#d62728", "onnxruntime": "#9467bd",
}
DTYPE_COLORS = {"fp32": "#264653", "fp16": "#e76f51", "bf16": "#e9c46a"}
DTYPE_LINESTYLES = {"fp32": "-", "fp16": "--", "bf16": ":"}
REGIME_COLORS = {"framework-bound": "#8d99ae", "compute-bound": "#f4a261"}
AXIS_LABELS = {"batch_size": "batch size", "seq_len": "sequence length (tokens, pixels or frames)",
               "median_ms": "latency (ms, median)", "flops": "FLOPs per forward", "width": "width (hidden size)",
               "depth": "depth (layers)", "machine_label": "machine"}
_OTHER = colormaps["tab10"].colors


def color_for(column: str, value, values: Sequence = ()) -> str | tuple:
    """The book's color for `value` of `column`: fixed per backend and dtype, else tab10 by rank."""
    fixed = {"backend": BACKEND_COLORS, "dtype": DTYPE_COLORS}.get(column)
    if fixed is not None and value in fixed:
        return fixed[value]
    ranked = sorted(set(values) | {value}, key=str)
    return _OTHER[ranked.index(value) % len(_OTHER)]


def ok_rows(frame: pd.DataFrame, *needed: str) -> pd.DataFrame:
    """Rows that measured ok and have a finite median (and the `needed` columns filled)."""
    if frame is None or frame.empty or "status" not in frame:
        return pd.DataFrame()
    rows = frame[(frame["status"] == "ok") & np.isfinite(frame["median_ms"].astype(float))]
    for column in needed:
        rows = rows[rows[column].notna()] if column in rows else rows.iloc[0:0]
    return rows


def empty_figure(title: str, message: str) -> Figure:
    """A small figure that states what is missing (drawn where a figure would be)."""
    fig = Figure(figsize=(6.4, 1.8), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11, color="#555555")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _g(value: float) -> str:
    return f"{value:g}"


def _log2_axis(ax, values: Sequence[float], label: str, axis: str = "x") -> None:
    ticks = sorted({float(v) for v in values if v and v > 0})
    getattr(ax, f"set_{axis}scale")("log", base=2)
    which = ax.xaxis if axis == "x" else ax.yaxis
    which.set_major_locator(FixedLocator(ticks))
    which.set_major_formatter(FuncFormatter(lambda v, _: _g(v)))
    which.set_minor_locator(NullLocator())
    getattr(ax, f"set_{axis}label")(label)


def _log_ticks(axis) -> None:
    """Plain numbers on a log10 axis. Minor ticks are labeled too when the view spans few decades
    (at 2x and 5x under two decades, 2x to 8x under one); decided at draw time from the view."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: _g(v)))

    def minor(value: float, _) -> str:
        low, high = sorted(axis.get_view_interval())
        if value <= 0 or low <= 0:
            return ""
        decades = math.log10(high / low)
        mantissa = round(value / 10 ** math.floor(math.log10(value)), 6)
        shown = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0) if decades < 1 else (2.0, 5.0) if decades < 2 else ()
        return _g(float(f"{value:.2g}")) if mantissa in shown else ""

    axis.set_minor_formatter(FuncFormatter(minor))


def _si(value: float, _=None) -> str:
    """FLOPs with SI prefixes: 25M, 1.2G."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{prefix}"
    return f"{value:g}"


def _log_latency_axis(ax, label: str = AXIS_LABELS["median_ms"], axis: str = "y") -> None:
    """Latency in ms on a log10 axis with plain tick labels."""
    getattr(ax, f"set_{axis}scale")("log")
    _log_ticks(ax.yaxis if axis == "y" else ax.xaxis)
    getattr(ax, f"set_{axis}label")(label)
    ax.grid(True, which="major", axis=axis, alpha=0.3)


def _panels(values: Sequence, width: float = 4.2, height: float = 3.4, sharey: bool = False):
    ncols = min(len(values), 3)
    nrows = math.ceil(len(values) / ncols)
    fig = Figure(figsize=(width * ncols + 1.6, height * nrows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=sharey, squeeze=False).ravel())
    for ax in axes[len(values):]:
        ax.set_visible(False)
    return fig, axes[: len(values)]


def _legend(fig: Figure, entries: dict) -> None:
    """One legend for the whole figure, below the panels (a title above never collides with it)."""
    if entries:
        fig.legend(list(entries.values()), list(entries.keys()), loc="outside lower center", fontsize=9,
                   ncols=min(len(entries), 4), frameon=False)


def _groups(rows: pd.DataFrame, column: str | None) -> list[tuple[object, pd.DataFrame]]:
    if column is None:
        return [(None, rows)]
    return [(key, part) for key, part in rows.groupby(column, sort=True, dropna=False)]


def _label(parts: Sequence[tuple[str, object]], varying: set[str]) -> str:
    return " ".join(str(v) for c, v in parts if c in varying and v is not None) or "median"


def _fit_for(fits: pd.DataFrame | None, keys: dict) -> pd.Series | None:
    """The fitted inflection whose key columns equal this curve's (columns the fits lack are ignored)."""
    if fits is None or fits.empty:
        return None
    match = fits
    for column, value in keys.items():
        if column in match and value is not None:
            match = match[match[column] == value]
    return None if match.empty else match.iloc[0]


def _fitted(fit: pd.Series) -> bool:
    """A usable fit: a knee was found, or the curve was long enough to say it never left the flat regime."""
    if bool(fit.get("reached")):
        return pd.notna(fit.get("inflection_batch"))
    return int(fit.get("n_batches") or 0) >= 3


def _shade_regimes(ax, fit: pd.Series, x_low: float, x_high: float, legend: dict) -> None:
    """Framework-bound up to the fitted inflection, compute-bound after; all framework-bound if never left."""
    edge = float(fit["inflection_batch"]) if bool(fit.get("reached")) else x_high
    for name, (start, stop) in (("framework-bound", (x_low, edge)), ("compute-bound", (edge, x_high))):
        if stop > start:
            patch = ax.axvspan(start, stop, color=REGIME_COLORS[name], alpha=0.13, lw=0, zorder=0)
            legend.setdefault(f"{name} (fitted)", patch)


def _latency_lines(frame: pd.DataFrame, x: str, hue: str, style: str | None, panel: str | None,
                   fits: pd.DataFrame | None, title: str, sharey: bool) -> Figure:
    rows = ok_rows(frame, x)
    if rows.empty:
        return empty_figure(title, f"No ok records to plot latency against {AXIS_LABELS.get(x, x)}.")
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], sharey=sharey)
    varying = {c for c in (hue, style) if c and rows[c].nunique(dropna=False) > 1} or {hue}
    hue_values = list(rows[hue].unique())
    legend: dict = {}
    regimes: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        longest = None
        for curve_keys, curve in part.groupby([c for c in (hue, style) if c], sort=True, dropna=False):
            curve_keys = curve_keys if isinstance(curve_keys, tuple) else (curve_keys,)
            keys = dict(zip([c for c in (hue, style) if c], curve_keys))
            curve = curve.sort_values(x)
            color = color_for(hue, keys[hue], hue_values)
            line_style = DTYPE_LINESTYLES.get(keys.get(style), "-") if style == "dtype" else "-"
            label = _label(list(keys.items()), varying)
            (line,) = ax.plot(curve[x], curve["median_ms"], marker="o", ms=4, color=color, ls=line_style)
            if {"ci_low_ms", "ci_high_ms"} <= set(curve):
                ax.fill_between(curve[x], curve["ci_low_ms"], curve["ci_high_ms"], color=color, alpha=0.18, lw=0)
            legend.setdefault(label, line)
            fit = _fit_for(fits, {**keys, **({panel: panel_value} if panel else {}),
                                  **{c: curve[c].iloc[0] for c in ("seq_len", "machine_label") if c in curve}})
            if fit is not None and x == "batch_size" and _fitted(fit):
                if bool(fit.get("reached")):
                    ax.axvline(float(fit["inflection_batch"]), color=color, ls=":", lw=1.2)
                if longest is None or curve[x].nunique() > longest[0]:
                    longest = (curve[x].nunique(), fit)
        if longest is not None:
            _shade_regimes(ax, longest[1], float(part[x].min()), float(part[x].max()), regimes)
        _log2_axis(ax, part[x].unique(), AXIS_LABELS.get(x, x))
        _log_latency_axis(ax)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    _legend(fig, {**legend, **regimes})
    fig.suptitle(title, fontsize=11)
    return fig


def latency_vs_batch(frame: pd.DataFrame, hue: str = "model", style: str | None = "dtype", panel: str | None = None,
                     fits: pd.DataFrame | None = None, title: str = "", sharey: bool = False) -> Figure:
    """Median latency vs batch size, one line per `hue` x `style` (paper Fig. 2 / Fig. 5 shape).

    `fits` (from `ftax.analysis.inflections`) marks each curve's inflection with a dotted line and
    shades the framework-bound and compute-bound regimes of each panel's longest fitted curve (a
    curve of fewer than three batch sizes is not fitted, so it is drawn without regimes).
    """
    return _latency_lines(frame, "batch_size", hue, style, panel, fits, title, sharey)


def latency_vs_seq(frame: pd.DataFrame, hue: str = "model", style: str | None = "dtype", panel: str | None = None,
                   title: str = "", sharey: bool = False) -> Figure:
    """Median latency vs sequence length at a fixed batch size (paper Fig. 3)."""
    return _latency_lines(frame, "seq_len", hue, style, panel, None, title, sharey)


def speedup_vs_batch(speedups: pd.DataFrame, hue: str = "backend", style: str | None = "dtype",
                     panel: str | None = None, baseline: str = "eager", title: str = "") -> Figure:
    """Speedup of each runtime over `baseline` vs batch size, one line per `hue` x `style`, with the
    ratio's CI as error bars (paper Fig. 4)."""
    rows = speedups[speedups["speedup"].notna()] if not speedups.empty and "speedup" in speedups else pd.DataFrame()
    rows = rows[rows[hue] != baseline] if not rows.empty else rows
    if rows.empty:
        return empty_figure(title, f"No speedups over {baseline} to plot: no runtime other than {baseline} "
                                   "measured ok at a batch size where it also did.")
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], sharey=True)
    keys = [c for c in (hue, style) if c and c in rows]
    varying = {c for c in keys if rows[c].nunique() > 1} or {hue}
    legend: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for values, curve in part.groupby(keys, sort=True):
            named = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
            curve = curve.sort_values("batch_size")
            color = color_for(hue, named[hue], rows[hue].unique())
            line_style = DTYPE_LINESTYLES.get(named.get(style), "-") if style == "dtype" else "-"
            err = None
            if {"speedup_low", "speedup_high"} <= set(curve):
                err = np.vstack([(curve["speedup"] - curve["speedup_low"]).clip(lower=0),
                                 (curve["speedup_high"] - curve["speedup"]).clip(lower=0)])
            line = ax.errorbar(curve["batch_size"], curve["speedup"], yerr=err, marker="o", ms=4, capsize=2,
                               color=color, ls=line_style)
            legend.setdefault(_label(list(named.items()), varying), line)
        legend.setdefault(f"{baseline} (1x)", ax.axhline(1.0, color=BACKEND_COLORS.get(baseline, "k"), ls="--", lw=1))
        _log2_axis(ax, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}x"))
        ax.set_ylabel(f"speedup over {baseline} (median ratio)")
        ax.grid(True, alpha=0.3)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    _legend(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def latency_heatmap(frame: pd.DataFrame, row: str = "depth", col: str = "width", panel: str = "batch_size",
                    title: str = "") -> Figure:
    """Median latency over a `row` x `col` grid, one heatmap per `panel` value, each cell annotated in ms."""
    rows = ok_rows(frame, row, col)
    if rows.empty:
        return empty_figure(title, f"No ok records with both {row} and {col} set to draw the grid.")
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], width=4.6, height=3.8)
    for ax, (panel_value, part) in zip(axes, groups):
        grid = part.pivot_table(index=row, columns=col, values="median_ms", aggfunc="median").sort_index(
            ascending=False)
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(values, cmap="viridis", norm=LogNorm(np.nanmin(values), np.nanmax(values)), aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                dark = image.norm(value) > 0.6
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=8, color="k" if dark else "w")
        ax.set_xticks(range(grid.shape[1]), [_g(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [_g(v) for v in grid.index])
        ax.set_xlabel(AXIS_LABELS.get(col, col))
        ax.set_ylabel(AXIS_LABELS.get(row, row))
        ax.set_title(f"{AXIS_LABELS.get(panel, panel)} {panel_value}" if panel else "", fontsize=10)
        bar = fig.colorbar(image, ax=ax, label=AXIS_LABELS["median_ms"])
        _log_ticks(bar.ax.yaxis)
    fig.suptitle(title, fontsize=11)
    return fig


def flops_vs_latency(frame: pd.DataFrame, hue: str = "depth", panel: str | None = "batch_size",
                     title: str = "") -> Figure:
    """Median latency vs FLOPs per forward; points of equal `hue` are joined in FLOPs order (paper Fig. 6)."""
    rows = ok_rows(frame, "flops", hue)
    if rows.empty:
        return empty_figure(title, f"No ok records with FLOPs and {hue} to plot.")
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], sharey=False)
    hue_values = sorted(rows[hue].unique())
    cmap = colormaps["viridis"]
    legend: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for value, curve in part.groupby(hue, sort=True):
            curve = curve.sort_values("flops")
            color = cmap(hue_values.index(value) / max(len(hue_values) - 1, 1))
            (line,) = ax.plot(curve["flops"], curve["median_ms"], marker="o", ms=5, color=color)
            legend.setdefault(f"{hue} {_g(value)}", line)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(_si))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xlabel(AXIS_LABELS["flops"])
        _log_latency_axis(ax)
        if panel:
            ax.set_title(f"{AXIS_LABELS.get(panel, panel)} {panel_value}", fontsize=10)
    _legend(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


def model_bars(frame: pd.DataFrame, baseline: str = "bert-base", panel: str | None = "batch_size",
               title: str = "") -> Figure:
    """Median latency per model as bars (CI as error bars), each labeled with its latency and FLOPs
    relative to `baseline` when the baseline was measured in the same panel (paper Fig. 7)."""
    rows = ok_rows(frame)
    if rows.empty:
        return empty_figure(title, "No ok records to compare models.")
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], width=5.0, height=0.45 * rows["model"].nunique() + 1.4)
    for ax, (panel_value, part) in zip(axes, groups):
        part = part.sort_values("median_ms", ascending=False)
        base = part[part["model"] == baseline]
        err = np.vstack([part["median_ms"] - part["ci_low_ms"], part["ci_high_ms"] - part["median_ms"]]).clip(0)
        colors = [BACKEND_COLORS["eager"] if m == baseline else "#a8b5c8" for m in part["model"]]
        ax.barh(part["model"], part["median_ms"], xerr=err, color=colors, capsize=2)
        for y, (_, r) in enumerate(part.iterrows()):
            text = f" {r['median_ms']:.3g} ms"
            if not base.empty and r["model"] != baseline:
                text += f" ({r['median_ms'] / base['median_ms'].iloc[0]:.2g}x time"
                if pd.notna(r.get("flops")) and pd.notna(base["flops"].iloc[0]) and base["flops"].iloc[0]:
                    text += f", {r['flops'] / base['flops'].iloc[0]:.2g}x FLOPs"
                text += ")"
            ax.text(r["ci_high_ms"], y, text, va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(part["ci_low_ms"].min() / 2, part["median_ms"].max() * 12)
        _log_latency_axis(ax, axis="x")
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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _g(v)))
    ax.set_xlabel("inflection batch size (framework-bound below, compute-bound above)")
    ax.grid(True, axis="x", alpha=0.3)
    _legend(fig, legend)
    fig.suptitle(title, fontsize=11)
    return fig


# --- where the time goes: the profiled decomposition (`ftax.profile`) ----------------------

BUSY_LABELS = {"cuda-busy": "busy: device kernels and copies", "cpu-compute-ops": "busy: CPU compute-kernel self time"}
CURVE_KEYS = ("model", "dtype", "seq_len")
_CURVE_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))
_GRAY = "#888888"


def profiled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Ok rows that carry a decomposition (a busy time and an overhead share; not onnxruntime on a CPU)."""
    return ok_rows(frame, "profile_busy_ms", "profile_overhead_ms", "profile_overhead_share")


def _profile_panels(rows: pd.DataFrame, panel: str | None, keys: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per panel: one per `panel` value and combination of `keys`, titled by what varies."""
    by = ([panel] if panel else []) + [k for k in keys if k in rows]
    varying = [c for c in by if rows[c].nunique(dropna=False) > 1] or by[:1]
    return [(" ".join(_g(v) if isinstance(v, float) else str(v) for c, v in zip(by, values) if c in varying), part)
            for values, part in rows.groupby(by, sort=True, dropna=False)]


def _legend_below(fig: Figure, entries: dict) -> None:
    """`_legend` with as many columns as the figure's width holds (long labels in a narrow figure)."""
    if entries:
        ncols = max(1, min(len(entries), int(fig.get_figwidth() // 2.7)))
        fig.legend(list(entries.values()), list(entries.keys()), loc="outside lower center", fontsize=9,
                   ncols=ncols, frameon=False)


def _backend_rank(backend: str) -> tuple[int, str]:
    """Backends in the book's order (eager first, as in `BACKEND_COLORS`), unknown ones after, by name."""
    order = list(BACKEND_COLORS)
    return (order.index(backend) if backend in order else len(order), str(backend))


def _busy_label(rows: pd.DataFrame) -> str:
    """What busy means in this figure; one label for all panels, naming each method present."""
    methods = sorted(set(rows.get("profile_method", pd.Series(dtype=object)).dropna()))
    named = [BUSY_LABELS.get(m, m).removeprefix("busy: ") for m in methods]
    return "busy: " + " or ".join(named) if named else "busy"


NOT_PROFILED = "No ok records with a profiled decomposition (measure with --decompose)."


def overhead_bars(frame: pd.DataFrame, panel: str | None = None, title: str = "",
                  missing: str = NOT_PROFILED) -> Figure:
    """Where one call's time goes: busy time (solid) and overhead (hatched) stacked per backend and batch size.

    Busy is the profiler's device-busy time on a GPU and the self time of aten compute kernels on
    a CPU; overhead is the paired median of wall - busy (`ftax.profile.summarize`), so a bar is as
    tall as the decomposition's wall time. A black tick marks the config's timed median latency,
    from the separate timing run, to show how well the profiled pairs represent it. One panel per
    `panel` value and model x dtype x sequence length; bars are grouped by batch size on a log2
    axis, one per backend. The latency axis is linear from zero: stacked lengths on a log axis
    would not add up. Without profiled rows the figure states `missing`.
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    rows = profiled_rows(frame)
    if rows.empty:
        return empty_figure(title, missing)
    panels = _profile_panels(rows, panel, CURVE_KEYS)
    fig, axes = _panels([t for t, _ in panels])
    legend: dict = {}
    parts: dict = {}
    for ax, (name, part) in zip(axes, panels):
        batches = sorted(part["batch_size"].unique())
        gaps = np.diff(np.log2(np.asarray(batches, dtype=float)))
        group = 0.8 * (gaps.min() if gaps.size else 1.0)
        names = sorted(part["backend"].unique(), key=_backend_rank)
        step = group / len(names)
        for k, backend in enumerate(names):
            color = color_for("backend", backend, names)
            bars = part[part["backend"] == backend].groupby("batch_size")[
                ["profile_busy_ms", "profile_overhead_ms", "median_ms"]].median()
            left = bars.index.to_numpy(float) * 2.0 ** (-group / 2 + k * step)
            width = left * (2.0 ** step - 1.0)
            busy = ax.bar(left, bars["profile_busy_ms"], width, align="edge", color=color, edgecolor=color, lw=0.6)
            ax.bar(left, bars["profile_overhead_ms"], width, bottom=bars["profile_busy_ms"], align="edge",
                   color=color, alpha=0.3, hatch="///", edgecolor=color, lw=0.6)
            tick = ax.hlines(bars["median_ms"], left, left + width, color="k", lw=1.6)
            legend.setdefault(str(backend), busy)
            parts.setdefault(_busy_label(rows), Patch(facecolor=_GRAY, edgecolor=_GRAY))
            parts.setdefault("overhead: wall - busy", Patch(facecolor=(*to_rgb(_GRAY), 0.3), hatch="///",
                                                            edgecolor=_GRAY))
            parts.setdefault("timed median latency", tick)
        _log2_axis(ax, batches, AXIS_LABELS["batch_size"])
        ax.set_xlim(batches[0] * 2.0 ** (-group / 2 - 0.3), batches[-1] * 2.0 ** (group / 2 + 0.3))
        ax.set_ylim(bottom=0)
        ax.set_ylabel("time per call (ms, median)")
        ax.grid(True, axis="y", alpha=0.3)
        if panel or len(panels) > 1:
            ax.set_title(name, fontsize=10)
    _legend_below(fig, {**legend, **parts})
    fig.suptitle(title, fontsize=11)
    return fig


def overhead_share_vs_batch(frame: pd.DataFrame, panel: str | None = None, fits: pd.DataFrame | None = None,
                            title: str = "", missing: str = NOT_PROFILED) -> Figure:
    """Overhead share of wall time (%) vs batch size, one line per backend x model x dtype x sequence length.

    Bands mark the regimes `ftax.analysis.label_regimes` reads from the share (framework-bound at
    or above FRAMEWORK_BOUND_MIN_SHARE, compute-bound at or below COMPUTE_BOUND_MAX_SHARE), and
    `fits` (from `ftax.analysis.inflections`) adds each curve's fitted latency inflection as a
    dotted line, so the profiler's view and the latency curve's knee can be compared. Without
    profiled rows the figure states `missing`.
    """
    from matplotlib.lines import Line2D

    from ftax.analysis import COMPUTE_BOUND_MAX_SHARE, FRAMEWORK_BOUND_MIN_SHARE

    rows = profiled_rows(frame)
    if rows.empty:
        return empty_figure(title, missing)
    groups = _groups(rows, panel)
    fig, axes = _panels([k for k, _ in groups], sharey=True)
    keys = [k for k in ("backend",) + CURVE_KEYS if k in rows]
    varying = {c for c in keys if rows[c].nunique(dropna=False) > 1} or {"backend"}
    others = sorted({tuple(r) for r in rows[keys[1:]].itertuples(index=False)}, key=str)
    backends_seen = list(rows["backend"].unique())
    legend: dict = {}
    bands = {f"framework-bound (overhead ≥ {FRAMEWORK_BOUND_MIN_SHARE:.0%})": (100 * FRAMEWORK_BOUND_MIN_SHARE, 100),
             f"compute-bound (overhead ≤ {COMPUTE_BOUND_MAX_SHARE:.0%})": (0, 100 * COMPUTE_BOUND_MAX_SHARE)}
    regimes: dict = {}
    for ax, (panel_value, part) in zip(axes, groups):
        for (label, (low, high)), color in zip(bands.items(), REGIME_COLORS.values()):
            regimes.setdefault(label, ax.axhspan(low, high, color=color, alpha=0.15, lw=0, zorder=0))
        curves = sorted(part.groupby(keys, sort=True, dropna=False), key=lambda kv: _backend_rank(kv[0][0]))
        for values, curve in curves:
            named = dict(zip(keys, values))
            curve = curve.groupby("batch_size")[["profile_overhead_share"]].median().sort_index()
            color = color_for("backend", named["backend"], backends_seen)
            line_style, marker = _CURVE_STYLES[others.index(tuple(values[1:])) % len(_CURVE_STYLES)]
            (line,) = ax.plot(curve.index, 100 * curve["profile_overhead_share"], color=color, ls=line_style,
                              marker=marker, ms=4)
            legend.setdefault(_label(list(named.items()), varying), line)
            fit = _fit_for(fits, {**named, **({panel: panel_value} if panel else {})})
            if fit is not None and bool(fit.get("reached")) and pd.notna(fit.get("inflection_batch")):
                ax.axvline(float(fit["inflection_batch"]), color=color, ls=":", lw=1.2)
                regimes.setdefault("latency inflection (fitted)", Line2D([], [], color=_GRAY, ls=":", lw=1.2))
        _log2_axis(ax, part["batch_size"].unique(), AXIS_LABELS["batch_size"])
        ax.set_ylim(-4, 104)
        ax.yaxis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.set_ylabel("overhead share of wall time")
        ax.grid(True, alpha=0.3)
        if panel:
            ax.set_title(str(panel_value), fontsize=10)
    _legend_below(fig, {**legend, **regimes})
    fig.suptitle(title, fontsize=11)
    return fig


# --- appendix: ftax's timing against independent methods (`ftax.validation`) -------------------

