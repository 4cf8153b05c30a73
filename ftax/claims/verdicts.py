"""How a claim's verdict is reached: tests held to thresholds, one rule that decides a machine, one row shape.

Every claim of `ftax.claims.table` is a function of the visits frame (`ftax.store.dataframe.load(path)`) built from these
pieces, so the verdicts of the per-machine claims (`ftax.claims.per_machine`) and of the cross-machine ones
(`ftax.claims.across_machines`) mean the same thing. A test is one curve's (model's, dtype's, pair's) statistic
with its interval, held to a threshold; comparisons are paired within rounds where the data allows
(`ftax.read.estimates`), so a machine's drift cancels; a comparison without an interval (records from before rounds, or
one round) is `inconclusive`: a point estimate alone decides nothing.

Most claims are universal ("latency is flat at small batch"), so one rule (`decide`) aggregates the tests
of a machine (one per curve, model or dtype): `contradicted` when some test's interval lies on the
wrong side of the threshold, `supported` when every test's lies on the right side, else
`inconclusive`; the row quotes the test that decides (the most contradicting one, or the one
closest to breaking the claim) and carries every test. Where a claim's tests are per runtime and the runtimes'
tests decide differently, each runtime gets its row (`decide_per_runtime`). A claim made about a framework-bound
model whose machine lacks that regime is `premise not met` (`ftax.claims.table`). Read layer: pure functions; no
torch, never measures.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ftax.read.estimates import require_visits, with_format_version
from ftax.read.text import plural, sig

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE = "supported", "contradicted", "inconclusive", "not testable here"
# a claim made about a framework-bound model, on a machine where claim (a)'s rule finds no framework-bound regime
PREMISE_NOT_MET = "premise not met"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTABLE, PREMISE_NOT_MET)
NO_INTERVAL = "one round: no between-run interval"
CONFIDENCE = 0.95

_NEEDED = ("model", "backend", "dtype", "device", "batch_size", "seq_len", "machine_id", "median_ms")
_OPERATOR = {"at_most": "<=", "above": ">", "at_least": ">="}


@dataclass(frozen=True)
class ClaimResult:
    """One verdict: `claim` (letter) on `machine_id` and `device` ("+"-joined for the pair (f)/(g) compare).

    `statistic` with its interval `low`/`high` (NaN: no interval), held to `threshold`; `why` says what
    was compared, on what, with the number; `records` counts the visits the verdict used. `tests` are every
    test the verdict weighed, `deciding` the index of the one `statistic` and `why` quote (-1: none); `runtime`
    names the runtime whose tests alone the row decides ("" where the row weighs every runtime's); `premise`
    says why the claim's premise is not met on this machine ("" where it is, or the claim has none).
    """

    claim: str
    machine_id: str
    verdict: str
    statistic: float
    low: float
    high: float
    threshold: float
    why: str
    records: int
    device: str = ""
    machine_label: str = ""
    runtime: str = ""
    tests: tuple = ()
    deciding: int = -1
    premise: str = ""


@dataclass(frozen=True)
class ClaimTest:
    """One curve's (model's, dtype's, pair's) statistic held to a threshold in direction `holds`; `runtime` names
    the runtime a per-runtime test measures (claim (b)), "" otherwise."""

    name: str
    what: str
    statistic: float
    low: float
    high: float
    rounds: int
    threshold: float
    holds: str
    meaning: str
    rows: frozenset = field(default_factory=frozenset)
    note: str = ""
    runtime: str = ""

    def verdict(self) -> str:
        if not has_interval(self.low, self.high):
            return INCONCLUSIVE
        t = self.threshold
        good, bad = {"at_most": (self.high <= t, self.low > t), "above": (self.low > t, self.high <= t),
                     "at_least": (self.low >= t, self.high < t)}[self.holds]
        return SUPPORTED if good else CONTRADICTED if bad else INCONCLUSIVE

    def breaking(self) -> float:
        """How far the point lies on the claim-breaking side of the threshold (negative: on the claim's side)."""
        return self.statistic - self.threshold if self.holds == "at_most" else self.threshold - self.statistic

    def rule(self) -> str:
        """'flat means <= 1.25': what the test holds its statistic to."""
        return f"{self.meaning} {_OPERATOR[self.holds]} {sig(self.threshold)}"

    def bound(self) -> str:
        """'T(4)/T(1) <= 1.25': the statistic and the threshold it is held to."""
        return f"{self.what} {_OPERATOR[self.holds]} {sig(self.threshold)}"

    def why(self) -> str:
        shown = value_text(self.statistic, self.low, self.high, self.rounds)
        return f"{self.name}: {self.what} = {shown}{self.note}; {self.rule()}"


# --- the pieces every claim uses -----------------------------------------------------------------

def has_interval(low: float, high: float) -> bool:
    """Whether both bounds are numbers: without them a test decides nothing."""
    return low is not None and high is not None and not (math.isnan(low) or math.isnan(high))


def _num(x: float) -> str:
    return "inf" if x == math.inf else sig(x)


def value_text(statistic: float, low: float, high: float, rounds: int | None = None) -> str:
    """'1.62 [1.51, 1.74], 3 rounds', or '1.62 (one round: no between-run interval)'; without `rounds`
    (a number beside the deciding one) '1.62 [1.51, 1.74]' or '1.62'."""
    if not has_interval(low, high):
        return f"{_num(statistic)} ({NO_INTERVAL})" if rounds is not None else _num(statistic)
    return f"{_num(statistic)} [{_num(low)}, {_num(high)}]" + (f", {plural(rounds, 'round')}" if rounds else "")


def prepared_visits(frame: pd.DataFrame | None, phase: str = "forward") -> pd.DataFrame:
    """Ok visits of `phase` with a positive median, `overrides` filled and `_kind` (cpu, cuda); empty when columns
    lack. Records without a phase are forward (written before phases existed). Raises on a frame that is not the
    visits (`ftax.read.estimates.require_visits`): the newest visit per config would decide without intervals."""
    if frame is not None:
        require_visits(frame, "the claims")
    if frame is None or frame.empty or any(c not in frame for c in _NEEDED):
        return pd.DataFrame(columns=[*_NEEDED, "overrides", "_kind", "machine_label"])
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    phases = ok["phase"].fillna("forward") if "phase" in ok else pd.Series("forward", index=ok.index)
    ok = ok[phases == phase]  # the paper's claims (a)-(g) are about one forward pass, (h) about a decode step
    ok = ok.assign(median_ms=pd.to_numeric(ok["median_ms"], errors="coerce"))
    ok = with_format_version(ok[ok["median_ms"] > 0])
    ok["overrides"] = ok["overrides"].fillna("{}") if "overrides" in ok else "{}"
    ok["_kind"] = ok["device"].astype(str).str.split(":").str[0]
    if "machine_label" not in ok:
        ok["machine_label"] = ok["machine_id"]
    return ok.reset_index(drop=True)


def machine_units(visits: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(machine_id, device kind, label) of every machine and device in `visits`, sorted."""
    out = []
    for (mid, kind), g in visits.groupby(["machine_id", "_kind"], sort=True):
        labels = g["machine_label"].dropna()
        out.append((str(mid), str(kind), str(labels.mode().iloc[0]) if len(labels) else f"{mid} ({kind})"))
    return out


def of_unit(visits: pd.DataFrame, unit: tuple[str, str, str]) -> pd.DataFrame:
    """The visits of one machine and device kind (`machine_units`): a verdict never pools two of them."""
    return visits[(visits["machine_id"] == unit[0]) & (visits["_kind"] == unit[1])]


def same_as(visits: pd.DataFrame, row: Mapping, columns: list[str]) -> pd.Series:
    """Rows of `visits` equal to `row` in `columns` (missing equals missing)."""
    mask = pd.Series(True, index=visits.index)
    for c in columns:
        value = row[c]
        missing = value is None or (not isinstance(value, str) and pd.isna(value))
        mask &= visits[c].isna() if missing else (visits[c] == value)
    return mask


def config_name(row: Mapping) -> str:
    """'bert-tiny eager fp32 seq 128', with non-default overrides ('width 256 depth 4')."""
    parts = [str(row["model"]), str(row["backend"]), str(row["dtype"]), f"seq {int(row['seq_len'])}"]
    extra = json.loads(row.get("overrides") or "{}")
    return " ".join(parts + [f"{k} {v}" for k, v in sorted(extra.items())])


def rounds_of(visits: pd.DataFrame) -> pd.Series:
    """Round id per visit; visits without a round (old records) are pooled as one round: no interval."""
    r = pd.to_numeric(visits["round"], errors="coerce") if "round" in visits else pd.Series(np.nan, visits.index)
    return r.fillna(-1) if r.isna().all() else r


def decide(claim: str, unit: tuple[str, str, str], tests: list[ClaimTest],
           runtime: str = "") -> ClaimResult:
    """The universal rule (module docstring) over one machine's tests; the row quotes the deciding test."""
    verdicts = [t.verdict() for t in tests]
    if CONTRADICTED in verdicts:
        verdict, pool = CONTRADICTED, [t for t, v in zip(tests, verdicts) if v == CONTRADICTED]
    elif all(v == SUPPORTED for v in verdicts):
        verdict, pool = SUPPORTED, tests
    else:
        undecided = [t for t, v in zip(tests, verdicts) if v == INCONCLUSIVE]
        verdict, pool = INCONCLUSIVE, [t for t in undecided if has_interval(t.low, t.high)] or undecided
    chosen = max(pool, key=lambda t: t.breaking())
    rows = frozenset().union(*(t.rows for t in tests))
    return ClaimResult(claim, unit[0], verdict, float(chosen.statistic), float(chosen.low), float(chosen.high),
                       float(chosen.threshold), chosen.why(), len(rows), unit[1], unit[2], runtime, tuple(tests),
                       tests.index(chosen))


def decide_per_runtime(claim: str, unit: tuple[str, str, str], tests: list[ClaimTest]) -> list[ClaimResult]:
    """One row from every test (`decide`), or, where the runtimes' tests decide differently, one row per runtime
    from its own tests: one runtime's verdict never hides another's."""
    runtimes = list(dict.fromkeys(t.runtime for t in tests))
    if len(runtimes) < 2:
        return [decide(claim, unit, tests, runtimes[0] if runtimes else "")]
    each = [decide(claim, unit, [t for t in tests if t.runtime == r], r) for r in runtimes]
    return each if len({r.verdict for r in each}) > 1 else [decide(claim, unit, tests)]


def untestable(claim: str, unit: tuple[str, str, str], why: str, threshold: float) -> ClaimResult:
    """The row of a claim the records cannot test, `why` naming the records it lacks."""
    return ClaimResult(claim, unit[0], NOT_TESTABLE, math.nan, math.nan, math.nan, threshold, why, 0, unit[1], unit[2])
