"""The interactive explorer: pick a model, runtimes, a precision and machines, and see their latency curves.

Two layers. The pure one maps a frame of configs (`load`: one row per config, its estimate over the rounds
and calibrated interval, `ftax.estimates.per_config`) and a `Selection` to
what the page shows: `resolve` repairs a wanted selection into one the records can draw
(only backends, dtypes, machines and shapes that have ok records for the model), `choices`
lists each control's options, `figure_for` draws with the book's own `ftax.plots` functions
(one panel per machine, one line per backend; regimes shaded by claim (a)'s rule,
`ftax.analysis.framework_bound_regimes` of the visits, and a two-segment fit of each curve's shape from
`ftax.analysis.inflections` drawn beside it as a fit that decides nothing) and `caption_for` says what is drawn. The widget layer, `Explorer`, only reads its controls into a
`Selection`, resolves it, writes the options back and shows `figure_for`'s figure as a PNG, so
every behaviour can be tested without a browser. Machines are never mixed in one panel.

The two layers stay in one module (about 450 lines): the widget is a thin shell over the pure
functions, and both describe the one page, 06-explorer.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ftax import analysis, interactive, memory_plots, plots, results
from ftax.estimates import newest_series, per_config
from ftax.findings import band_phrase, knee_phrases
from ftax.interactive import Interactive, variant_label
from ftax.memory_findings import ONE_VISIT, memory_coverage, memory_rows
from ftax.plot_style import backend_order, color_for, empty_figure
from ftax.rows import numbers, ok_rows
from ftax.text import join, plural

X_AXES = {"batch_size": "batch size", "seq_len": "sequence length"}
OTHER = {"batch_size": "seq_len", "seq_len": "batch_size"}
METRICS = {"latency": "latency", "memory": "peak memory above baseline"}
BUSY_LABEL = "busy (profiled, dashed); the gap above it is overhead"


@dataclass(frozen=True)
class Selection:
    """What the explorer shows. `at` fixes the other axis (the sequence length of batch curves,
    the batch size of sequence curves); `variant` is the record's overrides (width x depth grids)."""

    model: str
    backends: tuple[str, ...]
    dtype: str
    machines: tuple[str, ...]
    x: str = "batch_size"
    at: int | None = None
    variant: str = "{}"
    log_y: bool = True
    fit: bool = True
    decompose: bool = False
    metric: str = "latency"


@dataclass(frozen=True)
class Choices:
    """The options of every control for one model (and, for `ats`, its dtype, variant and x axis)."""

    models: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    ats: tuple[int, ...] = ()
    decomposable: bool = False
    metrics: tuple[str, ...] = ("latency",)


def find_results(results_dir: str | Path) -> Path:
    """`results_dir` as given if it exists or is absolute, else the first such folder above the cwd
    (a notebook opened from notebooks/ runs there, while the records live at the repository root)."""
    path = Path(results_dir)
    if path.is_absolute() or path.is_dir():
        return path
    for folder in Path.cwd().resolve().parents:
        if (folder / path).is_dir():
            return folder / path
    return path


def load_visits(results_dir: str | Path) -> pd.DataFrame:
    """Every visit in `results_dir` of each config's newest series (what speedups pair by round)."""
    visits = results.load(results_dir)
    return newest_series(visits) if not visits.empty else visits


def load(results_dir: str | Path) -> pd.DataFrame:
    """The explorer's frame: one row per config (its newest series) with its estimate over the rounds and
    the calibrated interval (`ftax.estimates.per_config` of every visit in `results_dir`)."""
    visits = load_visits(results_dir)
    return per_config(visits) if not visits.empty else visits


