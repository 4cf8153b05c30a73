"""Interactive figures that the reader's browser draws: Vega-Lite specs built with Altair.

Why Vega-Lite: a chart is one JSON spec that carries its own data, so a hosted page needs no kernel
and no server; its controls (a menu of models, checkboxes of runtimes) are Vega-Lite params bound to
HTML inputs that filter that data in the browser; and the JavaScript that draws it (Vega, Vega-Lite,
vega-embed with its tooltips) comes from `vl-convert-python`, a PyPI wheel, as one self-contained
bundle that `ftax.book.sphinx_pages` writes once per site. Nothing is fetched when a page is viewed.

`Interactive` pairs a chart with the book's matplotlib figure of the same rows. Its mimebundle holds
the spec (JupyterLab draws it natively), an HTML placeholder (the book's page, where the bundle's
`RENDERER_JS` finds and draws it; the figure's PNG inside `<noscript>` for a reader without
JavaScript) and the figure's PNG (PDF, and any viewer that does not take the HTML). Every point's
tooltip shows its record: the config, the estimate with its between-round interval, the rounds, the
machine and the torch version.
"""
from __future__ import annotations

import base64
import functools
import html
import io
import json
from dataclasses import dataclass
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ftax.read.estimates import curve_keys
from ftax.figures.plot_style import AXIS_LABELS, backend_order, color_for
from ftax.read.text import sig

VEGALITE_MIME = f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.lstrip('v').split('.')[0]}+json"
HEIGHT_PX = 260
HINT = ("On the hosted page the figure is interactive: hover a point for its record (config, estimate and "
        "interval, rounds, machine, torch version){menu}.")

# Drawn by every page that holds a chart: each `div.ftax-chart` gets its spec embedded, and its view is kept
# in `window.ftaxCharts[name]` (what the browser test reads, with `ftaxMarks`: the data of the drawn points).
RENDERER_JS = """
window.vegaEmbed = vegaEmbed;
window.vega = vega;
window.ftaxCharts = {};
const ftaxStyle = document.createElement("style");
ftaxStyle.textContent = `
  div.ftax-chart { width: 100%; margin: 0.5em 0; }
  div.ftax-chart .vega-embed { width: 100%; display: block; }
  div.ftax-chart .vega-bindings { display: flex; flex-wrap: wrap; gap: 0.2em 1.2em; font-size: 0.85em; }
  div.ftax-chart .vega-bind select { max-width: 16em; }
  div.ftax-chart .vega-bind-radio label { margin-right: 0.8em; }
  div.ftax-chart .vega-bind-radio input { margin-right: 0.25em; }
`;
document.head.appendChild(ftaxStyle);
window.ftaxMarks = function (name) {
  const found = [];
  const walk = (node) => {
    if (!node) return;
    if (node.marktype === "symbol" && node.role === "mark") node.items.forEach((item) => found.push(item.datum));
    (node.items || []).forEach(walk);
  };
  walk(window.ftaxCharts[name].scenegraph().root);
  return found;
};
async function ftaxRender() {
  for (const box of document.querySelectorAll("div.ftax-chart")) {
    const source = box.querySelector('script[type="application/json"]');
    if (!source || box.dataset.drawn) continue;
    box.dataset.drawn = "1";
    const target = document.createElement("div");
    box.appendChild(target);
    try {
      const result = await vegaEmbed(target, JSON.parse(source.textContent), {actions: false, renderer: "svg"});
      window.ftaxCharts[box.dataset.name] = result.view;
    } catch (error) {
      console.error("ftax chart " + box.dataset.name + ": " + error);
    }
  }
  window.ftaxChartsReady = true;
}
ftaxRender();
"""


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed (of the Vega-Lite version Altair writes) with `RENDERER_JS`: what a page
    loads once, from the site itself, to draw every chart on it. vl-convert writes an ES module without
    imports; it is wrapped in a function to load as a classic (deferred) script, because a browser refuses
    module scripts from `file://` pages, and its top-level names then stay out of the page's global scope."""
    import vl_convert

    version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return "(function () {\n" + vl_convert.javascript_bundle(RENDERER_JS, vl_version=version) + "\n})();\n"


