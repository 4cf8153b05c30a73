"""Can the interleaved A/B see a 10% change, and how often does it cry wolf? Its detection and false-alarm rates.

Two campaigns, each a series of A/B runs (`ftax.study.ab_run.run_ab`: both sides in every round, alternating
which goes first, each side's round a fresh process), read with `ftax.read.ab_pairs.ab_verdicts` (B / A paired by
round, Sidak-corrected over the run's configs):

1. detection: a known perturbation. A measures a synthetic linear stack of depth 10, B the same stack of depth 11
   (10% more layers; the per-call costs outside the layers make the true ratio a little under 1.1) on a small grid
   (`DETECT_SPEC`), `--detect-runs` times. Detection rate = the share of config verdicts that say `slower`
   (`too noisy` and `same` are misses).
2. false alarms: the same stack on both sides, on the calibration grid (`benchmarks/calibration.py`'s GRID),
   `--same-pairs` times. False-alarm rate = the share of config verdicts that say `slower` or `faster`.

3. one A/B of your own, measured and read the same way, stored nothing but its run's folders: any of
   `--a-python`, `--b-python`, `--a-threads`, `--b-threads`, `--a-override`, `--b-override` runs it on `--grid FILE`
   (a `ftax sweep --grid` file; default the calibration grid) and prints each config's verdict, e.g. two ONNX
   Runtime releases in two virtual environments, or 1 against 2 threads.

Each rate comes with its 95% Clopper-Pearson interval (scipy.stats.binomtest's exact interval). The configs of
one run share its rounds, so they are not independent draws: the interval treats them as if they were, and is
too narrow by as much as they move together; more runs, not more configs, narrow it honestly. Also reported per
campaign: the median ratio, the median minimum detectable change, and the share of runs with at least one such
verdict (for false alarms, the family-wise rate that the correction holds to 5%). `--rounds 5,8` repeats both
campaigns at each count, to find how many rounds the target (a 10% change caught in >= 90% of configs, false
alarms <= 5%) needs.

Before measuring it prints its plan: how many A/B runs and side processes, and the planner's estimate of their
time (`ftax.plan.schedule.plan_sweep`, from this device type's records in `--calibration`, else its labelled
defaults; a side's every round builds its models again, and process starts are not in it). `--budget-s` stops
starting runs whose estimate would pass it, each estimate scaled by measured / estimated time of the runs done so
far; `--plan` prints the plan and measures nothing.

Usage (on an idle machine):
    python benchmarks/ab_power.py [--rounds 5] [--detect-runs 3] [--same-pairs 3] [--out /tmp/ftax-ab-power]
        [--budget-s 3600] [--device cpu] [--store results] [--plan]
`--store DIR` appends the report with its provenance to `DIR/ab-power/<machine_id>.jsonl`.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration import GRID  # noqa: E402  (a sibling script: the calibration grid, named once)
from ftax.plan.schedule import plan_sweep  # noqa: E402
from ftax.read.ab_pairs import ab_verdicts, verdict_counts  # noqa: E402
from ftax.store import dataframe, env, jsonl  # noqa: E402
from ftax.store.errors import FtaxError  # noqa: E402
from ftax.study.ab_run import AbOptions, Side, options_record, run_ab, side_from, side_grids  # noqa: E402
from ftax.study.grid_files import load_grid_file  # noqa: E402
from ftax.sweep.profiles import ROUNDS  # noqa: E402

KIND = "ab-power"
DETECT_SPEC = {"models": ["synthetic-linear"], "backends": ["eager", "torchscript", "onnxruntime"],
               "batch_sizes": [1, 4, 16], "seq_lens": [16]}
SHALLOW, DEEP = Side(overrides=(("depth", 10),)), Side(overrides=(("depth", 11),))


def spec_of_flags(flags: list[str]) -> tuple[dict, str]:
    """`ftax sweep` flags (calibration's GRID) as a grid spec and its profile."""
    spec, profile = {}, "quick"
    for flag, value in zip(flags[::2], flags[1::2]):
        key = flag.lstrip("-").replace("-", "_")
        if key == "profile":
            profile = value
        else:
            items = value.split(",")
            spec[key] = [int(v) for v in items] if key in ("batch_sizes", "seq_lens") else items
    return spec, profile


def campaigns(args: argparse.Namespace) -> list[tuple[str, int, int, AbOptions]]:
    """(campaign, rounds, run index, options) of every A/B run, in the order they run: the two campaigns'
    runs alternate, so a machine that changes over the hours touches both."""
    same_spec, same_profile = spec_of_flags(GRID)
    runs = []
    for rounds in args.rounds:
        for i in range(max(args.detect_runs, args.same_pairs)):
            if i < args.detect_runs:
                runs.append(("detection", rounds, i, AbOptions(
                    out=args.out / f"detect-{rounds}r-{i}", a=SHALLOW, b=DEEP, spec=DETECT_SPEC, profile="quick",
                    device=args.device, rounds=rounds, seed=100 * i)))
            if i < args.same_pairs:
                runs.append(("false alarms", rounds, i, AbOptions(
                    out=args.out / f"same-{rounds}r-{i}", spec=same_spec, profile=same_profile,
                    device=args.device, rounds=rounds, seed=100 * i + 1)))
    return runs


def estimate_s(options: AbOptions, calibration: Path) -> tuple[float, str]:
    """The planner's seconds for one A/B run, and where its costs came from: each side's round is a process of
    its own that builds its models again, so a run costs 2 x rounds one-round sweeps under the shared rule (each
    planned with round 0's extras, FLOPs and parity: an estimate on the high side)."""
    plans = [plan_sweep([replace(g, rule=g.rule.share(options.rounds)) for g in side_grids(options, name)],
                        options.folder(name), 1, calibration_dir=calibration) for name in ("a", "b")]
    return options.rounds * sum(p.seconds for p in plans), plans[0].calibration.source


def rate(hits: int, n: int) -> dict:
    """A share with its 95% Clopper-Pearson interval."""
    if n == 0:
        return {"hits": 0, "n": 0, "rate": float("nan"), "low": float("nan"), "high": float("nan")}
    ci = stats.binomtest(hits, n).proportion_ci(0.95, method="exact")
    return {"hits": hits, "n": n, "rate": hits / n, "low": ci.low, "high": ci.high}


def summarize(campaign: str, tables: list[pd.DataFrame]) -> dict:
    """A campaign's rate (detection: `slower`; false alarms: not `same`) over every config verdict of its runs."""
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["verdict"])
    counts = verdict_counts(table)
    judged = len(table) - counts["one round"]
    hits = counts["slower"] if campaign == "detection" else counts["slower"] + counts["faster"]
    hit = (lambda v: v == "slower") if campaign == "detection" else (lambda v: v in ("slower", "faster"))
    runs_hit = sum(bool(t["verdict"].map(hit).any()) for t in tables)
    return {**rate(hits, judged), "verdicts": counts, "runs": len(tables),
            "runs_with_any": rate(runs_hit, len(tables)),
            "median_ratio": float(table["ratio"].median()) if judged else float("nan"),
            "median_min_detectable": float(table["min_detectable"].median()) if judged else float("nan")}