def ok_records(frame: pd.DataFrame, latency: str = "estimate_ms") -> pd.DataFrame:
    """Rows the explorer can draw: status ok, a finite `latency` (config rows' `estimate_ms`; visits' `median_ms`
    for claim (a)'s regimes) and a batch size and sequence length, of one forward call (a decoder's prefill and
    decode steps are other quantities, drawn on page 09: one curve must not mix them).

    A machine label shared by two machine ids (two hosts with the same CPU, say) gets the id
    appended, so that their records land in separate panels instead of one zigzag curve.
    """
    needed = {"status", latency, "model", "backend", "dtype", "machine_label"}
    if frame is None or frame.empty or not needed <= set(frame.columns):
        return pd.DataFrame()
    rows = ok_rows(frame, "batch_size", "seq_len", latency=latency)
    if "phase" in rows:
        rows = rows[rows["phase"].fillna("forward") == "forward"]
    overrides = rows["overrides"].fillna("{}") if "overrides" in rows else "{}"
    rows = rows.assign(overrides=overrides)
    if "machine_id" in rows and not rows.empty:
        shared = rows.groupby("machine_label")["machine_id"].transform("nunique") > 1
        rows.loc[shared, "machine_label"] = rows["machine_label"] + " [" + rows["machine_id"].astype(str) + "]"
    return rows


def _mode(values: pd.Series):
    """The most frequent value, the smallest of a tie."""
    counts = values.value_counts()
    return sorted(counts[counts == counts.max()].index)[0]


def _default_variant(rows: pd.DataFrame) -> str:
    """A model's own config if it was measured, else its most measured overrides."""
    return "{}" if (rows["overrides"] == "{}").any() else _mode(rows["overrides"])


def _richness(rows: pd.DataFrame) -> tuple[int, int, int, int]:
    """How much a model's default config has to show: its longest curve (points on either axis), then
    how many backends and machines measured it, then its number of records."""
    rows = rows[rows["overrides"] == _default_variant(rows)]
    curve = ["machine_label", "backend", "dtype"]
    points = max(rows.groupby(curve + [OTHER[axis]])[axis].nunique().max() for axis in X_AXES)
    return int(points), rows["backend"].nunique(), rows["machine_label"].nunique(), len(rows)


def choices(frame: pd.DataFrame, model: str | None, dtype: str | None = None, variant: str | None = None,
            x: str = "batch_size") -> Choices:
    """Each control's options: models with ok records; backends, dtypes, machines and variants
    that have ok records for `model`; values of the other axis for `model` in `dtype` and `variant`; memory as a
    metric where a record of `model` in `dtype` and `variant` carries it."""
    ok = ok_records(frame)
    if ok.empty:
        return Choices()
    models = tuple(sorted(ok["model"].unique()))
    mine = ok[ok["model"] == model]
    shaped = mine[(mine["dtype"] == dtype) & (mine["overrides"] == variant)]
    busy = numbers(shaped, "decomposition_busy_ms")
    return Choices(models=models, backends=tuple(backend_order(mine["backend"])),
                   dtypes=tuple(sorted(mine["dtype"].unique())), machines=tuple(sorted(mine["machine_label"].unique())),
                   variants=tuple(sorted(mine["overrides"].unique(), key=lambda v: (v != "{}", v))),
                   ats=tuple(sorted(int(v) for v in shaped[OTHER[x]].unique())),
                   decomposable=bool(np.isfinite(busy).any()),
                   metrics=("latency", "memory") if not memory_rows(shaped).empty else ("latency",))


