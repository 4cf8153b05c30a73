"""`ftax compare`: two runs set config against config, from stored records or measured now as an A/B.

Stored runs (`ftax compare A B`, `ftax.read.compare`) carry each run's drift, so their intervals include the
machine's run-to-run spread; `--run` measures both sides now, alternating round by round in fresh processes
(`ftax.study.ab_run`), and pairs them by round (`ftax.read.ab_pairs`), which cancels the drift.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ftax.store.errors import EXIT_FAILED, InvalidConfigError


def cmd_compare(args: argparse.Namespace) -> int:
    """B against A per config (ftax.read.compare); exit 1 with `--fail-on-regression` when a config is surely slower."""
    from ftax.appendix.calibration_report import stored
    from ftax.read import compare, compare_text
    from ftax.store.errors import SelectionError

    if args.run:
        return compare_run(args)
    if args.a is None:
        raise SelectionError("give A (and B), or --run to measure both sides now")
    a, b = compare.sides(args.a, args.b, args.a_filter, args.b_filter)
    folders = [args.calibration] if args.calibration else sorted({p if p.is_dir() else p.parent
                                                                  for p in (args.a, args.b or args.a)})
    spread = compare.run_spread([run for folder in folders for run in stored(folder)])
    result = compare.compare(a, b, args.confidence, args.min_change / 100, spread)
    print(compare_text.to_json(result) if args.json else
          compare_text.markdown(result) if args.markdown else compare_text.text(result))
    worse = compare.regressions(result, args.fail_on_regression) if args.fail_on_regression is not None else None
    if worse is not None and not worse.empty:
        print(compare_text.regressions_line(worse, args.fail_on_regression), file=sys.stderr)
        return EXIT_FAILED
    return 0


def compare_run(args: argparse.Namespace) -> int:
    """`ftax compare --run`: measure the grid under A and B in alternating rounds (ftax.study.ab_run), each side in
    fresh processes, then pair B with A round by round (ftax.read.ab_pairs)."""
    from ftax.read.ab_pairs import ab_verdicts
    from ftax.read.compare_text import ab_markdown, ab_text
    from ftax.store.dataframe import load
    from ftax.study.ab_run import AbOptions, run_ab, side_from
    from ftax.sweep.profiles import ROUNDS

    if args.a is not None or args.a_filter or args.b_filter:
        raise InvalidConfigError("--run measures its own A and B: give --grid and --a-*/--b-* flags, not stores")
    options = AbOptions(out=args.out, a=side_from(args.a_python, args.a_threads, args.a_override),
                        b=side_from(args.b_python, args.b_threads, args.b_override), grid_file=args.grid,
                        profile=args.profile, device=args.device, rounds=args.rounds or ROUNDS[args.profile])
    run = run_ab(options, log=lambda line: print(line, file=sys.stderr, flush=True))
    table = ab_verdicts(load(run.a_dir), load(run.b_dir), args.confidence, args.min_change / 100)
    print(table.to_json(orient="records", indent=1) if args.json else
          ab_markdown(table, str(run)) if args.markdown else ab_text(table, str(run)))
    return EXIT_FAILED if run.failed else 0


def add_compare_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare two runs' stored records config by config (B/A, with a verdict)")
    p.add_argument("a", type=Path, nargs="?", help="records of A: a JSONL file or a folder of them")
    p.add_argument("b", type=Path, nargs="?", help="records of B (default: A's, split with --a/--b)")
    p.add_argument("--a", dest="a_filter", action="append", metavar="COLUMN=VALUE",
                   help="keep A's visits with this value (machine, device, backend, an env field: torch_version...)")
    p.add_argument("--b", dest="b_filter", action="append", metavar="COLUMN=VALUE", help="the same for B")
    p.add_argument("--min-change", type=float, default=10.0, metavar="PCT",
                   help="a change a config's interval must be able to show, else 'too noisy' (default 10)")
    p.add_argument("--confidence", type=float, default=0.95, help="family-wise, over all configs (default 0.95)")
    p.add_argument("--calibration", type=Path, help="folder with calibration/ (default: the folders of A and B)")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT",
                   help="exit 1 when a config is surely slower by more than PCT percent")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object: configs, summary, differences")
    out.add_argument("--markdown", action="store_true", help="Markdown for a pull-request comment")
    run = p.add_argument_group("--run: measure A and B now, alternating round by round in fresh processes")
    run.add_argument("--run", action="store_true", help="an interleaved A/B of --grid, paired by round")
    run.add_argument("--grid", type=Path, help="the grid both sides measure (a `ftax sweep --grid` file)")
    run.add_argument("--out", type=Path, default=Path("ab-run"), help="stores OUT/a and OUT/b (default ab-run)")
    run.add_argument("--profile", default="quick", choices=["smoke", "quick", "full"], help="stop rule (quick)")
    run.add_argument("--device", default="auto")
    run.add_argument("--rounds", type=int, help="rounds, each side once per round (default: the profile's)")
    for side in ("a", "b"):
        run.add_argument(f"--{side}-python", help=f"the interpreter of side {side.upper()} (a venv's bin/python)")
        run.add_argument(f"--{side}-threads", type=int, help=f"torch threads of side {side.upper()}")
        run.add_argument(f"--{side}-override", action="append", metavar="KEY=N", help="a model override, e.g. depth=11")
    p.set_defaults(func=cmd_compare)
