"""Validate ftax's timing against independent methods (the study behind the book's appendix).

    .venv/bin/python benchmarks/validate_timing.py --profile quick [--device cpu] [--json out.json]

Prints, per callable, each method's central value and spread, its ratio to ftax's median,
the time and calls it needed, the harness overhead per call (from the empty callable), the
measured cause of each disagreement beyond 5%, the repeatability of each method's central
value over rounds, and the sensitivity of ftax's median to threads, warm-up and GC. On a CUDA
machine it adds the synchronization study (synchronized wall vs CUDA events vs pipelined vs no
sync) for bert-base. The book's appendix (notebooks/90-validation.ipynb) runs the same study.
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from ftax.appendix import validation_report
from ftax.study import validation
from ftax.sweep.profiles import PROFILES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="stopping rule and callables")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (repeatability needs >= 3)")
    parser.add_argument("--json", help="also write every row to this JSON file")
    args = parser.parse_args(argv)

    pd.set_option("display.width", 200)
    study = validation.run_validation(validation.plan(args.profile, args.device, args.rounds),
                                      progress=lambda s: print(s, file=sys.stderr))
    table = validation_report.agreement(study.frame)
    tables = {"agreement": table, "harness overhead": validation_report.overhead(table),
              "explanations (ratio off 1 by more than 5%)": validation_report.explain(table).drop(columns="sentence"),
              "repeatability": validation_report.repeatability(study.frame),
              "sensitivity": validation_report.sensitivity_summary(study.sensitivity), "cuda sync": study.cuda}
    for name, frame in tables.items():
        if not frame.empty:
            print(f"\n== {name} ==\n{frame.to_string(index=False, float_format=lambda x: f'{x:.4g}')}")
    for sentence in validation_report.explain(table)["sentence"]:
        print(f"- {sentence}")
    print(f"\n{study.seconds:.0f} s; load average (1 min) {study.load_1m[0]:.2f} at start, {study.load_1m[1]:.2f} at end"
          + "".join(f"; skipped {name}: {why}" for name, why in study.skipped))
    if args.json:
        rows = {"rows": study.frame, "sensitivity_rows": study.sensitivity, **tables}
        with open(args.json, "w") as fh:
            json.dump({name: frame.to_dict(orient="records") for name, frame in rows.items()}, fh, indent=1)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
