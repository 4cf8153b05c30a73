"""The explorer's static view: the figure and caption of a selection, and the hosted page's opening view.

Pure functions of loaded records (`ftax.pages.explorer_selection`'s frame and a `Selection`); they never measure.
`figure_for` draws with the book's own `ftax.figures.plots` functions (one panel per machine, one line per backend;
regimes shaded by claim (a)'s rule, `ftax.read.analysis.framework_bound_regimes` of the visits, and a two-segment
fit of each curve's shape from `ftax.read.analysis.inflections` drawn beside it as a fit that decides nothing) and
`caption_for` says what is drawn, counted from the same rows. The static page and the widget
(`ftax.pages.explorer`) both show these, so what a reader sees with a kernel and without one is drawn by one code path.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ftax.figures import interactive, memory_plots, plots
from ftax.read import analysis
from ftax.pages.explorer_selection import METRICS, OTHER, X_AXES, Selection, load_visits, ok_records, resolve, rows_for
from ftax.read.findings import band_phrase, knee_phrases
from ftax.figures.interactive import Interactive, variant_label
from ftax.read.memory_findings import ONE_VISIT, memory_coverage, memory_rows
from ftax.figures.plot_style import color_for, empty_figure
from ftax.read.text import join, plural

BUSY_LABEL = "busy (profiled, dashed); the gap above it is overhead"
FIT_LABEL = "two-segment fit (a shape; decides no regime)"


def _at_phrase(selection: Selection) -> str:
    other = OTHER[selection.x]
    return f"{X_AXES[other]} {selection.at}" if selection.at is not None else ""


def _named(selection: Selection) -> str:
    """The model, with its overrides when it is not its own config: 'bert-base (depth=1 width=128)'."""
    return selection.model + ("" if selection.variant == "{}" else f" ({variant_label(selection.variant)})")


def title_for(selection: Selection) -> str:
    return (f"{_named(selection)} {selection.dtype}: {METRICS[selection.metric]} vs {X_AXES[selection.x]} at "
            f"{_at_phrase(selection)}")


def regimes_for(visits: pd.DataFrame | None, selection: Selection) -> pd.DataFrame:
    """Claim (a)'s regimes (`ftax.read.analysis.framework_bound_regimes`) of the curves `selection` draws, from their
    visits (one row per visit, paired by round); with no visits, from `frame`'s rows, where one row per config
    pairs nothing and so decides no regime."""
    rows = rows_for(visits, selection, "median_ms") if visits is not None and not visits.empty else pd.DataFrame()
    return analysis.framework_bound_regimes(rows) if not rows.empty else pd.DataFrame()


def _draw_fits(axes: list, rows: pd.DataFrame) -> bool:
    """The two-segment fit of each curve (`ftax.read.analysis.inflections`), thin and dash-dotted in its backend's color:
    a description of the curve's shape beside claim (a)'s regimes, never a regime of its own."""
    fits = analysis.inflections(rows)
    drawn = False
    for ax in axes:
        for fit in fits[fits["machine_label"] == ax.get_title()].itertuples():
            batches = np.sort(rows[(rows["machine_label"] == fit.machine_label)
                                   & (rows["backend"] == fit.backend)]["batch_size"].unique().astype(float))
            if fit.n_batches < 3 or not len(batches):
                continue
            slope = fit.slope_ms_per_item if pd.notna(fit.slope_ms_per_item) else 0.0
            ax.plot(batches, np.maximum(fit.flat_ms, slope * batches), ls="-.", lw=0.9, alpha=0.7,
                    color=color_for("backend", fit.backend, rows["backend"].unique()))
            drawn = True
    return drawn


def _add_legend(fig: Figure, handle, label: str) -> None:
    """Append one entry to the figure's legend (below the panels)."""
    old = fig.legends[0] if fig.legends else None
    handles = list(old.legend_handles) if old else []
    labels = [t.get_text() for t in old.get_texts()] if old else []
    if old:
        old.remove()
    fig.legend(handles + [handle], labels + [label], loc="outside lower center", fontsize=9,
               ncols=min(len(labels) + 1, 3), frameon=False)