@dataclass(frozen=True, eq=False)
class Interactive:
    """A chart and its static twin. `chart` is None where there is nothing to draw (then only the figure,
    which says so, is shown); `name` keys the chart on its page (`window.ftaxCharts[name]`)."""

    chart: alt.TopLevelMixin | None
    figure: Figure
    name: str

    def spec(self) -> dict:
        return self.chart.to_dict() if self.chart is not None else {}

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100)
        png = base64.b64encode(buffer.getvalue()).decode()
        bundle = {"image/png": png, "text/plain": f"<{self.name}>"}
        if self.chart is not None:
            spec = self.spec()
            payload = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
            bundle[VEGALITE_MIME] = spec
            bundle["text/html"] = (
                f'<div class="ftax-chart" data-name="{html.escape(self.name)}">'
                f'<script type="application/json">{payload}</script>'
                f'<noscript><img src="data:image/png;base64,{png}" alt="{html.escape(self.name)} (static figure)" '
                f'style="max-width:100%"></noscript></div>')
        return bundle


def variant_label(overrides: str) -> str:
    """'default' for a model's own config, else its overrides: 'depth=4 width=256'."""
    values = json.loads(overrides or "{}")
    return " ".join(f"{k}={v}" for k, v in sorted(values.items())) or "default"


def estimate_text(value: float, low: float, high: float, unit: str = "") -> str:
    """'12.3 ms [11.9, 12.8]', or '12.3 ms (no interval)' where one round gives none."""
    interval = f"[{sig(low)}, {sig(high)}]" if np.isfinite(low) and np.isfinite(high) else "(no interval)"
    return f"{sig(value)}{unit} {interval}"


def _colors(column: str, values: Sequence) -> alt.Scale:
    """The book's colors (`ftax.figures.plot_style.color_for`): fixed per backend and dtype, else tab10 by rank."""
    values = backend_order(values) if column == "backend" else sorted(set(values), key=str)
    return alt.Scale(domain=list(values), range=[to_hex(color_for(column, v, values)) for v in values])


def _tooltip(extra: Sequence[tuple[str, str]] = ()) -> list[alt.Tooltip]:
    fields = [("config", "config"), *extra, ("estimate", "estimate"), ("rounds", "rounds"),
              ("machine_label", "machine"), ("torch", "torch")]
    return [alt.Tooltip(f"{field}:N" if field != "rounds" else "rounds:Q", title=title) for field, title in fields]


def _records(rows: pd.DataFrame, value: str, low: str, high: str, unit: str) -> pd.DataFrame:
    """`rows` with the tooltip's columns: config, estimate (with its interval), rounds, machine, torch."""
    def config(r) -> str:
        over = "" if r.get("overrides", "{}") in ("{}", None) else f" ({variant_label(r['overrides'])})"
        return f"{r['model']}{over} {r['backend']} {r['dtype']}, batch {r['batch_size']}, seq {r['seq_len']}"

    rows = rows.reset_index(drop=True)
    lows = pd.to_numeric(rows[low], errors="coerce") if low in rows else pd.Series(np.nan, index=rows.index)
    highs = pd.to_numeric(rows[high], errors="coerce") if high in rows else pd.Series(np.nan, index=rows.index)
    return rows.assign(
        config=[config(r) for _, r in rows.iterrows()],
        estimate=[estimate_text(v, lo, hi, unit) for v, lo, hi in zip(rows[value], lows, highs)],
        rounds=rows["rounds"].astype(int) if "rounds" in rows else 1,
        torch=rows["env_torch_version"].astype(str) if "env_torch_version" in rows else "n/a",
        low=lows, high=highs, value=pd.to_numeric(rows[value], errors="coerce"))


def _plain(frame: pd.DataFrame, columns: Sequence[str]) -> alt.Data:
    """Only `columns`, as inline values with NaN as None (null), so the spec is strict JSON."""
    def value(v):
        if isinstance(v, (float, np.floating)):
            return float(v) if np.isfinite(v) else None
        return v.item() if isinstance(v, np.generic) else v

    names = list(dict.fromkeys(columns))
    return alt.Data(values=[{c: value(v) for c, v in zip(names, row)} for row in frame[names].itertuples(index=False)])


