"""A decoder's steps against their roofline: floor = max(bytes / read rate, FLOPs / GEMM rate), per config.

A decode step must read every weight once and its whole KV cache (`ftax.measure.step_work` counts what it reads
and each matrix product's FLOPs, stored by `benchmarks/decode_ops.py` in results/decode-ops/), and a machine reads
and multiplies at most as fast as its probe says (`ftax.measure.probe`: the read ladder at the step's bytes, the
GEMM ladder at each product's FLOPs). The larger of the two times is the floor no runtime can beat on that machine;
the measured step over it is how far each runtime is from it, with the step's between-round interval (the probe
is one reading: the floor carries no interval of its own). The same floor prices the prompt pass (prefill),
whose work is one GEMM per weight over `seq_len` rows, far above its bytes.

Where a floor cannot be drawn (no probe with the read ladder, no work counted for the shape), the row says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ftax.measure.op_profile import DECODE_OPS
from ftax.measure.probe import Probe
from ftax.measure.step_work import StepWork
from ftax.read import curve_probes
from ftax.read.rows import ok_rows
from ftax.store import jsonl

SHAPE = ["model", "dtype", "batch_size", "seq_len", "phase"]


@dataclass(frozen=True)
class Floor:
    """One call's two roofs (ms) and which binds: `memory_ms` = bytes read / the probe's read rate at that many
    bytes, `compute_ms` = each product's FLOPs / the probe's GEMM rate at that many FLOPs per call, summed."""

    bytes_read: int
    flops: float
    read_gbs: float
    memory_ms: float
    compute_ms: float

    @property
    def floor_ms(self) -> float:
        return max(self.memory_ms, self.compute_ms)

    @property
    def binds(self) -> str:
        return "memory" if self.memory_ms >= self.compute_ms else "compute"


def floor(work: StepWork, probe: Probe) -> Floor | None:
    """The floor of one call doing `work` on the machine `probe` describes; None without the probe's read ladder."""
    read_gbs = probe.read_gbs_at(work.bytes_read)
    if read_gbs is None:
        return None
    compute_s = sum(n * flops / (probe.gflops_at(flops) * 1e9) for flops, n in work.gemm_flops)
    return Floor(work.bytes_read, work.flops, read_gbs, work.bytes_read / (read_gbs * 1e9) * 1e3, compute_s * 1e3)


def stored_ops(results_dir: str | Path) -> pd.DataFrame:
    """The decode-ops store: one row per stored record (shape columns, `machine_id`, `timestamp`, `work` as a
    `StepWork`, the profile's `profiled_ms`, `steps`, `ops` and `shapes`), oldest first."""
    rows = [{**{k: data.get(k) for k in [*SHAPE, "machine_id", "timestamp", "profiled_ms", "steps", "ops", "shapes"]},
             "work": StepWork.from_dict(data["work"])} for data in jsonl.iter_side(results_dir, DECODE_OPS)
            if data.get("work")]
    return pd.DataFrame(rows, columns=[*SHAPE, "machine_id", "timestamp", "profiled_ms", "steps", "ops", "shapes",
                                       "work"])


def read_probes(results_dir: str | Path) -> dict[tuple, tuple[Probe, ...]]:
    """The stored probes with the read ladder (version 3 on), per (machine_id, device, dtype)."""
    found = {key: tuple(p for p in probes if p.read_bytes)
             for key, probes in curve_probes.stored_probes(results_dir).items()}
    return {key: probes for key, probes in found.items() if probes}


def _work_for(ops: pd.DataFrame, row) -> StepWork | None:
    """The newest work count of `row`'s shape, this machine's before another's (bytes and FLOPs are the model's and
    the shape's, not the machine's: another machine's count of the same shape and software is the same count)."""
    if ops.empty:
        return None
    same = ops[(ops.model == row.model) & (ops.dtype == row.dtype) & (ops.batch_size == row.batch_size)
               & (ops.seq_len == row.seq_len) & (ops.phase == row.phase)]
    if same.empty:
        return None
    mine = same[same.machine_id == row.machine_id]
    return (mine if not mine.empty else same).iloc[-1]["work"]