def resolve(frame: pd.DataFrame, model: str | None = None, backends: tuple[str, ...] | None = None,
            dtype: str | None = None, machines: tuple[str, ...] | None = None, x: str | None = None,
            at: int | None = None, variant: str | None = None, log_y: bool = True, fit: bool = True,
            decompose: bool = False, metric: str | None = None) -> Selection | None:
    """The selection closest to what is asked that the records can draw; None without ok records.

    Anything missing or unavailable for the model falls back to a default: the model whose own
    config has the longest curve (then the most backends, machines and records), every backend and
    machine that measured it, fp32, its own config, the x axis with more points, and the other
    axis at its most measured value, latency where memory is asked for and no record carries it. An
    explicitly empty tuple of backends or machines is kept (the figure then says there is nothing to draw).
    """
    ok = ok_records(frame)
    if ok.empty:
        return None
    if model not in set(ok["model"]):
        model = min(sorted(ok["model"].unique()), key=lambda m: tuple(-v for v in _richness(ok[ok["model"] == m])))
    found = choices(ok, model)
    mine = ok[ok["model"] == model]
    backends = found.backends if backends is None or (backends and not set(backends) & set(found.backends)) \
        else tuple(b for b in found.backends if b in backends)
    machines = found.machines if machines is None or (machines and not set(machines) & set(found.machines)) \
        else tuple(m for m in found.machines if m in machines)
    dtype = dtype if dtype in found.dtypes else "fp32" if "fp32" in found.dtypes else found.dtypes[0]
    variant = variant if variant in found.variants else _default_variant(mine)
    shaped = mine[(mine["dtype"] == dtype) & (mine["overrides"] == variant)]
    if x not in X_AXES:
        points = {axis: shaped.groupby(OTHER[axis])[axis].nunique().max() for axis in X_AXES}
        x = "seq_len" if points["seq_len"] > points["batch_size"] else "batch_size"
    found = choices(ok, model, dtype, variant, x)
    if at not in found.ats:
        at = int(_mode(shaped[OTHER[x]])) if found.ats else None
    metric = metric if metric in found.metrics else "latency"
    return Selection(model, tuple(backends), dtype, tuple(machines), x, at, variant, bool(log_y), bool(fit),
                     bool(decompose) and found.decomposable and metric == "latency", metric)


def rows_for(frame: pd.DataFrame, selection: Selection, latency: str = "estimate_ms") -> pd.DataFrame:
    """The ok rows `selection` draws (config rows; visits with `latency="median_ms"`)."""
    ok = ok_records(frame, latency)
    if ok.empty:
        return ok
    s = selection
    keep = ((ok["model"] == s.model) & ok["backend"].isin(s.backends) & (ok["dtype"] == s.dtype)
            & ok["machine_label"].isin(s.machines) & (ok["overrides"] == s.variant))
    if s.at is not None:
        keep &= ok[OTHER[s.x]] == s.at
    return ok[keep].reset_index(drop=True)


def _at_phrase(selection: Selection) -> str:
    other = OTHER[selection.x]
    return f"{X_AXES[other]} {selection.at}" if selection.at is not None else ""


def _named(selection: Selection) -> str:
    """The model, with its overrides when it is not its own config: 'bert-base (depth=1 width=128)'."""
    return selection.model + ("" if selection.variant == "{}" else f" ({variant_label(selection.variant)})")


def title_for(selection: Selection) -> str:
    return (f"{_named(selection)} {selection.dtype}: {METRICS[selection.metric]} vs {X_AXES[selection.x]} at "
            f"{_at_phrase(selection)}")


FIT_LABEL = "two-segment fit (a shape; decides no regime)"


def regimes_for(visits: pd.DataFrame | None, selection: Selection) -> pd.DataFrame:
    """Claim (a)'s regimes (`ftax.analysis.framework_bound_regimes`) of the curves `selection` draws, from their
    visits (one row per visit, paired by round); with no visits, from `frame`'s rows, where one row per config
    pairs nothing and so decides no regime."""
    rows = rows_for(visits, selection, "median_ms") if visits is not None and not visits.empty else pd.DataFrame()
    return analysis.framework_bound_regimes(rows) if not rows.empty else pd.DataFrame()


def _draw_fits(axes: list, rows: pd.DataFrame) -> bool:
    """The two-segment fit of each curve (`ftax.analysis.inflections`), thin and dash-dotted in its backend's color:
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
    CPU; see `ftax.decompose`), and one legend entry for all of them."""
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


