"""Do ftax's intervals cover what a re-run gives? Coverage of the single-visit CI against the calibrated one.

The same grid (bert-tiny eager, torchscript and onnxruntime at batch 1, 2, 4, 8, sequence 16, CPU,
profile quick: 12 configs) is swept as separate `ftax sweep` processes, in `--pairs` pairs. A pair is
two runs back to back of each kind: by default the old way (one visit per config, `--rounds 1`, the whole
quick budget) and the new way (`--rounds 3`, the budget split over three interleaved rounds); `--rounds 3,5`
compares other counts. Pairs follow
one another, so the runs of one pair share their drift and different pairs do not.

Reported per kind, at the nominal 95% level:
- coverage: the share of configs whose run-1 interval covers run 2's point estimate, with its 95%
  Clopper-Pearson interval (scipy.stats.binomtest), and the median half-width relative to the point;
- the same for paired speedups (torchscript and onnxruntime over eager at each batch size): the
  old interval is the conservative ratio of the two medians' CIs, the new one the t-interval on
  per-round ratios (`ftax.read.ratios.speedups`);
- where the variance lives: the CV of round medians inside one run (one process) against the CV
  of the two runs' estimates (two processes);
- the wall time of every sweep.

Usage (on an idle machine; anything else running inflates and shakes the numbers):
    python benchmarks/calibration.py [--pairs 3] [--rounds 1,3] [--out /tmp/ftax-calibration] [--json report.json]
        [--store results]
Add `--device cuda` on a GPU. `--store DIR` appends the report with its provenance (the machine's fingerprint,
start and end time, the 1-minute load after every sweep) to `DIR/calibration/<machine_id>.jsonl`, which the
validation appendix shows (`ftax.appendix.calibration_report`).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ftax.read import estimates, ratios
from ftax.store import dataframe, env, jsonl
from ftax.appendix.calibration_report import FORMAT, KIND

GRID = ["--models", "bert-tiny", "--backends", "eager,torchscript,onnxruntime", "--batch-sizes", "1,2,4,8",
        "--seq-lens", "16", "--profile", "quick"]

KEYS = ["model", "backend", "dtype", "batch_size", "seq_len"]


def sweep(out: Path, rounds: int, device: str, seed: int, isolate: bool = False) -> float:
    """One `ftax sweep` in a fresh process (with `isolate`, each round's model in a child process of its own);
    its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ftax", "sweep", *GRID, "--device", device, "--rounds", str(rounds),
                    "--seed", str(seed), "--out", str(out), "--quiet", *(["--isolate"] if isolate else [])],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def per_config(out: Path) -> pd.DataFrame:
    """Point and interval per config: the calibrated ones, or the single visit's median and CI."""
    visits = dataframe.load(out)
    table = estimates.estimates(visits).set_index(KEYS)
    one_round = table["rounds"] == 1
    table.loc[one_round, "low_ms"] = table.loc[one_round, "within_round_ci_low_ms"]
    table.loc[one_round, "high_ms"] = table.loc[one_round, "within_round_ci_high_ms"]
    return table[["estimate_ms", "low_ms", "high_ms", "rounds", "between_round_cv"]]


def per_speedup(out: Path) -> pd.DataFrame:
    """Paired speedups over eager; for single visits the old conservative interval from the two CIs."""
    visits = dataframe.load(out)
    if visits["round"].notna().any() and (visits.groupby("config_key")["round"].nunique() > 1).any():
        table = ratios.speedups(visits)
    else:
        ok = visits[visits["status"] == "ok"].drop_duplicates("config_key", keep="last")
        base = ok[ok["backend"] == "eager"].set_index(["batch_size"])
        table = ok[ok["backend"] != "eager"].copy()
        eager = base.loc[table["batch_size"]]
        table["speedup"] = eager["median_ms"].to_numpy() / table["median_ms"].to_numpy()
        table["speedup_low"] = eager["ci_low_ms"].to_numpy() / table["ci_high_ms"].to_numpy()
        table["speedup_high"] = eager["ci_high_ms"].to_numpy() / table["ci_low_ms"].to_numpy()
    return table.set_index(["backend", "batch_size"])[["speedup", "speedup_low", "speedup_high"]]


def coverage(first: pd.DataFrame, second: pd.DataFrame, point: str, low: str, high: str) -> pd.DataFrame:
    """Per row: does run 1's interval cover run 2's point, and run 1's half-width relative to its point."""
    both = first.join(second[[point]].rename(columns={point: f"{point}_rerun"}), how="inner")
    return pd.DataFrame({"covered": (both[low] <= both[f"{point}_rerun"]) & (both[f"{point}_rerun"] <= both[high]),
                         "half_width": (both[high] - both[low]) / 2 / both[point],
                         "rerun_ratio": both[f"{point}_rerun"] / both[point]})


