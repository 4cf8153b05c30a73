"""Which records a figure or a sentence shows: one machine, some grids, ok rows, decomposed rows.

Every page selects its rows here, so a figure and its caption count the same rows: `focus` (one machine),
`rows_of` (the configs of some grids, by the `GridRows` the study layer computed once), `ok_rows` (measured ok,
finite estimate), `decomposed` (ok rows that carry a profiler decomposition) and `on_device`; `numbers` reads a
column as numbers. `BUSY_METHODS` names, once, what busy time means for each decomposition method of
`ftax.measure.decompose`.

Selecting is pandas over plain data: the study layer resolved the device and expanded the grids, so nothing
here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ftax.measure.profiler_blind import blind_reason
from ftax.store.grid_rows import GridRows
from ftax.store.dataframe import rows_matching

RECORD_COLUMNS = ("config_key", "machine_id", "machine_label", "status", "message", "model", "backend", "dtype",
                  "device", "batch_size", "seq_len", "overrides", "width", "depth", "flops", "parity_ok",
                  "prepare_s")
DECOMPOSITION_COLUMNS = ("decomposition_busy_ms", "decomposition_overhead_ms", "decomposition_overhead_share")


@dataclass(frozen=True)
class BusyMethod:
    """What busy time is for one decomposition method: a figure's legend label and a caption's phrase."""

    label: str
    meaning: str


BUSY_METHODS = {
    "cuda-busy": BusyMethod("device kernels and copies", "the union of the GPU's kernel and copy intervals"),
    "cpu-compute-ops": BusyMethod("CPU compute-kernel self time", "the self time of the aten operators that "
                                  "compute, as a CPU has no device timeline"),
    "cpu-compute-ops+inductor-kernels": BusyMethod("CPU compute-kernel and Inductor-kernel self time",
                                                   "the self time of the aten operators that compute and of the "
                                                   "kernels Inductor generated or called, as a CPU has no device "
                                                   "timeline"),
    "ort-node-kernels": BusyMethod("ONNX Runtime node-kernel time", "the union of the node kernel spans of ONNX "
                                   "Runtime's own profile, as torch's profiler cannot see its nodes"),
}


def with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (visits or config rows) with every record column present: a loader only creates the columns its
    records have, so no records, or only failed ones, leave e.g. `flops` out. The latency columns are the
    frame's own (a visit's `median_ms`, a config row's `estimate_ms`: `ftax.read.estimates.per_config` always
    has them), so none is added here."""
    missing = [c for c in RECORD_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: None for c in missing}) if missing else frame


def numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    """`frame[column]` as floats, NaN where a value is not a number or the column is absent: an optional field's
    column holds None, strings or mixed types across schema versions, and is missing when no record carries it."""
    return pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(np.nan, index=frame.index)


def ok_rows(frame: pd.DataFrame | None, *needed: str, latency: str = "estimate_ms") -> pd.DataFrame:
    """Rows that measured ok and have a finite `latency` (and the `needed` columns filled): config rows
    (`ftax.read.estimates.per_config`) by their `estimate_ms`, visits by their own `median_ms`."""
    if frame is None or frame.empty or "status" not in frame or latency not in frame:
        return pd.DataFrame() if frame is None else frame.iloc[0:0]
    rows = frame[(frame["status"] == "ok") & np.isfinite(pd.to_numeric(frame[latency], errors="coerce"))]
    for column in needed:
        rows = rows[rows[column].notna()] if column in rows else rows.iloc[0:0]
    return rows


def decomposed(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Ok rows that carry a decomposition: busy time, overhead and its share (not, say, onnxruntime on a
    CPU, where the profiler sees no aten ops, nor a runtime the CPU profiler is blind to, such as AOTInductor,
    whose records made before that rule may still carry one). Both the figures and their captions count these
    rows."""
    rows = ok_rows(frame, *DECOMPOSITION_COLUMNS)
    if rows.empty:
        return rows
    methods = rows["decomposition_method"] if "decomposition_method" in rows else [""] * len(rows)
    seen = [blind_reason(backend, device, str(method)) is None
            for backend, device, method in zip(rows["backend"], rows["device"], methods)]
    return rows[np.array(seen, dtype=bool)]


def focus(frame: pd.DataFrame, machine_id: str, device: str) -> tuple[pd.DataFrame, str | None]:
    """The rows of the one machine a page shows, and its label: this machine on `device` (resolved, as the
    study resolved it: `cpu`, `cuda`, `cuda:N`) if it has records there, else the machine label with the most ok
    records. Machines are never mixed."""
    if device == "auto":
        raise ValueError("focus takes a resolved device (cpu, cuda, cuda:N), as open_study resolved it; got 'auto'")
    frame = with_columns(frame)
    if frame.empty:
        return frame, None
    kind = device.split(":")[0]
    mine = frame[(frame["machine_id"] == machine_id) & (frame["device"].str.split(":").str[0] == kind)]
    if not mine.empty:
        return mine.reset_index(drop=True), mine["machine_label"].mode().iloc[0]
    counts = frame[frame["status"] == "ok"]["machine_label"].value_counts()
    label = counts.index[0] if len(counts) else frame["machine_label"].mode().iloc[0]
    return frame[frame["machine_label"] == label].reset_index(drop=True), label


def rows_of(frame: pd.DataFrame, grids: Sequence[GridRows], names: Sequence[str] | None = None,
            varying: str | None = None) -> pd.DataFrame:
    """Rows of `frame` whose config belongs to the named grids (or the grids sweeping `varying`, e.g.
    "batch_sizes"); `grids` as the study handed them down (`StudyData.grid_rows`)."""
    chosen = [g for g in grids if (names is None or g.name in names) and (varying is None or varying in g.sweeps)]
    frame = with_columns(frame)
    configs = [c for g in chosen for c in g.configs]
    if frame.empty or not configs:
        return frame.iloc[0:0]
    return rows_matching(frame, configs)


def on_device(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows measured on a device of `kind` ("cpu" or "cuda"), from every machine."""
    frame = with_columns(frame)
    return frame[frame["device"].astype(str).str.split(":").str[0] == kind].reset_index(drop=True)

