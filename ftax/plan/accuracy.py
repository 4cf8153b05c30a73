"""The planner's back-test: each stored visit of a sweep priced by the cost model, term by term, against its time.

A store's records are appended in the order a sweep made them, each block of a shape's backends (`measure_compared`)
together, each stamped with the second it was stored. A block's wall time is the gap from the previous block's last
stamp to its own (a gap of 0 is a block under a second; a negative gap or one over `SESSION_GAP_S` starts a new
session, and that block's time is unknown). The planner prices the same visits in the same order (`visit_terms`:
the state a visit leaves the next, round 0's extras, the decomposition where the record holds one), and each block's
wall time is shared among its visits in proportion to their planned seconds. The records also hold three of the
terms as measured (`prepare_s`, the sampling `total_time_s`, `model_build_s`), so each term is checked on its own.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ftax.measure.timing import StopRule
from ftax.plan.cost_fit import parse_rule
from ftax.plan.visit_costs import TERMS, Calibration, new_state, visit_terms
from ftax.store.schema import MeasureConfig
from ftax.sweep.profiles import RULES

SESSION_GAP_S = 120.0  # a longer gap between two stored blocks is a pause between sessions, not a visit
# The planned terms set against what a record stores of them.
STORED_TERMS = {"prepare": ("prepare", "compile", "export"), "sampling": ("sampling",), "build": ("import", "build")}
_BLOCK = ["machine_id", "rule", "round", "model", "dtype", "overrides", "phase", "seq_len", "batch_size"]
_GROUP = ["machine_id", "rule", "round", "model", "dtype", "overrides", "device"]


def _config(row) -> MeasureConfig:
    overrides = json.loads(row.overrides) if isinstance(row.overrides, str) and row.overrides else {}
    return MeasureConfig.make(row.model, row.backend, row.dtype, row.device, int(row.batch_size), int(row.seq_len),
                              overrides, row.phase)


def backtest(frame: pd.DataFrame, cal: Calibration, default_rule: StopRule = RULES["quick"]) -> pd.DataFrame:
    """One row per stored visit of one store (`frame`: `dataframe.load` of its file, in stored order): its block,
    round and backend, the planner's seconds by term (`plan_<term>`) and in all (`planned`), what the record stores
    of three terms (`stored_prepare`, `stored_sampling`, `stored_build`), and its share of its block's wall time
    (`actual`, NaN where the block's time is unknown)."""
    if frame.empty:
        return pd.DataFrame()
    rows = frame.reset_index(drop=True)
    block_id = (rows[_BLOCK].astype(str).agg("|".join, axis=1)).ne(
        rows[_BLOCK].astype(str).agg("|".join, axis=1).shift()).cumsum()
    group_id = (rows[_GROUP].astype(str).agg("|".join, axis=1)).ne(
        rows[_GROUP].astype(str).agg("|".join, axis=1).shift()).cumsum()
    state = new_state()
    out, first_of = [], set()
    decomposed = rows["decomposition_method"].notna() if "decomposition_method" in rows else pd.Series(False,
                                                                                                       rows.index)
    for i, row in enumerate(rows.itertuples()):
        line = {"block": int(block_id[i]), "round": row.round, "backend": row.backend, "status": row.status,
                **{f"plan_{t}": 0.0 for t in TERMS}}
        if row.status == "ok":
            first = group_id[i] not in first_of
            first_of.add(group_id[i])
            terms, _ = visit_terms(_config(row), int(row.round), cal, parse_rule(row.rule) or default_rule, state,
                                   (int(group_id[i]),), first, bool(decomposed[i]))
            line.update({f"plan_{t}": v for t, v in terms.items()})
            line.update(stored_prepare=row.prepare_s, stored_sampling=row.total_time_s,
                        stored_build=row.model_build_s if first else 0.0)
        if i == 0 or rows["round"].iat[i] != rows["round"].iat[i - 1]:
            line["plan_visit"] += cal.figure("round_s").value
        out.append(line)
    table = pd.DataFrame(out)
    table["planned"] = table[[f"plan_{t}" for t in TERMS]].sum(axis=1)
    ends = rows["timestamp"].groupby(block_id).max()
    gaps = pd.Series([e.timestamp() for e in ends], index=ends.index).diff()
    wall = gaps.where((gaps >= 0) & (gaps < SESSION_GAP_S))
    planned_block = table.groupby("block")["planned"].transform("sum")
    table["actual"] = table["block"].map(wall) * table["planned"] / planned_block.where(planned_block > 0)
    return table


@dataclass
class Accuracy:
    """A back-test's summary: the sums over the blocks whose time is known, and the median of the blocks' ratios."""

    visits: int
    planned_s: float
    actual_s: float
    median_ratio: float  # planned / actual, per block of at least `MIN_BLOCK_S` seconds

    @property
    def ratio(self) -> float:
        return self.planned_s / self.actual_s if self.actual_s else math.nan


MIN_BLOCK_S = 2.0  # blocks shorter than this are within the stamps' one-second rounding: left out of the median


def summarize(table: pd.DataFrame) -> Accuracy:
    known = table[table["actual"].notna()]
    blocks = known.groupby("block")[["planned", "actual"]].sum()
    blocks = blocks[blocks["actual"] >= MIN_BLOCK_S]
    median = float(np.median(blocks["planned"] / blocks["actual"])) if len(blocks) else math.nan
    return Accuracy(len(known), float(known["planned"].sum()), float(known["actual"].sum()), median)


def by_term(table: pd.DataFrame, by: str = "backend") -> pd.DataFrame:
    """Per `by` (a backend, a round): planned against actual seconds, and each term the records store planned
    against stored (`<term> plan` / `<term> stored`), and the rest (terms no record stores) planned against what
    the wall time leaves once the stored terms are taken out."""
    known = table[table["actual"].notna()].copy()
    rest = [t for t in TERMS if not any(t in ts for ts in STORED_TERMS.values())]
    columns = {"planned": known["planned"], "actual": known["actual"]}
    stored_sum = 0.0
    for name, terms in STORED_TERMS.items():
        columns[f"{name} plan"] = known[[f"plan_{t}" for t in terms]].sum(axis=1)
        columns[f"{name} stored"] = known[f"stored_{name}"].fillna(0.0)
        stored_sum = stored_sum + columns[f"{name} stored"]
    columns["rest plan"] = known[[f"plan_{t}" for t in rest]].sum(axis=1)
    columns["rest actual"] = known["actual"] - stored_sum
    return pd.DataFrame(columns).groupby(known[by]).sum().round(1)
