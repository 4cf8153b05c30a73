"""Two sets of stored visits compared config by config: the ratio B/A with a corrected interval and a verdict.

Matching. A config's identity is its config columns (`ftax.read.estimates.CONFIG_COLUMNS`) without the machine and
without the device, plus the device *kind* (cpu, cuda; `cuda:1` is cuda): a run on one machine is set against
the same configs on another, and a GPU run against the book's CPU run. When the two sides share no device kind
the kind is dropped from the identity and the comparison says "devices differ: cpu vs cuda". A side must hold
one machine, software series and stop rule per identity (never pooled, as `estimates` never pools them): a
store with two is narrowed with filters (`select`) first. The fingerprints (`env_*`) that differ between the
sides are listed as "name: A -> B" (`Comparison.differences`).

The ratio. Per side, a config's rounds are reduced to one median per round (`estimates.ok_visits`) and its level
is their geometric mean; the ratio is exp(mean log B - mean log A). Its interval is Welch's t-interval on the
two sides' log round medians (the Welch-Satterthwaite degrees of freedom; with no run-to-run term it is
`scipy.stats.ttest_ind(..., equal_var=False)`'s interval, which the tests check).

Run-to-run variance. Round medians of one run share that run's process and machine state, so their spread
under-states how far a re-run lands: on the 2-core EPYC a 5-round interval covers a re-run's point in only
72-88% of configs (`benchmarks/calibration.py`, stored under `results/calibration/`). Each stored calibration
pair keeps `between_runs_cv`, the median over configs of |log(run 2 / run 1)| / sqrt(2), and `within_run_cv`,
the median spread of round medians in one run. Under normal log noise the first is sigma_run * z_0.75 (z the
normal quantile), sigma_run^2 being the variance of one run's log estimate; what round noise explains of it is
within_run_cv^2 / k (k rounds), and the rest, max(0, sigma_run^2 - within^2 / k) averaged over the pairs, is the
run-level variance component tau^2 (`run_spread`). A side measured on a machine and device kind with stored
calibration pairs gets tau^2 added to the variance of its log level (treated as known: it adds no degrees of
freedom); where none is stored the interval holds round noise only, and `Comparison.notes` says so. The
medians are a robust, approximate reading of the variances; no constant stands in where nothing is stored.

Many configs. With 150 configs, 150 uncorrected 95% intervals would flag about 7 unchanged configs by chance.
The per-config intervals are Sidak-corrected simultaneous intervals: each at level (1 - alpha)^(1/m) over the m
configs that have one, so all m cover together with probability 1 - alpha when they are independent, and at
least that for jointly normal estimates whatever their correlation (Sidak 1967), which the shared rounds of a
sweep make them. Chosen over Holm (slightly more powerful, but it orders p-values and gives no interval per
config) and Benjamini-Hochberg (it bounds the share of false alarms among those raised, not the chance of any):
a verdict here is read one config at a time, from its own interval, and a same-stack comparison should raise
none. `p_adjusted` is the Sidak-adjusted p-value, 1 - (1 - p)^m, below alpha exactly when the interval excludes 1.

Verdicts: `slower` (the corrected interval lies above 1), `faster` (below), `same` (it holds 1 and could have
shown a change of `min_change`), `too noisy` (it holds 1 and its minimum detectable change, exp(half-width) - 1
on the log scale, exceeds `min_change`), `one round` (a side has one round: no interval). Summaries per runtime
(`backend`) and per model family (`family`) give the geometric mean of their configs' ratios with a t-interval
over the configs' log ratios, widened by the sides' tau^2 (a run-level shift moves every config of a run
together, so the spread across configs does not show it), and the verdict counts.

Read layer: pure functions of loaded visits and stored calibration runs; they never measure and never write.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ftax.read.estimates import CONFIG_COLUMNS, SERIES_COLUMNS, ok_visits
from ftax.store.dataframe import load
from ftax.store.errors import SelectionError

VERDICTS = ("slower", "faster", "same", "too noisy", "one round")
# Fingerprint fields that change between visits of one run (load) or name nothing of the stack (hostname).
_NOT_A_DIFFERENCE = ("env_load_avg_1m",)
_ALIASES = {"machine": "machine_id"}


@dataclass(frozen=True)
class Comparison:
    """B against A: one row per matched config (`rows`), summaries per runtime and family, what differs."""

    rows: pd.DataFrame
    summary: pd.DataFrame
    identity: tuple[str, ...]
    differences: list[str]
    notes: list[str]
    confidence: float
    min_change: float
    only_a: int = 0
    only_b: int = 0
    corrected_over: int = 0
    spread: dict = field(default_factory=dict)


def family(model: str) -> str:
    """A model's family: its name before the first "-" (bert-tiny and bert-base are bert; gpt2 is gpt2)."""
    return str(model).split("-", 1)[0]


