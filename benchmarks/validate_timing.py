"""Validate ftax's timing against independent methods (the study behind the book's appendix).

    .venv/bin/python benchmarks/validate_timing.py --profile quick [--json out.json]

Prints, per callable, each method's central value and spread, its ratio to ftax's median,
the time and calls it needed, the repeatability of ftax's median, and the sensitivity of
ftax's median to threads, warm-up and GC. On a CUDA machine it adds the synchronization
study (synchronized wall vs CUDA events vs pipelined vs no sync) for bert-base.
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd
import torch

from ftax import validation
from ftax.profiles import PROFILES, RULES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="stopping rule to validate")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (repeatability needs >= 3)")
    parser.add_argument("--json", help="also write every row to this JSON file")
    args = parser.parse_args(argv)

    pd.set_option("display.width", 160)
    rule = RULES[args.profile]
    frame = validation.compare_methods(validation.TARGETS, rule, args.rounds,
                                       progress=lambda s: print(s, file=sys.stderr))
    tables = {"agreement": validation.agreement(frame), "repeatability": validation.repeatability(frame),
              "sensitivity": validation.sensitivity(rule=rule)}
    if torch.cuda.is_available():
        tables["cuda_sync"] = validation.cuda_sync_study()
    for name, table in tables.items():
        print(f"\n== {name} ==\n{table.to_string(index=False, float_format=lambda x: f'{x:.4g}')}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({name: table.to_dict(orient="records") for name, table in tables.items()}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