def _lines(title: str) -> alt.TitleParams:
    """A title in two lines at its first ': ' ("Latency per runtime" / "AMD EPYC x2 (CPU), profile quick"), so it
    fits a phone's width."""
    return alt.TitleParams(text=title.split(": ", 1) if title else "", fontSize=13)


def _styled(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The book's type sizes: labels that stay readable when the chart shrinks to a phone's width."""
    return (chart.configure_axis(labelFontSize=11, titleFontSize=12)
            .configure_legend(labelFontSize=11, titleFontSize=12, symbolSize=80))


def latency_chart(rows: pd.DataFrame, x: str, color: str, panel: str | None = None, dash: str | None = None,
                  title: str = "") -> alt.TopLevelMixin | None:
    """Latency (log ms) against `x` (log2), one line per curve (`ftax.read.estimates.curve_columns`: rows that differ
    in anything but `x` never share a line), colored by `color` and dashed by `dash`, its interval as error bars;
    a menu picks the `panel` value (what the static figure draws as one panel each), so the chart keeps one plot
    that fits a phone's width. None without ok rows."""
    ok = rows[(rows["status"] == "ok") & rows["estimate_ms"].notna() & rows[x].notna()] if not rows.empty else rows
    if ok.empty:
        return None
    ok = ok.assign(curve=_curve_ids(ok, x))
    data = _records(ok, "estimate_ms", "low_ms", "high_ms", " ms")
    dash = dash if dash and data[dash].nunique() > 1 else None
    keep = ["config", "estimate", "rounds", "machine_label", "torch", "value", "low", "high", "curve", x, color, panel,
            dash]
    base = alt.Chart(_plain(data, [c for c in keep if c])).encode(
        x=alt.X(f"{x}:Q", scale=alt.Scale(type="log", base=2), title=AXIS_LABELS.get(x, x),
                axis=alt.Axis(values=sorted(int(v) for v in data[x].unique()), format="d")),
        y=alt.Y("value:Q", scale=alt.Scale(type="log", nice=False), title=AXIS_LABELS["estimate_ms"]),
        color=alt.Color(f"{color}:N", scale=_colors(color, data[color].unique()),
                        title=AXIS_LABELS.get(color, color), legend=alt.Legend(orient="bottom")))
    line = base.mark_line(strokeWidth=1.5).encode(detail="curve:N")
    if dash:
        line = line.encode(strokeDash=alt.StrokeDash(f"{dash}:N", legend=alt.Legend(orient="bottom")))
    bars = base.mark_rule(strokeWidth=1.2).encode(y="low:Q", y2="high:Q")
    points = base.mark_point(filled=True, size=40).encode(tooltip=_tooltip())
    chart = alt.layer(line, bars, points)
    if panel and data[panel].nunique() > 0:
        choice = alt.param(name="panel", value=sorted(data[panel].unique())[0], bind=alt.binding_select(
            options=sorted(data[panel].unique()), name=f"{AXIS_LABELS.get(panel, panel)} "))
        chart = chart.add_params(choice).transform_filter(f"datum['{panel}'] == panel")
    return _styled(chart.properties(width="container", height=HEIGHT_PX, title=_lines(title)))


def heatmap_chart(rows: pd.DataFrame, row: str = "depth", col: str = "width", panel: str = "batch_size",
                  title: str = "") -> alt.TopLevelMixin | None:
    """Latency over `row` x `col` (ms, colored on a log scale, printed in each cell); a menu picks `panel`."""
    ok = rows[(rows["status"] == "ok") & rows["estimate_ms"].notna()] if not rows.empty else rows
    if ok.empty:
        return None
    data = _records(ok, "estimate_ms", "low_ms", "high_ms", " ms")
    data = data.assign(label=[sig(v) for v in data["value"]])
    keep = ["config", "estimate", "rounds", "machine_label", "torch", "value", "label", row, col, panel]
    base = alt.Chart(_plain(data, keep)).encode(x=alt.X(f"{col}:O", title=AXIS_LABELS.get(col, col)),
                                                y=alt.Y(f"{row}:O", title=AXIS_LABELS.get(row, row), sort="descending"))
    cells = base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(type="log", scheme="viridis"),
                                                    title="ms", legend=alt.Legend(orient="bottom")),
                                    tooltip=_tooltip())
    text = base.mark_text(fontSize=10, color="white").encode(text="label:N")
    choice = alt.param(name="panel", value=int(sorted(data[panel].unique())[0]), bind=alt.binding_select(
        options=[int(v) for v in sorted(data[panel].unique())], name=f"{AXIS_LABELS.get(panel, panel)} "))
    return _styled(alt.layer(cells, text).add_params(choice).transform_filter(f"datum['{panel}'] == panel")
                   .properties(width="container", height=HEIGHT_PX, title=_lines(title)))


