"""Which stored probe describes a curve: the probes stored with the records, and those taken around a curve's visits.

Why apart from the model: the model takes its probe as given (`ftax.read.tax_model`); which probe to give it is a
question of the store and of time. A machine's speed drifts (a shared VM's by 2x between days), and the model's H is
T(1) minus the probe's time for the work, so a curve is read with the probes taken around it (`probe_for`), not with
whichever was taken last. Page 08's host-cost table and the validation (`ftax.read.tax_model_validation`) read probes this
way; `benchmarks/tax_model_fresh.py` sets other choices (the first, the last) beside it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ftax.store import jsonl
from ftax.measure.probe import Probe, mean_of


MAX_PROBE_GAP = pd.Timedelta(hours=12)  # farther from a curve than this, a timed probe is from another machine state


def stored_probes(results_dir: str | Path) -> dict[tuple, tuple[Probe, ...]]:
    """Every stored probe per (machine_id, device, dtype) in `results_dir`'s `probes/` store, in stored order."""
    found: dict[tuple, list[Probe]] = {}
    for data in jsonl.iter_side(results_dir, "probes"):
        try:
            found.setdefault((data["machine_id"], data["device"], data["dtype"]), []).append(Probe.from_dict(data))
        except (KeyError, TypeError):
            continue
    return {key: tuple(probes) for key, probes in found.items()}


def probe_for(probes: dict[tuple, Probe | Sequence[Probe]], key: tuple, when=None, until=None) -> Probe | None:
    """The probe of `key` (machine_id, device, dtype) for a curve measured from `when` to `until` (timestamps):
    the probes that bracket that span (the last one taken at or before it, every one within it, the first at or
    after it) averaged (`probe.mean_of`); with `when` alone, or nothing on one side, the one nearest; with no
    time at all, the newest stored.

    A machine's speed drifts (a shared VM's by 2x between days), and the model's H is T(1) minus the probe's time
    for the work: a curve is read with the probes taken around it, not with whichever was taken last. A curve's
    estimate pools rounds spread over its whole sweep, so a probe before it and one after it describe it alike."""
    found = probes.get(key)
    if found is None or isinstance(found, Probe):
        return found
    if not found:
        return None
    timed = sorted((p for p in found if p.timestamp), key=lambda p: _utc(p.timestamp))
    start, end = _utc(when), _utc(until)
    if start is None or not timed:
        return found[-1]
    if end is not None:
        before = [p for p in timed if _utc(p.timestamp) <= start][-1:]
        after = [p for p in timed if _utc(p.timestamp) >= end][:1]
        within = [p for p in timed if start < _utc(p.timestamp) < end]
        if before and after:
            return mean_of([*before, *within, *after])
    nearest = min(timed, key=lambda p: abs(_utc(p.timestamp) - start))
    untimed = [p for p in found if not p.timestamp]
    gap = min(abs(_utc(nearest.timestamp) - t) for t in (start, end) if t is not None)
    # a probe from another day saw another machine (module docstring); probes stored without a time were taken with
    # the records stored beside them, before any timed one, so the newest of them stands in for it
    return untimed[-1] if untimed and gap > MAX_PROBE_GAP else nearest



def curve_span(rows: pd.DataFrame) -> tuple:
    """(first, last) time a curve's visits were taken (per_config's `first_timestamp`/`last_timestamp`, else each
    row's `timestamp`); None where the rows have none."""
    first = rows["first_timestamp"] if "first_timestamp" in rows else rows.get("timestamp")
    last = rows["last_timestamp"] if "last_timestamp" in rows else rows.get("timestamp")
    stamps = [pd.to_datetime(x, utc=True, errors="coerce") if x is not None else None for x in (first, last)]
    return (None if stamps[0] is None else stamps[0].min(), None if stamps[1] is None else stamps[1].max())


def _utc(when) -> pd.Timestamp | None:
    """`when` as a UTC timestamp (naive ones are taken as UTC), or None where it is missing."""
    if when is None or pd.isna(when):
        return None
    at = pd.Timestamp(when)
    return at.tz_localize("UTC") if at.tzinfo is None else at