def floors(rows: pd.DataFrame, ops: pd.DataFrame, probes: dict[tuple, tuple[Probe, ...]]) -> pd.DataFrame:
    """One row per ok prefill or decode config of `rows` (per_config rows): its floor's parts (`bytes_read`,
    `flops`, `read_gbs`, `memory_ms`, `compute_ms`, `floor_ms`, `binds`), the probe's time (`probe_time`), and the
    measured latency over the floor (`over`, `over_low`, `over_high`, from `estimate_ms`, `low_ms`, `high_ms`);
    the floor's columns are NaN where no work is counted for the shape or no probe with the read ladder is stored
    (`missing` says which)."""
    ok = ok_rows(rows)
    ok = ok[ok["phase"].isin(["decode", "prefill"])] if "phase" in ok else ok.iloc[0:0]
    out = []
    for row in ok.itertuples():
        work = _work_for(ops, row)
        probe = curve_probes.probe_for(probes, (row.machine_id, row.device, row.dtype),
                                       getattr(row, "first_timestamp", None), getattr(row, "last_timestamp", None))
        found = floor(work, probe) if work is not None and probe is not None else None
        missing = " and ".join(why for why, absent in (("work not counted", work is None),
                                                       ("no probe with the read ladder", probe is None)) if absent)
        parts = ({"bytes_read": found.bytes_read, "flops": found.flops, "read_gbs": found.read_gbs,
                  "memory_ms": found.memory_ms, "compute_ms": found.compute_ms, "floor_ms": found.floor_ms,
                  "binds": found.binds, "probe_time": probe.timestamp} if found else {"binds": None})
        measured = {k: getattr(row, k, None) for k in ("model", "backend", "dtype", "batch_size", "seq_len", "phase",
                                                       "machine_id", "estimate_ms", "low_ms", "high_ms", "rounds")}
        out.append({**measured, **parts, "missing": missing})
    table = pd.DataFrame(out, columns=["model", "backend", "dtype", "batch_size", "seq_len", "phase", "machine_id",
                                       "estimate_ms", "low_ms", "high_ms", "rounds", "bytes_read", "flops", "read_gbs",
                                       "memory_ms", "compute_ms", "floor_ms", "binds", "probe_time", "missing"])
    for side, column in (("over", "estimate_ms"), ("over_low", "low_ms"), ("over_high", "high_ms")):
        table[side] = pd.to_numeric(table[column], errors="coerce") / pd.to_numeric(table["floor_ms"], errors="coerce")
    return table


def growth(table: pd.DataFrame, ratios: pd.DataFrame, small: int, large: int) -> pd.DataFrame:
    """Per model and runtime of decode: the measured T(large)/T(small) paired by round (`ratios`: paired_ratios with
    `large` as the baseline, so `ratio` = T(large) / T(small) on the `small` rows) beside what each roof predicts
    (memory_ms(large) / memory_ms(small), compute_ms likewise) and the floor (`floor_ratio`), and `versus`: whether
    the step grows more than the floor (`more`: the interval above it), less, or as it (the interval holds it)."""
    decode = table[(table.phase == "decode") & table.floor_ms.notna()]
    if decode.empty or ratios.empty:
        return pd.DataFrame()
    key = ["model", "backend", "dtype", "seq_len"]
    at = {b: decode[decode.batch_size == b].set_index(key) for b in (small, large)}
    measured = ratios[(ratios.batch_size == small) & (ratios.phase == "decode")].set_index(key)
    both = at[small].index.intersection(at[large].index).intersection(measured.index)
    if both.empty:
        return pd.DataFrame()
    result = pd.DataFrame({
        "ratio": measured.loc[both, "ratio"], "ratio_low": measured.loc[both, "ratio_low"],
        "ratio_high": measured.loc[both, "ratio_high"], "rounds": measured.loc[both, "rounds"],
        "memory_ratio": at[large].loc[both, "memory_ms"] / at[small].loc[both, "memory_ms"],
        "compute_ratio": at[large].loc[both, "compute_ms"] / at[small].loc[both, "compute_ms"],
        "floor_ratio": at[large].loc[both, "floor_ms"] / at[small].loc[both, "floor_ms"]})
    result["versus"] = ["more" if low > f else "less" if high < f else "as"
                        for low, high, f in zip(result.ratio_low, result.ratio_high, result.floor_ratio)]
    return result.reset_index()
