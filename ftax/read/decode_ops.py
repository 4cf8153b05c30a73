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


def slowest_products(profile: pd.Series, n: int = 3) -> list[dict]:
    """The `n` matrix products of one profile, by op and input shapes, with the most self time per step: op, rows
    (the first input's leading size: the batch at decode), calls and ms per call."""
    found = []
    for op in profile.shapes or []:
        if group_of(op["op"]) != MATMUL or op["op"] == "aten::matmul" or not op["calls"]:
            continue
        found.append({"op": op["op"], "shapes": op["shapes"], "rows": _rows(op["shapes"]), "calls": op["calls"],
                      "ms_per_call": op["self_ms"] / op["calls"], "self_ms": op["self_ms"]})
    return sorted(found, key=lambda o: -o["self_ms"])[:n]


def _rows(shapes: str) -> int | None:
    """The rows a product multiplies: the leading size of its 2-D activation input (addmm's second, mm's first)."""
    try:
        parsed = ast.literal_eval(shapes)
    except (ValueError, SyntaxError):
        return None
    twod = [s for s in parsed if isinstance(s, list) and len(s) == 2]
    return int(twod[0][0]) if twod else None
