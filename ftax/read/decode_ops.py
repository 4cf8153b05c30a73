"""Which ops take a decode step's time, from its stored per-op profiles (`ftax.measure.op_profile`), by batch.

The profiler names aten ops, not what they do, so the ops are put in a few groups here by name (`GROUPS`, written
by hand: torch has no such table): matrix products, attention over the static cache, copies (the cache update,
concatenations, dtype and layout copies), and the rest. Per group and batch: the self time per step, its share of
the profiled step, and for the matrix products the rate at which they read the step's weights (weight bytes over
their time: at batch 1 a product reads each weight once for one row, so this rate, set beside the probe's read
rate, says whether the products stream the weights or do something else).
"""
from __future__ import annotations

import ast

import pandas as pd

MATMUL, ATTENTION, COPIES, REST = "matrix products", "attention", "copies", "other ops"
GROUPS = {
    MATMUL: {"aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm",
             "aten::_addmm_activation"},
    ATTENTION: {"aten::_scaled_dot_product_flash_attention_for_cpu", "aten::scaled_dot_product_attention",
                "aten::_softmax", "aten::softmax", "aten::_safe_softmax"},
    COPIES: {"aten::copy_", "aten::index_copy_", "aten::cat", "aten::clone", "aten::contiguous", "aten::_to_copy",
             "aten::to", "aten::repeat_interleave", "aten::index_put_", "aten::fill_", "aten::zero_"},
}
ORDER = (MATMUL, ATTENTION, COPIES, REST)


def group_of(op: str) -> str:
    return next((group for group, names in GROUPS.items() if op in names), REST)


def by_group(profiles: pd.DataFrame) -> pd.DataFrame:
    """One row per decode profile (model, dtype, batch_size, seq_len, machine_id) and group: `self_ms` per step,
    `share` of the profiled step, `calls` per step; the time the listed ops do not cover (the profiler's gaps, the
    ops past the stored list) is the group `outside ops`. Matrix products add `weight_gbs`: the step's weight bytes
    over their time."""
    decode = profiles[(profiles.phase == "decode") & profiles.profiled_ms.notna()] if not profiles.empty else profiles
    out = []
    for r in decode.itertuples():
        sums = {g: [0.0, 0.0] for g in ORDER}
        for op in r.ops or []:
            sums[group_of(op["op"])][0] += op["self_ms"]
            sums[group_of(op["op"])][1] += op["calls"]
        listed = sum(ms for ms, _ in sums.values())
        base = {"model": r.model, "dtype": r.dtype, "batch_size": r.batch_size, "seq_len": r.seq_len,
                "machine_id": r.machine_id, "timestamp": r.timestamp, "profiled_ms": r.profiled_ms, "steps": r.steps}
        for group, (ms, calls) in [*sums.items(), ("outside ops", (max(r.profiled_ms - listed, 0.0), 0.0))]:
            gbs = r.work.weight_bytes / (ms / 1e3) / 1e9 if group == MATMUL and ms > 0 else None
            out.append({**base, "group": group, "self_ms": ms, "calls": calls, "share": ms / r.profiled_ms,
                        "weight_gbs": gbs})
    return pd.DataFrame(out)


def newest_profiles(profiles: pd.DataFrame, machine_id: str | None) -> pd.DataFrame:
    """The newest decode profile per shape of `machine_id` (profiles are timings: another machine's never stand in)."""
    if profiles.empty or machine_id is None:
        return profiles.iloc[0:0]
    mine = profiles[(profiles.machine_id == machine_id) & (profiles.phase == "decode") & profiles.profiled_ms.notna()]
    return mine.groupby(["model", "dtype", "batch_size", "seq_len"], sort=True).tail(1)


def products_by_rows(profiles: pd.DataFrame, n: int = 1) -> list[dict]:
    """The `n` matrix products (op and weight shapes) of one model's profiles with the most self time summed over
    the batches: `op`, `weights`, and `ms_per_call` {rows multiplied: ms per call} (at decode the rows are the
    batch). The same product at 1, 4 and 16 rows tells a path whose cost follows the weights it reads (flat per
    call) from one that follows the rows (growing)."""
    found: dict[tuple, dict] = {}
    for profile in profiles.itertuples():
        for op in profile.shapes or []:
            rows, weights = _split(op["shapes"])
            if group_of(op["op"]) != MATMUL or op["op"] == "aten::matmul" or not op["calls"] or rows is None:
                continue
            entry = found.setdefault((op["op"], weights), {"op": op["op"], "weights": weights, "ms_per_call": {},
                                                           "self_ms": 0.0})
            entry["ms_per_call"][rows] = op["self_ms"] / op["calls"]
            entry["self_ms"] += op["self_ms"]
    return sorted(found.values(), key=lambda e: -e["self_ms"])[:n]


def _split(shapes: str) -> tuple[int | None, str]:
    """(rows, the other inputs' shapes): the rows a product multiplies are the leading size of its first 2-D input
    (addmm's activation follows its bias, mm's comes first); the rest names the weights."""
    try:
        parsed = ast.literal_eval(shapes)
    except (ValueError, SyntaxError):
        return None, shapes
    twod = [i for i, s in enumerate(parsed) if isinstance(s, list) and len(s) == 2]
    if not twod:
        return None, shapes
    rest = [s for i, s in enumerate(parsed) if i != twod[0] and s]
    return int(parsed[twod[0]][0]), " ".join("x".join(map(str, s)) for s in rest if isinstance(s, list))