def hint(menu: str | None = None) -> str:
    """The caption's last sentence: what the interactive twin adds."""
    return HINT.format(menu=f"; the menu under it picks the {menu}" if menu else "")


def _at_values(latency: pd.DataFrame) -> dict[tuple, int]:
    """Per (model, overrides, dtype) and x axis, the other axis's most measured value (the smallest of a tie):
    the shape a curve is drawn at, as the explorer's selection (`ftax.pages.explorer_selection.resolve`) picks it."""
    at = {}
    for key, group in latency.groupby(["model", "overrides", "dtype"]):
        for axis, other in (("batch_size", "seq_len"), ("seq_len", "batch_size")):
            counts = group[other].value_counts()
            at[(*key, axis)] = int(sorted(counts[counts == counts.max()].index)[0])
    return at


METRICS = {"latency": ("estimate_ms", "low_ms", "high_ms", " ms"),
           "speedup over eager": ("speedup", "speedup_low", "speedup_high", "x"),
           "overhead share": ("decomposition_overhead_share", "", "", ""),
           "memory": ("memory_peak_mib", "", "", " MiB")}
ONE_VISIT = {"overhead share", "memory"}  # taken on one visit per config (round 0): no interval, one round
MEMORY_TITLE = "peak memory above baseline (MiB, one visit)"
# Vega-Lite axis titles cannot follow a param, so the chart's title names both axes.
TITLE_EXPR = ("[model + ' ' + dtype + ', ' + machine, (metric == 'latency' ? 'latency (ms, median)' : "
              f"metric == 'memory' ? '{MEMORY_TITLE}' : metric) "
              "+ ' vs ' + (xaxis == 'batch_size' ? 'batch size' : 'sequence length')]")


def with_memory_mib(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with `memory_peak_mib`: the peak above the baseline (`memory_peak_bytes`) in MiB, NaN where a
    record carries no memory (records made before ftax took it, or a machine where it is unavailable)."""
    peak = pd.to_numeric(rows["memory_peak_bytes"], errors="coerce") if "memory_peak_bytes" in rows else np.nan
    return rows.assign(memory_peak_mib=peak / 2 ** 20)


def _curve_ids(rows: pd.DataFrame, x: str) -> list[str]:
    """Each row's curve along `x` (`ftax.read.estimates.curve_keys`) as one string, what a chart's line is drawn per."""
    return [repr(t) for t in rows[curve_keys(rows, x)].astype(str).itertuples(index=False, name=None)]


def explorer_data(latency: pd.DataFrame, speedups: pd.DataFrame) -> pd.DataFrame:
    """The explorer's long table: one row per config, x axis and metric (latency, speedup over eager, overhead
    share, memory) at the shape each curve is drawn at; `latency` holds ok rows of `ftax.read.estimates.per_config`,
    `speedups` those of `ftax.read.analysis.speedups`. The overhead share (one profiled visit per config) and memory
    (the peak above the baseline, taken on one visit) have no interval and count one round; a row without the
    metric's value (no memory recorded, say), or with a value the log axis cannot draw (0), is left out of it."""
    if latency.empty:
        return pd.DataFrame()
    latency = with_memory_mib(latency)
    at = _at_values(latency)
    parts = []
    for metric, (value, low, high, unit) in METRICS.items():
        source = speedups if metric.startswith("speedup") else latency
        if source is None or source.empty or value not in source:
            continue
        source = source.assign(overrides=source["overrides"].fillna("{}"))
        source = source[pd.to_numeric(source[value], errors="coerce") > 0]
        for axis, other in (("batch_size", "seq_len"), ("seq_len", "batch_size")):
            keys = zip(source["model"], source["overrides"], source["dtype"])
            shown = source[[at.get((*k, axis)) == o for k, o in zip(keys, source[other])]]
            if not shown.empty:
                records = _records(shown, value, low, high, unit)
                if metric in ONE_VISIT:
                    records = records.assign(rounds=1, estimate=[f"{sig(v)}{unit} (one visit: no interval)"
                                                                 for v in records["value"]])
                parts.append(records.assign(metric=metric, axis=axis, x=shown[axis].values,
                                            curve=_curve_ids(shown, axis)))
    frame = pd.concat(parts, ignore_index=True)
    over = frame["overrides"].map(lambda o: "" if o == "{}" else f" ({variant_label(o)})")
    return frame.assign(model_label=frame["model"] + over)