def figure_for(frame: pd.DataFrame, selection: Selection | None, visits: pd.DataFrame | None = None) -> Figure:
    """The explorer's figure: `plots.latency_vs_batch` or `plots.latency_vs_seq`, one panel per machine, one line
    per backend; on a batch axis the regimes of claim (a)'s rule (`regimes_for` the `visits`: shaded, the
    inflection dotted) and, if asked, each curve's two-segment fit (thin dash-dotted, labelled as a fit that decides
    nothing); then the y scale and, if asked, the busy time. The memory metric draws `memory_plots.memory_vs`
    the same way (no fit, no busy time: one visit per config)."""
    if selection is None:
        return empty_figure("", "No ok records to explore yet: run a sweep or point results_dir at one.")
    rows = rows_for(frame, selection)
    title = title_for(selection)
    if selection.metric == "memory":
        fig = memory_plots.memory_vs(rows, x=selection.x, style=None, panel="machine_label", title=title, sharey=True)
    elif selection.x == "batch_size":
        regimes = analysis.with_regime(regimes_for(visits, selection))
        fig = plots.latency_vs_batch(rows, hue="backend", style=None, panel="machine_label",
                                     fits=regimes if not regimes.empty else None, title=title, sharey=True)
    else:
        fig = plots.latency_vs_seq(rows, hue="backend", style=None, panel="machine_label", title=title, sharey=True)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
    if selection.metric == "latency" and selection.x == "batch_size" and selection.fit and axes and not rows.empty:
        if _draw_fits(axes, rows):
            _add_legend(fig, Line2D([], [], ls="-.", lw=0.9, color="#555555"), FIT_LABEL)
    if selection.decompose and axes:
        _draw_busy(fig, axes, rows, selection.x)
    if not selection.log_y:
        for ax in axes:
            ax.set_yscale("linear")
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(bottom=0)
    return fig


def _draw_busy(fig: Figure, axes: list, rows: pd.DataFrame, x: str) -> None:
    """Dashed busy-time line under each latency curve (busy = device kernels on a GPU, compute ops on a
    CPU; see `ftax.measure.decompose`), and one legend entry for all of them."""
    if "decomposition_busy_ms" not in rows:
        return
    busy = rows.assign(busy_ms=pd.to_numeric(rows["decomposition_busy_ms"], errors="coerce"))
    busy = busy[np.isfinite(busy["busy_ms"])]
    drawn = False
    for ax in axes:
        panel = busy[busy["machine_label"] == ax.get_title()]
        for backend, curve in panel.groupby("backend", sort=True):
            curve = curve.sort_values(x)
            ax.plot(curve[x], curve["busy_ms"], ls="--", marker="x", ms=4, lw=1.2,
                    color=color_for("backend", backend, rows["backend"].unique()))
            drawn = True
    if drawn:
        _add_legend(fig, Line2D([], [], ls="--", marker="x", color="#555555"), BUSY_LABEL)


def caption_for(frame: pd.DataFrame, selection: Selection | None, visits: pd.DataFrame | None = None) -> str:
    """Markdown: what the figure draws, counted from its rows (records, machines, backends), claim (a)'s regimes
    (from the `visits`) and the fits."""
    if selection is None:
        return "No ok records to explore yet."
    rows = rows_for(frame, selection)
    if rows.empty:
        return f"Nothing to draw for {title_for(selection)}: no backend or machine with ok records is selected."
    if selection.metric == "memory":
        return _memory_caption(rows, selection)
    machines = sorted(rows["machine_label"].unique())
    backends = sorted(rows["backend"].unique())  # the legend's order
    text = (f"Latency ({band_phrase(rows)}) of **{_named(selection)}** in {selection.dtype} against "
            f"{X_AXES[selection.x]} at {_at_phrase(selection)}, from {len(rows)} ok config"
            f"{'s' if len(rows) != 1 else ''}: {join(backends)} on {join([f'**{m}**' for m in machines])}"
            f"{' (one panel per machine)' if len(machines) > 1 else ''}.")
    if selection.x == "batch_size":
        regimes = regimes_for(visits, selection)
        flat = analysis.with_regime(regimes)
        knees = "; ".join(knee_phrases(regimes, ["machine_label", "backend"]))
        text += (f" Shaded, by claim (a)'s rule (the Then and now page), the one rule for a regime: framework-bound up "
                 f"to the inflection (dotted), compute-bound past it, where a curve has a framework-bound regime "
                 f"({len(flat)} of {len(regimes)}); per curve: {knees}." if len(regimes) else
                 " No regime is shaded: claim (a)'s rule needs batch 1 and 4 measured in rounds.")
    if selection.x == "batch_size" and selection.fit:
        fits = analysis.inflections(rows)
        fitted = fits[fits["n_batches"] >= 3]
        text += (f" Thin dash-dotted: a two-segment fit of each curve's shape ({plural(len(fitted), 'curve')}); it "
                 f"describes the shape and decides nothing: where a regime ends is claim (a)'s rule alone."
                 if len(fitted) else " No shape is fitted: a fit needs three or more batch sizes on a curve.")
    if selection.decompose:
        text += " Dashed: profiled busy time; the gap to the solid line is the framework's overhead."
    return text


