"""The ledger's figure: each runtime's wall time stacked as kernels and host, per model x batch, and its static twin.

The drawn rows come from `ftax.read.ledger.ledger` (parts `wall`, `kernels`, `host` per runtime). A runtime whose
split the profiler cannot see (ONNX Runtime on a CPU) is drawn as its wall time alone, grey and labelled "not split",
never as kernels and host. The browser's chart (Vega-Lite via Altair, as `ftax.figures.interactive`) has a menu for
the runtime (and one for the model, so that a small model's parts are legible); the matplotlib twin draws one panel
per runtime. Error bars: the wall time's between-round interval; every part's own interval is in the tooltip and in
the page's table.
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ftax.figures.interactive import HEIGHT_PX, estimate_text
from ftax.figures.plot_style import backend_order, empty_figure
from ftax.read.ledger import RUNTIME_NAMES

NOT_SPLIT = "wall, not split"
ABOVE_WALL = "its kernel part exceeds the wall time: the profiler's own cost decides the split"
ALL_MODELS = "all models"
PART_COLORS = {"kernels": "#1f77b4", "host": "#ff7f0e", NOT_SPLIT: "#bbbbbb"}
CONFIG = ["model", "dtype", "seq_len", "phase", "batch_size"]


def _label(r: pd.Series) -> str:
    """'bert-tiny s16 b1' (with the precision where not fp32 and the phase where not a forward)."""
    extra = ("" if r["dtype"] == "fp32" else f" {r['dtype']}") + ("" if r["phase"] == "forward" else f" {r['phase']}")
    return f"{r['model']}{extra} s{int(r['seq_len'])} b{int(r['batch_size'])}"


def stacked_data(rows: pd.DataFrame, machine_id: str) -> pd.DataFrame:
    """One row per runtime config and drawn part on `machine_id` (registry models, no overrides): `kernels` and
    `host` where the ledger split the wall time, else one `NOT_SPLIT` row holding the wall time; each with its
    value and interval (`value`, `low`, `high`), the config's wall time and interval, and the part's note."""
    mine = rows[(rows["machine_id"] == machine_id) & (rows["overrides"].fillna("{}") == "{}")
                & rows["part"].isin(["wall", "kernels", "host"])] if len(rows) else rows
    out = []
    for key, config in mine.groupby(["backend", *CONFIG], sort=True, dropna=False):
        parts = {p: r for p, r in zip(config["part"], config.to_dict("records"))}
        wall = parts.get("wall")
        if wall is None or not math.isfinite(wall["estimate_ms"]):
            continue
        base = {**dict(zip(["backend", *CONFIG], key)), "wall": wall["estimate_ms"], "wall_low": wall["low_ms"],
                "wall_high": wall["high_ms"]}
        base["runtime"] = RUNTIME_NAMES.get(base["backend"], base["backend"])
        base["config"] = _label(pd.Series(base))
        split = all(p in parts and math.isfinite(parts[p]["estimate_ms"]) for p in ("kernels", "host"))
        # a negative host part stacked under its kernels would read as a host part: the wall alone is drawn
        above = split and parts["host"]["estimate_ms"] < 0
        drawn = [(p, parts[p]) for p in ("kernels", "host")] if split and not above else [(NOT_SPLIT, wall)]
        for order, (part, r) in enumerate(drawn):
            k = parts.get("kernels") or {}
            above_note = (f"{ABOVE_WALL} (kernels {estimate_text(k['estimate_ms'], k['low_ms'], k['high_ms'], ' ms')})"
                          if above else "")
            note = ((r.get("note") or "") if split and not above else above_note if above
                    else ((parts.get("host") or {}).get("note") or ""))
            out.append({**base, "part": part, "order": order, "value": r["estimate_ms"], "low": r["low_ms"],
                        "high": r["high_ms"], "note": note or "",
                        "estimate": estimate_text(r["estimate_ms"], r["low_ms"], r["high_ms"], " ms")})
    columns = ["backend", "runtime", *CONFIG, "config", "part", "order", "value", "low", "high", "wall", "wall_low",
               "wall_high", "note", "estimate"]
    frame = pd.DataFrame(out, columns=columns)
    return frame.sort_values(["model", "seq_len", "batch_size", "order"], kind="stable").reset_index(drop=True)


def _values(frame: pd.DataFrame, columns: list[str]) -> alt.Data:
    """Only `columns`, inline, NaN as null: the spec stays strict JSON (as the book's other charts write theirs)."""
    def value(v):
        if isinstance(v, (float, np.floating)):
            return float(v) if np.isfinite(v) else None
        return v.item() if isinstance(v, np.generic) else v

    return alt.Data(values=[{c: value(v) for c, v in zip(columns, row)}
                            for row in frame[columns].itertuples(index=False)])


def _order(data: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(data.sort_values(["model", "dtype", "phase", "seq_len", "batch_size"])["config"]))


def stacked_chart(data: pd.DataFrame, title: str = "") -> alt.TopLevelMixin | None:
    """Kernels and host stacked per model x batch for the runtime the menu picks; the wall time's interval as a
    black rule; the tooltip gives each part's estimate, interval and note. None without rows."""
    if data.empty:
        return None
    runtimes = [RUNTIME_NAMES.get(b, b) for b in backend_order(data["backend"].unique())]
    keep = ["runtime", "model", "config", "part", "order", "value", "low", "high", "wall", "wall_low", "wall_high",
            "note", "estimate"]
    choice = alt.param(name="runtime", value=runtimes[0],
                       bind=alt.binding_select(options=runtimes, name="runtime "))
    # A model's bars set the axis for all: a second menu shows one model alone, so a small model's parts are legible.
    models = [ALL_MODELS, *sorted(data["model"].unique())]
    model = alt.param(name="model", value=ALL_MODELS, bind=alt.binding_select(options=models, name="model "))
    x = alt.X("config:N", sort=_order(data), title="model, sequence length, batch")
    bars = alt.Chart().mark_bar().encode(
        x=x, y=alt.Y("value:Q", stack="zero", title="time per call (ms)"),
        color=alt.Color("part:N", scale=alt.Scale(domain=list(PART_COLORS), range=list(PART_COLORS.values())),
                        title="part", legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("runtime:N"), alt.Tooltip("config:N"), alt.Tooltip("part:N"),
                 alt.Tooltip("estimate:N", title="estimate [95% interval]"), alt.Tooltip("note:N")])
    rule = alt.Chart().mark_rule(color="black", strokeWidth=1.2).encode(x=x, y="wall_low:Q", y2="wall_high:Q")
    chart = alt.layer(bars, rule, data=_values(data, keep)).add_params(choice, model).transform_filter(
        f"datum.runtime == runtime && (model == '{ALL_MODELS}' || datum.model == model)")
    return (chart.properties(width="container", height=HEIGHT_PX,
                             title=alt.TitleParams(text=title.split(": ", 1) if title else "", fontSize=13))
            .configure_axis(labelFontSize=11, titleFontSize=12).configure_legend(labelFontSize=11, titleFontSize=12))


def stacked_figure(data: pd.DataFrame, title: str = "", missing: str = "No ledger records.") -> Figure:
    """The static twin: one panel per runtime, kernels and host stacked per model x batch (grey where not split),
    the wall time's interval as error bars."""
    if data.empty:
        return empty_figure(title, missing)
    backends = backend_order(data["backend"].unique())
    order = _order(data)
    fig = Figure(figsize=(max(6.0, 0.45 * len(order) + 2), 2.4 * len(backends) + 1.0), layout="constrained")
    axes = fig.subplots(len(backends), 1, sharex=True, squeeze=False)[:, 0]
    for ax, backend in zip(axes, backends):
        mine = data[data["backend"] == backend]
        bottom = np.zeros(len(order))
        for part, color in PART_COLORS.items():
            values = mine[mine["part"] == part].set_index("config")["value"].reindex(order).fillna(0.0).to_numpy()
            if values.any():
                ax.bar(range(len(order)), values, bottom=bottom, color=color, label=part,
                       hatch="//" if part == NOT_SPLIT else None)
                bottom = bottom + values
        walls = mine.drop_duplicates("config").set_index("config").reindex(order)
        have = walls["wall_low"].notna() & walls["wall_high"].notna()
        xs = np.arange(len(order))[have.to_numpy()]
        ax.vlines(xs, walls["wall_low"][have].to_numpy(), walls["wall_high"][have].to_numpy(), color="black",
                  linewidth=1.2)
        ax.set_title(RUNTIME_NAMES.get(backend, backend), fontsize=10, loc="left")
        ax.set_ylabel("ms per call")
        ax.legend(fontsize=8, loc="upper left")
    axes[-1].set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig
