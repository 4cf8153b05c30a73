"""The explorer's selection model: its frame of configs, and what of it a reader's selection draws.

Pure functions of loaded records, so every choice the explorer makes can be tested without a browser or a
figure. `load` gives one row per config (its estimate over the rounds and calibrated interval,
`ftax.read.estimates.per_config`); `resolve` repairs a wanted `Selection` into one the records can draw (only
backends, dtypes, machines and shapes that have ok records for the model), `choices` lists each control's
options and `rows_for` the rows a selection draws. Machines are never mixed in one curve: `ok_records` keeps
two machines that share a label apart. The widget (`ftax.pages.explorer`) and the static view
(`ftax.pages.explorer_view`) both read a selection from here, so the hosted page and the notebook open on the same one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ftax.store import dataframe
from ftax.read.estimates import newest_series, per_config
from ftax.read.memory_findings import memory_rows
from ftax.figures.plot_style import backend_order
from ftax.read.rows import numbers, ok_rows

X_AXES = {"batch_size": "batch size", "seq_len": "sequence length"}
OTHER = {"batch_size": "seq_len", "seq_len": "batch_size"}
METRICS = {"latency": "latency", "memory": "peak memory above baseline"}


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
    visits = dataframe.load(results_dir)
    return newest_series(visits) if not visits.empty else visits


def load(results_dir: str | Path) -> pd.DataFrame:
    """The explorer's frame: one row per config (its newest series) with its estimate over the rounds and
    the calibrated interval (`ftax.read.estimates.per_config` of every visit in `results_dir`)."""
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