def percent(share: float) -> str:
    """A change as a percentage; past 1000% (one or two rounds under a strict correction) only that it is."""
    return f"{share:.1%}" if not share > 10 else "over 1000%"


def one_ab(args: argparse.Namespace) -> int:
    """Mode 3: one A/B of the sides the flags give, on `--grid` (default the calibration grid), its verdicts printed."""
    spec, profile = spec_of_flags(GRID)
    if args.grid:
        spec, profile = {}, load_grid_file(args.grid).get("profile") or profile
    options = AbOptions(out=args.out, a=side_from(args.a_python, args.a_threads, args.a_override),
                        b=side_from(args.b_python, args.b_threads, args.b_override), spec=spec,
                        grid_file=args.grid, profile=args.profile or profile, device=args.device,
                        rounds=args.rounds[0])
    seconds, source = estimate_s(options, args.calibration)
    print(f"plan: one A/B at {options.rounds} rounds, A = {options.a.label()}, B = {options.b.label()}; the planner's "
          f"estimate {seconds / 60:.0f} min (costs from {source}); records in {args.out}/a and {args.out}/b",
          flush=True)
    if args.plan:
        return 0
    done = run_ab(options)
    table = ab_verdicts(dataframe.load(done.a_dir), dataframe.load(done.b_dir))
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{verdict_counts(table)} at confidence {table['confidence'].max():.4f} per config (Sidak); {done}")
    if args.json:
        args.json.write_text(table.to_json(orient="records", indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=lambda s: [int(v) for v in s.split(",")], default=[ROUNDS["quick"]],
                        help=f"comma-separated round counts (default the quick profile's, {ROUNDS['quick']})")
    parser.add_argument("--detect-runs", type=int, default=3, help="A/B runs of depth 10 against 11 per round count")
    parser.add_argument("--same-pairs", type=int, default=3, help="same-stack A/B runs per round count")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("/tmp/ftax-ab-power"),
                        help="the runs' stores (each run's own folder emptied first)")
    parser.add_argument("--calibration", type=Path, default=Path("results"),
                        help="records the planner takes its costs from (default results)")
    parser.add_argument("--budget-s", type=float, help="start no A/B run whose estimate would pass this many seconds")
    parser.add_argument("--plan", action="store_true", help="print the plan and measure nothing")
    parser.add_argument("--store", type=Path, help="append the report to STORE/ab-power/<machine_id>.jsonl")
    mine = parser.add_argument_group("one A/B of your own (mode 3; resumes an unfinished run in --out)")
    for side in ("a", "b"):
        mine.add_argument(f"--{side}-python", help=f"side {side.upper()}'s interpreter (default this one)")
        mine.add_argument(f"--{side}-threads", type=int, help=f"side {side.upper()}'s torch threads")
        mine.add_argument(f"--{side}-override", action="append", metavar="KEY=N", help="a model override, repeatable")
    mine.add_argument("--grid", type=Path, help="a `ftax sweep --grid` YAML file (default the calibration grid)")
    mine.add_argument("--profile", help="stop rule (default the grid file's, else quick)")
    mine.add_argument("--json", type=Path, help="also write the verdicts here")
    args = parser.parse_args(argv)
    if any(getattr(args, f"{side}_{what}") is not None for side in ("a", "b") for what in ("python", "threads",
                                                                                             "override")):
        if min(args.rounds) < 2:
            parser.error("--rounds must be 2 or more")
        return one_ab(args)
    if min(args.rounds) < 2 or args.detect_runs < 0 or args.same_pairs < 0:
        parser.error("--rounds must be 2 or more, --detect-runs and --same-pairs 0 or more")

    runs = campaigns(args)
    planned = [estimate_s(options, args.calibration) for *_, options in runs]
    estimates, sources = [s for s, _ in planned], sorted({source for _, source in planned})
    processes = sum(2 * options.rounds for *_, options in runs)
    print(f"plan: {len(runs)} A/B runs ({sum(c == 'detection' for c, *_ in runs)} detection, "
          f"{sum(c != 'detection' for c, *_ in runs)} same-stack) at {', '.join(map(str, args.rounds))} rounds, "
          f"{processes} side processes; the planner's estimate {sum(estimates) / 60:.0f} min of sweeps "
          f"(costs from {'; '.join(sources)}), plus {processes} process starts"
          + (f"; budget {args.budget_s:.0f} s" if args.budget_s else ""), flush=True)
    if args.plan:
        return 0

    started, clock0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
    tables: dict[tuple[str, int], list[pd.DataFrame]] = {}
    walls, skipped = [], 0
    for (campaign, rounds, i, options), estimate in zip(runs, estimates):
        scale = sum(w["wall_s"] for w in walls) / sum(w["estimate_s"] for w in walls) if walls else 1.0
        if args.budget_s is not None and time.monotonic() - clock0 + scale * estimate > args.budget_s:
            skipped += 1
            continue
        shutil.rmtree(options.out, ignore_errors=True)  # a campaign's run starts afresh; nothing else in --out goes
        done = run_ab(options)
        table = ab_verdicts(dataframe.load(done.a_dir), dataframe.load(done.b_dir))
        tables.setdefault((campaign, rounds), []).append(table)
        walls.append({"campaign": campaign, "rounds": rounds, "run": i, "wall_s": done.wall_s,
                      "estimate_s": estimate, "failed_children": len(done.failed)})
        print(f"{campaign}, {rounds} rounds, run {i + 1}: {verdict_counts(table)} in {done.wall_s:.0f} s "
              f"(estimate {estimate:.0f} s)", file=sys.stderr, flush=True)

    report = {f"{campaign} @ {rounds} rounds": summarize(campaign, t) for (campaign, rounds), t in tables.items()}
    print("\n== rates over config verdicts, 95% Clopper-Pearson ==")
    for name, r in report.items():
        print(f"{name:28s} {r['hits']:3d}/{r['n']:<3d} = {r['rate']:.0%} [{r['low']:.0%}, {r['high']:.0%}]; "
              f"median B/A {r['median_ratio']:.3f}, median minimum detectable change "
              f"{percent(r['median_min_detectable'])}; {r['runs_with_any']['hits']} of {r['runs']} runs with any")
    if skipped:
        print(f"the budget left {skipped} of {len(runs)} runs unstarted")
    print(f"wall time {time.monotonic() - clock0:.0f} s")
    if args.store:
        fingerprint = env.fingerprint()
        stored = {"machine_id": fingerprint["machine_id"], "env": fingerprint, "started": started,
                  "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "plan": {"rounds": args.rounds, "detect_runs": args.detect_runs, "same_pairs": args.same_pairs,
                           "device": args.device, "budget_s": args.budget_s, "skipped": skipped,
                           "detection": options_record(runs[0][3]) if args.detect_runs else None,
                           "same_stack_grid": GRID},
                  "rates": report, "walls": walls}
        print(f"stored in {jsonl.append_side(args.store, KIND, fingerprint['machine_id'], stored)}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except FtaxError as error:  # bad input: one line, as the command line prints it
        raise SystemExit(f"ab_power: {error}")
