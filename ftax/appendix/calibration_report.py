"""Whether the book's intervals cover what a re-run gives, in words, from `benchmarks/calibration.py`'s stored runs.

The benchmark sweeps one grid twice per pair in separate processes, at several round counts, and asks of each
config whether run 1's 95% interval covers run 2's point estimate (latency, and paired speedups over eager).
Each run is appended with its provenance to `<results_dir>/calibration/<machine_id>.jsonl` (a side store the
records' loader never reads); this module reads them back for the validation appendix. Read layer: never
measures.

Format history: 1, the first.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy import stats

from ftax.store import jsonl
from ftax.read.text import markdown_table

KIND = "calibration"
FORMAT = 1

# The bars the book's intervals are held to: a run's 95% interval covers a re-run's point for at least 80% of
# configs (latency and speedup), and a paired speedup's interval is at most 10% of the speedup on either side
# (median over configs).
COVERAGE_TARGET = 0.80
SPEEDUP_HALF_WIDTH_TARGET = 0.10


def stored(results_dir: str | Path) -> list[dict]:
    """Every stored calibration run of every machine, oldest first."""
    runs = [r for r in jsonl.iter_side(results_dir, KIND) if r.get("format") == FORMAT]
    return sorted(runs, key=lambda r: r.get("timestamp", ""))


def per_machine(runs: list[dict]) -> dict[tuple, list[dict]]:
    """Runs by machine and device, newest first within each."""
    grouped: dict[tuple, list[dict]] = {}
    for run in reversed(runs):
        grouped.setdefault((run["machine_id"], run["plan"]["device"]), []).append(run)
    return grouped


def pooled(runs: list[dict]) -> pd.DataFrame:
    """Per kind of run: coverage pooled over `runs` (configs covered and compared, summed) with its 95%
    Clopper-Pearson interval, for latency and speedups: one run's 24-36 comparisons give a wide interval."""
    counts: dict[tuple, list[int]] = {}
    for run in runs:
        for what in ("latency", "speedup"):
            for kind, summary in run[what].items():
                total = counts.setdefault((kind, what), [0, 0])
                total[0] += summary["covered"]
                total[1] += summary["n"]
    rows = []
    for (kind, what), (covered, n) in counts.items():
        ci = stats.binomtest(covered, n).proportion_ci(0.95)
        rows.append({"kind": kind, "rounds": _rounds(kind), "what": what, "covered": covered, "n": n,
                     "coverage": covered / n, "low": ci.low, "high": ci.high, "runs": len(runs)})
    return pd.DataFrame(rows).sort_values(["rounds", "kind", "what"]).reset_index(drop=True)


def pooled_markdown(runs: list[dict]) -> str:
    """Coverage pooled over a machine's stored runs, one row per kind of run, with the verdict against
    COVERAGE_TARGET (only with 2+ runs)."""
    if len(runs) < 2:
        return ""
    table = pooled(runs)
    rows = []
    for kind, part in table.groupby(["rounds", "kind"], sort=True):
        cells = {r.what: f"{r.covered}/{r.n} = {r.coverage:.0%} [{r.low:.0%}, {r.high:.0%}]: "
                         f"{coverage_verdict(r.coverage, r.low, r.high)}" for r in part.itertuples()}
        rows.append((kind[1], cells.get("latency", "n/a"), cells.get("speedup", "n/a")))
    return (f"Pooled over the {len(runs)} stored runs of this machine (every comparison of every pair):\n\n"
            + markdown_table(["runs of", "latency: run 1 covers run 2 [95%]", "speedup: run 1 covers run 2 [95%]"],
                             rows))


def _rounds(kind: str) -> int:
    return 1 if kind.startswith("old") else int(kind.split("(")[1].split()[0])


def table(run: dict) -> pd.DataFrame:
    """One row per kind of run (round count): coverage of a re-run with its binomial interval and the median
    half-width, for latency and for paired speedups, and the median wall time of one sweep."""
    walls = pd.DataFrame(run["walls"]).groupby("kind")["wall_s"].median()
    rows = []
    for kind, lat in run["latency"].items():
        spd = run["speedup"].get(kind, {})
        rows.append({"kind": kind, "rounds": _rounds(kind), "wall_s": float(walls.get(kind, float("nan"))),
                     **{f"latency_{k}": v for k, v in lat.items()}, **{f"speedup_{k}": v for k, v in spd.items()}})
    return pd.DataFrame(rows).sort_values("rounds").reset_index(drop=True)


def _coverage(row: pd.Series, what: str) -> str:
    return (f"{row[f'{what}_covered']}/{row[f'{what}_n']} = {row[f'{what}_coverage']:.0%} "
            f"[{row[f'{what}_coverage_low']:.0%}, {row[f'{what}_coverage_high']:.0%}]")


