"""Back-test the sweep planner on stored records: per store, each visit's planned seconds against its time.

For each folder of records (default: every folder under results/ whose records are sweep visits), the planner's
cost model is fitted to the records it would read on this machine (`--calibrate-from`, default results/ and the
folder itself), the folder's visits are priced in their stored order (`ftax.plan.accuracy.backtest`), and this
prints the planned and actual sums, their ratio and the median of the blocks' ratios, then planned against actual
per backend and per round, term by term where the records store the term (prepare, sampling, build).

    PYTHONPATH=$PWD python benchmarks/plan_accuracy.py [FOLDER ...] [--calibrate-from DIR ...] [--terms]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ftax.plan import accuracy, cost_fit
from ftax.store import dataframe


def _sweep_folders(root: Path) -> list[Path]:
    """`root` and its subfolders whose first record is a sweep visit (a `config` and a `rule`)."""
    out = []
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        files = sorted(folder.glob("*.jsonl"))
        line = files[0].open().readline() if files else ""
        first = json.loads(line) if line.strip() else {}
        if isinstance(first, dict) and "config" in first and first.get("rule"):
            out.append(folder)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of records (default: results/ and its sweeps)")
    parser.add_argument("--calibrate-from", nargs="*", type=Path, default=[Path("results")],
                        help="records the cost model is fitted to, besides the folder itself (default results/)")
    parser.add_argument("--terms", action="store_true", help="also per backend and per round, term by term")
    args = parser.parse_args(argv)
    folders = args.folders or _sweep_folders(Path("results"))
    pd.set_option("display.width", 200)
    for folder in folders:
        files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.jsonl.gz"))
        for path in files:
            frame = dataframe.load(path)
            if frame.empty or "rule" not in frame:
                continue
            fitted = dataframe.load(list(dict.fromkeys(str(p) for p in [*args.calibrate_from, folder])))
            device = str(frame["device"].iloc[0])
            cal = cost_fit.calibrate(fitted, device, str(frame["machine_id"].iloc[0]))
            table = accuracy.backtest(frame, cal)
            acc = accuracy.summarize(table)
            print(f"{path}: {acc.visits} visits of known time: planned {acc.planned_s:.0f} s, actual {acc.actual_s:.0f}"
                  f" s, planned/actual {acc.ratio:.2f} (sums), median per block {acc.median_ratio:.2f}")
            if args.terms:
                print(accuracy.by_term(table, "backend").to_string())
                print(accuracy.by_term(table, "round").to_string())
                print("cost model:\n" + "\n".join(cal.describe()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