def explorer_chart(data: pd.DataFrame, model: str, dtype: str, machine: str, x: str) -> alt.TopLevelMixin | None:
    """The explorer in the browser: menus for the model (with its width x depth variants), precision and
    machine, radio buttons for the x axis and the metric, a checkbox per runtime; each control filters
    `explorer_data`'s rows. One machine at a time, as the widget explorer's panels never mix machines."""
    if data.empty:
        return None
    backends = backend_order(data["backend"].unique())
    params = [alt.param(name="model", value=model, bind=alt.binding_select(
                  options=sorted(data["model_label"].unique()), name="model ")),
              alt.param(name="dtype", value=dtype, bind=alt.binding_select(
                  options=sorted(data["dtype"].unique()), name="precision ")),
              alt.param(name="machine", value=machine, bind=alt.binding_select(
                  options=sorted(data["machine_label"].unique()), name="machine ")),
              alt.param(name="xaxis", value=x, bind=alt.binding_radio(
                  options=["batch_size", "seq_len"], labels=["batch size", "sequence length"], name="x axis ")),
              alt.param(name="metric", value="latency", bind=alt.binding_radio(options=list(METRICS), name="metric "))]
    shows = [alt.param(name=f"show_{i}", value=True, bind=alt.binding_checkbox(name=f"{b} "))
             for i, b in enumerate(backends)]
    runtime = " || ".join(f"(datum.backend == {json.dumps(b)} && show_{i})" for i, b in enumerate(backends))
    keep = ["config", "estimate", "rounds", "machine_label", "torch", "value", "low", "high", "x", "axis", "metric",
            "model_label", "dtype", "backend", "batch_size", "seq_len", "curve"]
    base = alt.Chart(_plain(data, keep)).encode(
        x=alt.X("x:Q", scale=alt.Scale(type="log", base=2), axis=alt.Axis(format="d"), title=None),
        y=alt.Y("value:Q", scale=alt.Scale(type="log", nice=False), title=None),
        color=alt.Color("backend:N", scale=_colors("backend", backends), title="runtime",
                        legend=alt.Legend(orient="bottom")))
    line = base.mark_line(strokeWidth=1.5).encode(detail="curve:N")
    bars = base.mark_rule(strokeWidth=1.2).encode(y="low:Q", y2="high:Q")
    points = base.mark_point(filled=True, size=40).encode(tooltip=_tooltip([("axis", "x axis")]))
    return _styled(alt.layer(line, bars, points).add_params(*params, *shows)
            .transform_filter("datum.model_label == model && datum.dtype == dtype && datum.machine_label == machine "
                              "&& datum.axis == xaxis && datum.metric == metric")
            .transform_filter(runtime)
            .properties(width="container", height=HEIGHT_PX + 40,
                        title={"text": {"expr": TITLE_EXPR}, "fontSize": 13}))