def coverage_verdict(coverage: float, low: float, high: float, target: float = COVERAGE_TARGET) -> str:
    """Whether a coverage meets the target, said with its binomial interval: surely, at the point only, or not."""
    if low >= target:
        return f"meets {target:.0%} (its interval lies above)"
    if coverage >= target:
        return f"meets {target:.0%} at the point, but its interval reaches down to {low:.0%}"
    if high < target:
        return f"misses {target:.0%} (its interval lies below)"
    return f"misses {target:.0%} at the point; its interval reaches up to {high:.0%}"


def verdicts(run: dict) -> list[str]:
    """Per round count above 1: latency and speedup coverage against COVERAGE_TARGET, and the speedups' median
    half-width against SPEEDUP_HALF_WIDTH_TARGET."""
    said = []
    for _, row in table(run).iterrows():
        if row["rounds"] < 2:
            continue
        width = row["speedup_median_half_width"]
        said.append(f"{row['kind']}: latency coverage "
                    f"{coverage_verdict(row.latency_coverage, row.latency_coverage_low, row.latency_coverage_high)}; "
                    f"speedup coverage "
                    f"{coverage_verdict(row.speedup_coverage, row.speedup_coverage_low, row.speedup_coverage_high)}; "
                    f"speedups' median half-width {width:.1%}, "
                    f"{'within' if width <= SPEEDUP_HALF_WIDTH_TARGET else 'above'} "
                    f"{SPEEDUP_HALF_WIDTH_TARGET:.0%}")
    return said


def spread_sentence(run: dict) -> str:
    """Where the variance lives: the spread of round medians inside one process against the spread of two
    processes' estimates, medians over the pairs."""
    spread = pd.DataFrame(run.get("process_level", []))
    if spread.empty:
        return ""
    by = spread.groupby("kind")[["within_run_cv", "between_runs_cv"]].median()
    listed = "; ".join(f"{kind}: {r.within_run_cv:.1%} between rounds of one process, {r.between_runs_cv:.1%} "
                       f"between two processes' estimates" for kind, r in by.iterrows())
    return f"Where the variance lives (CV on a log scale, median over configs and pairs): {listed}."


def markdown(results_dir: str | Path, part: str = "all") -> str:
    """The appendix's section: per machine, the coverage pooled over its stored runs, then each run (newest first)
    with its provenance, table and verdicts. `part` "pooled" keeps what a reader needs first (the pooled coverage, or
    a machine's only run), "runs" the runs that pooling summarises (folded on the page), "all" both."""
    machines = per_machine(stored(results_dir))
    if not machines:
        return ("" if part == "runs" else
                f"No calibration run is stored in `{results_dir}/calibration/`. Run "
                f"`python benchmarks/calibration.py --rounds 1,5 --store {results_dir}` on an idle machine.")
    parts = []
    for runs in machines.values():
        pooled_ = pooled_markdown(runs)
        if part in ("all", "pooled"):
            parts += [pooled_] if pooled_ else list(map(run_markdown, runs))
        if part in ("all", "runs") and pooled_:
            parts += list(map(run_markdown, runs))
    return "\n\n".join(p for p in parts if p)


def run_markdown(run: dict) -> str:
    """One stored run: when, where and under what load it ran, its table, its verdicts and where the variance lives."""
    fingerprint, plan = run.get("env", {}), run["plan"]
    loads = [w.get("load_1m") for w in run["walls"] if w.get("load_1m") is not None]
    load = f"; 1-minute load after each sweep {min(loads):.2f}-{max(loads):.2f}" if loads else ""
    rows = [(r.kind, _coverage(r, "latency"), f"{r.latency_median_half_width:.1%}", _coverage(r, "speedup"),
             f"{r.speedup_median_half_width:.1%}",
             f"{r.speedup_rerun_ratio_min:.2f}-{r.speedup_rerun_ratio_max:.2f}", f"{r.wall_s:.0f}")
            for _, r in table(run).iterrows()]
    return (f"On **{run['machine_label']}** (`{fingerprint.get('hostname')}`, "
            f"torch {fingerprint.get('torch_version')}, "
            f"{fingerprint.get('torch_threads')} threads), {run['started']} to {run['timestamp']}: "
            f"{plan['pairs']} pairs of runs, each run a separate `ftax sweep` process over "
            f"`{' '.join(plan['grid'])}`{load}.\n\n"
            + markdown_table(["runs of", "latency: run 1 covers run 2 [95%]", "latency half-width (median)",
                              "speedup: run 1 covers run 2 [95%]", "speedup half-width (median)",
                              "speedup re-run / run 1", "s per sweep"], rows)
            + "\n\n" + "; ".join(verdicts(run)) + ". " + spread_sentence(run))