def png_output(fig: Figure, dpi: int = 100) -> dict:
    """`fig` as a Jupyter display_data output (PNG), for an Output widget's `outputs`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": repr(fig)}}


class Explorer:
    """ipywidgets controls over `figure_for`: each change resolves a `Selection`, refreshes the options
    of the dependent controls, and redraws. `selection` and `figure` hold what is shown; `show` turns
    the figure into the output widget's content (a PNG by default, about half a second per change)."""

    def __init__(self, frame: pd.DataFrame, selection: Selection | None = None,
                 show: Callable[[Figure], dict] | None = None, visits: pd.DataFrame | None = None):
        import ipywidgets as w

        self.frame = frame
        self.visits = visits
        self.selection = selection or resolve(frame)
        self.figure: Figure | None = None
        self.show = show or png_output
        layout = w.Layout(width="auto")
        self.controls = {
            "model": w.Dropdown(description="model"),
            "dtype": w.Dropdown(description="dtype"),
            "variant": w.Dropdown(description="config"),
            "backends": w.SelectMultiple(description="backends", layout=layout),
            "machines": w.SelectMultiple(description="machines", layout=w.Layout(width="auto", min_width="22em")),
            "x": w.ToggleButtons(options=[(label, key) for key, label in X_AXES.items()], description="x axis"),
            "at": w.Dropdown(description="at"),
            "log_y": w.Checkbox(description="log y axis", indent=False),
            "fit": w.Checkbox(description="two-segment fit", indent=False),
            "decompose": w.Checkbox(description="busy vs overhead", indent=False),
            "metric": w.ToggleButtons(options=[(label, key) for key, label in METRICS.items()], description="metric"),
        }
        self.output = w.Output()
        c = self.controls
        self.widget = w.VBox([w.HBox([c["model"], c["dtype"], c["variant"]]), w.HBox([c["backends"], c["machines"]]),
                              w.HBox([c["x"], c["metric"]]), w.HBox([c["at"], c["log_y"], c["fit"], c["decompose"]]),
                              self.output])
        self._syncing = False
        self._sync()
        self.render()
        for control in c.values():
            control.observe(self._changed, names="value")

    def _sync(self) -> None:
        """Write `selection` and its options into the controls (without triggering a redraw)."""
        s, c = self.selection, self.controls
        self._syncing = True
        try:
            if s is None:
                for control in c.values():
                    control.disabled = True
                return
            found = choices(self.frame, s.model, s.dtype, s.variant, s.x)
            c["model"].options, c["model"].value = found.models, s.model
            c["dtype"].options, c["dtype"].value = found.dtypes, s.dtype
            c["variant"].options = [(variant_label(v), v) for v in found.variants]
            c["variant"].value = s.variant
            c["backends"].options, c["backends"].value = found.backends, s.backends
            c["backends"].rows = max(2, min(len(found.backends), 6))
            c["machines"].options, c["machines"].value = found.machines, s.machines
            c["machines"].rows = max(2, min(len(found.machines), 6))
            c["x"].value = s.x
            c["at"].description = "seq len" if s.x == "batch_size" else "batch"
            c["at"].options, c["at"].value = found.ats, s.at
            c["log_y"].value, c["fit"].value, c["decompose"].value = s.log_y, s.fit, s.decompose
            c["metric"].options = [(METRICS[m], m) for m in found.metrics]
            c["metric"].value = s.metric
            c["fit"].disabled = s.x != "batch_size" or s.metric != "latency"
            c["decompose"].disabled = not found.decomposable or s.metric != "latency"
        finally:
            self._syncing = False

    def _changed(self, change) -> None:
        if self._syncing or self.selection is None:
            return
        wanted = {name: control.value for name, control in self.controls.items()}
        if change["owner"] is self.controls["model"]:  # what the last model narrowed, the new one reopens
            wanted.update(backends=None, machines=None, variant=None, at=None)
        if change["owner"] is self.controls["x"]:
            wanted["at"] = None
        self.selection = resolve(self.frame, **wanted)
        self._sync()
        self.render()

    def select(self, **changes) -> Selection | None:
        """Set controls by name (as a user would) and return the selection that results."""
        for name, value in changes.items():
            self.controls[name].value = value
        return self.selection

    def render(self) -> None:
        self.figure = figure_for(self.frame, self.selection, self.visits)
        self.output.outputs = (self.show(self.figure),)


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
    """The explorer for the hosted page and its caption: `ftax.interactive.explorer_chart` over every ok config in
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