def device_kind(device: str) -> str:
    """cpu, cuda, mps...: a device without its index."""
    return str(device).split(":", 1)[0]


def parse_filters(items: list[str] | None) -> list[tuple[str, str]]:
    """`column=value` strings as pairs; a string without "=" is a SelectionError."""
    pairs = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SelectionError(f"a filter looks like column=value (e.g. machine=amd-epyc-2c-c4c3af), got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _column(visits: pd.DataFrame, key: str) -> str:
    for name in (_ALIASES.get(key, key), f"env_{key}"):
        if name in visits.columns:
            return name
    short = sorted({"machine", *[c.removeprefix("env_") for c in visits.columns
                                 if c in CONFIG_COLUMNS or c.startswith("env_") or c in ("machine_id", "rule")]})
    raise SelectionError(f"no column {key!r} to filter on; valid: {', '.join(short)}")


def _matches(value: object, wanted: str) -> bool:
    """Equal as text or as numbers, or a version prefix (torch_version=2.5 matches 2.5.1+cpu)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return wanted.lower() in ("", "none", "nan")
    text = str(value)
    if text == wanted or text.startswith((wanted + ".", wanted + "+")):
        return True
    try:
        return float(text) == float(wanted)
    except ValueError:
        return False


def select(visits: pd.DataFrame, filters: list[tuple[str, str]], side: str = "") -> pd.DataFrame:
    """The visits that match every (column, value) filter: a column is a loaded column, `machine`, or an `env_`
    field by its short name (`torch_version`). An unknown column or a filter that matches nothing raises."""
    for key, wanted in filters:
        column = _column(visits, key)
        keep = visits[column].map(lambda v: _matches(v, wanted))
        if not keep.any():
            present = sorted({str(v) for v in visits[column].dropna().unique()})[:8]
            raise SelectionError(f"{side + ': ' if side else ''}no visit has {key}={wanted}; "
                                 f"{column} holds {', '.join(present) or 'nothing'}")
        visits = visits[keep]
    return visits


def run_spread(runs: list[dict]) -> dict[tuple[str, str], tuple[float, int]]:
    """tau^2, the run-level variance of one run's log estimate, and the pairs it rests on, per (machine_id, device
    kind), from stored calibration runs (`ftax.appendix.calibration_report.stored`); the module docstring gives
    the reading."""
    z = stats.norm.ppf(0.75)
    found: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        key = (run.get("machine_id"), device_kind(run.get("plan", {}).get("device", "cpu")))
        for pair in run.get("process_level") or []:
            rounds = re.search(r"\((\d+) rounds", pair.get("kind", ""))
            if rounds is None or pair.get("between_runs_cv") is None or pair.get("within_run_cv") is None:
                continue
            run_var = (pair["between_runs_cv"] / z) ** 2
            found.setdefault(key, []).append(max(0.0, run_var - pair["within_run_cv"] ** 2 / int(rounds.group(1))))
    return {key: (float(np.mean(values)), len(values)) for key, values in found.items()}


def _levels(visits: pd.DataFrame, identity: list[str], side: str) -> pd.DataFrame:
    """Per identity: rounds `k`, mean and variance of the log round medians, and the side's machine and device."""
    visits = ok_visits(visits, f"ftax compare ({side})")
    if visits.empty:
        raise SelectionError(f"{side}: no ok visit with a latency to compare")
    visits = visits.assign(device_kind=visits["device"].map(device_kind))
    config = visits.groupby(identity, dropna=False, sort=True).ngroup()
    apart = [c for c in ("machine_id", "device", *SERIES_COLUMNS, "rule") if c in visits]
    counts = visits.groupby(config)[apart].nunique(dropna=False).max()
    varying = [c for c in apart if counts[c] > 1]
    if varying:
        raise SelectionError(f"{side} holds several {'/'.join(varying)} for one config; narrow it with filters, "
                             f"e.g. --{side.lower()} {varying[0].removeprefix('env_')}=...")
    per_round = np.log(visits.groupby([config, visits["_round"]])["median_ms"].median())
    g = per_round.groupby(level=0)
    out = pd.DataFrame({"k": g.count(), "mean": g.mean(), "var": g.var(ddof=1)})
    first = visits.groupby(config)[[*identity, "machine_id", "device"]].first()
    return first.join(out).reset_index(drop=True)


def _differences(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    said = []
    for column in ("machine_id", *sorted(c for c in set(a) | set(b) if c.startswith("env_")), "rule"):
        if column in _NOT_A_DIFFERENCE:
            continue
        values = [sorted({str(v) for v in side[column].dropna().unique()}) if column in side else [] for side in (a, b)]
        if values[0] != values[1]:
            name = "machine" if column == "machine_id" else column.removeprefix("env_")
            said.append(f"{name}: {', '.join(values[0]) or 'none'} -> {', '.join(values[1]) or 'none'}")
    return said


def _verdicts(rows: pd.DataFrame, confidence: float, min_change: float) -> pd.DataFrame:
    """Sidak-corrected Welch intervals (with the run-level tau^2 of each side) and the verdict of each row."""
    va, vb = rows["var_a"] / rows["k_a"], rows["var_b"] / rows["k_b"]
    total = va + vb + rows["tau2_a"] + rows["tau2_b"]
    both = (rows["k_a"] >= 2) & (rows["k_b"] >= 2)
    m = int(both.sum())
    denominator = (va ** 2 / (rows["k_a"] - 1)).where(both) + (vb ** 2 / (rows["k_b"] - 1)).where(both)
    dof = (total ** 2 / denominator).where(denominator > 0, np.inf).where(both)
    level = sidak_level(confidence, m)
    half = stats.t.ppf((1 + level) / 2, dof) * np.sqrt(total)
    d = rows["log_ratio"]
    p = 2 * stats.t.sf(np.abs(d) / np.sqrt(total).where(total > 0, np.nan), dof)
    rows = rows.assign(low=np.exp(d - half), high=np.exp(d + half), min_detectable=np.expm1(half),
                       p_adjusted=1 - (1 - p) ** max(m, 1))
    return rows.assign(verdict=verdicts(both, rows["low"], rows["high"], rows["min_detectable"], min_change))


def sidak_level(confidence: float, m: int) -> float:
    """The level of each of m intervals that cover together with probability `confidence` (module docstring)."""
    return confidence ** (1 / max(m, 1))


def verdicts(has_interval, low, high, min_detectable, min_change: float) -> np.ndarray:
    """The one wording of a change, for stored runs and for an A/B alike: `slower` (B above A) when the interval
    lies above 1, `faster` below; holding 1, `same` if it could show `min_change`, else `too noisy`; `one round`
    without an interval."""
    return np.select([~np.asarray(has_interval, bool), np.asarray(low) > 1, np.asarray(high) < 1,
                      np.asarray(min_detectable) > min_change],
                     ["one round", "slower", "faster", "too noisy"], "same")


def _summary(rows: pd.DataFrame, confidence: float) -> pd.DataFrame:
    out = []
    for by in ("backend", "family"):
        for group, part in rows.groupby(by, sort=True):
            logs = part["log_ratio"].to_numpy(float)
            n, mean = len(logs), float(np.mean(logs))
            var = (np.var(logs, ddof=1) / n if n >= 2 else math.nan) + float((part["tau2_a"] + part["tau2_b"]).mean())
            half = stats.t.ppf((1 + confidence) / 2, n - 1) * math.sqrt(var) if n >= 2 else math.nan
            counts = part["verdict"].value_counts()
            out.append({"by": by, "group": group, "configs": n, "ratio": math.exp(mean), "low": math.exp(mean - half),
                        "high": math.exp(mean + half), **{v: int(counts.get(v, 0)) for v in VERDICTS}})
    return pd.DataFrame(out)


def compare(a: pd.DataFrame, b: pd.DataFrame, confidence: float = 0.95, min_change: float = 0.10,
            spread: dict[tuple[str, str], tuple[float, int]] | None = None) -> Comparison:
    """B against A over the configs both hold (the module docstring gives every rule); `spread` is `run_spread`
    of the stored calibration runs, or None for round noise only."""
    if not 0 < confidence < 1:
        raise SelectionError(f"confidence must lie between 0 and 1, got {confidence}")
    spread = spread or {}
    kinds = [set(side["device"].map(device_kind)) if not side.empty else set() for side in (a, b)]
    identity = [c for c in CONFIG_COLUMNS if c != "device"]
    notes = []
    if kinds[0] & kinds[1]:
        identity.append("device_kind")
    else:
        named = ["/".join(sorted(kind)) or "none" for kind in kinds]
        notes.append(f"devices differ: {named[0]} vs {named[1]}")
    identity = [c for c in identity if c == "device_kind" or (c in a and c in b)]
    level_a, level_b = _levels(a, identity, "A"), _levels(b, identity, "B")
    rows = level_a.merge(level_b, on=identity, how="inner", suffixes=("_a", "_b"))
    only_a, only_b = len(level_a) - len(rows), len(level_b) - len(rows)
    if rows.empty:
        raise SelectionError(f"A and B share no config ({len(level_a)} on A, {len(level_b)} on B, matched on "
                             f"{', '.join(identity)})")
    for side in ("a", "b"):
        rows[f"ms_{side}"] = np.exp(rows[f"mean_{side}"])
        rows[f"tau2_{side}"] = [spread.get((m, device_kind(d)), (0.0, 0))[0]
                                for m, d in zip(rows[f"machine_id_{side}"], rows[f"device_{side}"])]
    rows["log_ratio"] = rows["mean_b"] - rows["mean_a"]
    rows["ratio"] = np.exp(rows["log_ratio"])
    rows["family"] = rows["model"].map(family)
    rows = _verdicts(rows, confidence, min_change)
    notes.append(_spread_note(rows, spread))
    return Comparison(rows=rows, summary=_summary(rows, confidence), identity=tuple(identity),
                      differences=_differences(a, b), notes=notes, confidence=confidence, min_change=min_change,
                      only_a=only_a, only_b=only_b, corrected_over=int(((rows["k_a"] >= 2) & (rows["k_b"] >= 2)).sum()),
                      spread=spread)


def _spread_note(rows: pd.DataFrame, spread: dict) -> str:
    said, missing = [], []
    for side in ("a", "b"):
        for machine, device in sorted({(m, device_kind(d)) for m, d in zip(rows[f"machine_id_{side}"],
                                                                           rows[f"device_{side}"])}):
            if (machine, device) in spread:
                tau2, pairs = spread[(machine, device)]
                said.append(f"{side.upper()} on {machine} {device}: run-to-run {math.sqrt(tau2):.1%} per run "
                            f"from {pairs} calibration pairs")
            else:
                missing.append(f"{side.upper()} on {machine} {device}")
    text = "; ".join(said)
    if missing:
        text += ("; " if text else "") + (f"no calibration run stored for {', '.join(missing)}: "
                                          f"its interval holds round noise only")
    return "intervals: " + text


def regressions(comparison: Comparison, pct: float) -> pd.DataFrame:
    """The configs surely slower by more than `pct` percent: their corrected low bound above 1 + pct / 100."""
    rows = comparison.rows
    return rows[rows["low"] > 1 + pct / 100]


def sides(a_path: Path, b_path: Path | None, a_filters: list[str] | None,
          b_filters: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The visits of A and B: two stores (files or folders), or one store split by `column=value` filters."""
    if b_path is None and not (a_filters or b_filters):
        raise SelectionError("give B, or split one store with --a/--b filters (e.g. --a machine=X --b machine=Y)")
    out = []
    for side, path, filters in (("A", a_path, a_filters), ("B", b_path or a_path, b_filters)):
        visits = load(path) if Path(path).exists() else None
        if visits is None or visits.empty:
            raise SelectionError(f"{side}: no records in {path}")
        out.append(select(visits, parse_filters(filters), side))
    return out[0], out[1]