def summarize(rows: pd.DataFrame) -> dict:
    covered, n = int(rows["covered"].sum()), len(rows)
    ci = stats.binomtest(covered, n).proportion_ci(0.95) if n else None
    return {"covered": covered, "n": n, "coverage": covered / n if n else float("nan"),
            "coverage_low": ci.low if ci else float("nan"), "coverage_high": ci.high if ci else float("nan"),
            "median_half_width": float(rows["half_width"].median()),
            "rerun_ratio_min": float(rows["rerun_ratio"].min()), "rerun_ratio_max": float(rows["rerun_ratio"].max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="pairs of runs per kind (3 or more)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ftax-calibration"), help="records of every run")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--store", type=Path, help="append the report with its provenance to "
                                                   "STORE/calibration/<machine_id>.jsonl (e.g. results)")
    parser.add_argument("--rounds", default="1,3",
                        help="comma-separated round counts to compare (1 is the old single visit); default 1,3")
    parser.add_argument("--isolate", default="",
                        help="comma-separated round counts to run once more with --isolate (each round's model in a "
                             "fresh child process: does the variance live at the process level?)")
    args = parser.parse_args(argv)
    counts, isolated = map(int, args.rounds.split(",")), map(int, filter(None, args.isolate.split(",")))
    kinds = {("old (1 visit)" if r == 1 else f"new ({r} rounds)"): (r, False) for r in counts}
    kinds.update({f"new ({r} rounds, a process each)": (r, True) for r in isolated})
    if args.out.exists():
        shutil.rmtree(args.out)

    latency, speedup, walls, spread = {k: [] for k in kinds}, {k: [] for k in kinds}, [], []
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for pair in range(args.pairs):
        for kind, (rounds, isolate) in kinds.items():
            runs = []
            for run in (1, 2):
                out = args.out / f"pair{pair}-{rounds}r{'-isolated' if isolate else ''}-run{run}"
                wall = sweep(out, rounds, args.device, seed=100 * pair + run, isolate=isolate)
                walls.append({"pair": pair, "kind": kind, "run": run, "wall_s": wall, "load_1m": os.getloadavg()[0]})
                print(f"pair {pair + 1}/{args.pairs} {kind} run {run}: {wall:.0f} s", file=sys.stderr)
                runs.append(out)
            first, second = per_config(runs[0]), per_config(runs[1])
            latency[kind].append(coverage(first, second, "estimate_ms", "low_ms", "high_ms"))
            speedup[kind].append(coverage(per_speedup(runs[0]), per_speedup(runs[1]), "speedup", "speedup_low",
                                          "speedup_high"))
            if rounds > 1:
                between_runs = np.abs(np.log(second["estimate_ms"] / first["estimate_ms"])) / np.sqrt(2)
                spread.append({"pair": pair, "kind": kind, "within_run_cv": float(first["between_round_cv"].median()),
                               "between_runs_cv": float(between_runs.median())})

    report = {"latency": {k: summarize(pd.concat(v)) for k, v in latency.items()},
              "speedup": {k: summarize(pd.concat(v)) for k, v in speedup.items()},
              "process_level": spread, "walls": walls}
    for what in ("latency", "speedup"):
        print(f"\n== {what}: does run 1's 95% interval cover run 2's point? ==")
        for kind, r in report[what].items():
            print(f"{kind:16s} {r['covered']:3d}/{r['n']:<3d} = {r['coverage']:.0%} "
                  f"[{r['coverage_low']:.0%}, {r['coverage_high']:.0%}]; median half-width "
                  f"{r['median_half_width']:.1%}; re-run / run 1: {r['rerun_ratio_min']:.2f}-{r['rerun_ratio_max']:.2f}")
    print("\n== where the variance lives (median over configs, log scale) ==")
    for s in spread:
        print(f"pair {s['pair'] + 1}, {s['kind']}: CV of round medians inside one process {s['within_run_cv']:.1%}; "
              f"between the two processes' estimates {s['between_runs_cv']:.1%}")
    wall = pd.DataFrame(walls).groupby("kind")["wall_s"].median()
    print("\n== wall time per sweep (median) ==\n" + "\n".join(f"{k:16s} {v:.0f} s" for k, v in wall.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    if args.store:
        fingerprint = env.fingerprint()
        stored = {"format": FORMAT, "machine_id": fingerprint["machine_id"],
                  "machine_label": env.machine_label(fingerprint, args.device), "env": fingerprint,
                  "started": started, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "plan": {"grid": GRID, "device": args.device, "pairs": args.pairs,
                           "rounds": [r for r, _ in kinds.values()],
                           "isolated": [r for r, one_each in kinds.values() if one_each]},
                  **report}
        print(f"stored in {jsonl.append_side(args.store, KIND, fingerprint['machine_id'], stored)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