def _memory_caption(rows: pd.DataFrame, selection: Selection) -> str:
    """What the memory figure draws: the rows with memory, and that each is one visit."""
    held = memory_rows(rows)
    machines = sorted(held["machine_label"].unique())
    return (f"Peak memory above the baseline taken before each runtime's preparation (MiB; {ONE_VISIT}) of "
            f"**{_named(selection)}** in {selection.dtype} against {X_AXES[selection.x]} at {_at_phrase(selection)}, "
            f"from {len(held)} of {plural(len(rows), 'ok config')} (those that carry memory): "
            f"{join(sorted(held['backend'].unique()), 'no runtime')} on "
            f"{join([f'**{m}**' for m in machines], 'no machine')}.")


def summary(frame: pd.DataFrame, results_dir: str | Path) -> str:
    """Markdown: how many configs (and records: visits) `results_dir` holds and from which machines."""
    if frame is None or frame.empty:
        return (f"No records in `{results_dir}` yet: nothing to explore. Measure with `ftax sweep` or "
                f"`ftax book`, or point `results_dir` at a folder of `*.jsonl` records.")
    ok = ok_records(frame)
    labels = sorted(frame["machine_label"].dropna().unique())
    visits = f" from {int(frame['visits'].sum())} records" if "visits" in frame else ""
    models = ok["model"].nunique() if not ok.empty else 0
    return (f"{len(frame)} configs{visits} in `{results_dir}` ({len(ok)} ok), {models} "
            f"models, from {plural(len(labels), 'machine')}: "
            f"{join([f'**{m}**' for m in labels])}.")



def default_view(frame: pd.DataFrame, results_dir: str | Path | None = None, profile: str | None = None,
                 visits: pd.DataFrame | None = None) -> tuple[Figure, str, Selection | None]:
    """The figure, caption and selection the explorer opens with (what a static page shows); the caption
    ends by naming the records' folder and the book's profile when they are given."""
    selection = resolve(frame)
    caption = caption_for(frame, selection, visits)
    if results_dir is not None:
        caption += f" Records from `{results_dir}`; profile `{profile}`."
    return figure_for(frame, selection, visits), caption, selection


def hosted_view(results_dir: str | Path, frame: pd.DataFrame, profile: str | None = None) -> tuple[Interactive, str]:
    """The explorer for the hosted page and its caption: `ftax.figures.interactive.explorer_chart` over every ok config in
    `results_dir` (latency, speedup over eager paired by round, overhead share, memory), opening on `resolve`'s
    selection, with the opening view drawn by `figure_for` (fit included) as its static twin."""
    visits = load_visits(results_dir)
    figure, caption, selection = default_view(frame, results_dir, profile, visits)
    ok = ok_records(frame)
    if selection is None or ok.empty:
        return Interactive(None, figure, "explorer"), caption
    data = interactive.explorer_data(ok, analysis.speedups(visits))
    chart = interactive.explorer_chart(data, _named(selection), selection.dtype, selection.machines[0], selection.x)
    opening = caption_for(frame, replace(selection, fit=False, machines=selection.machines[:1]), visits)
    return Interactive(chart, figure, "explorer"), (
        f"The opening view: {opening} Records from `{results_dir}`; profile `{profile}`. The controls under the chart "
        f"change it in your browser; the printed figure is this view with claim (a)'s regimes and the two-segment fit. "
        f"{memory_coverage(ok)}")
