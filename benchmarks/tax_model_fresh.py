"""Page 08's scores on curves measured afresh, with the throughput probe taken between their rounds.

Page 08 scores the model of the tax on the book's stored curves with the probe stored for the machine, which may
have been measured on another day; on a shared VM the machine's speed drifts between days. This study removes that
confound: it sweeps the tax-model study into a scratch directory (never the book's results/) in the profile's
rounds, probes each precision before every round and after the last, and prints
`ftax.read.tax_model_validation.scores` for every predictor with (a) each curve read with the probes around it averaged
(what page 08 does), (b) the first probe alone, (c) the last alone, and (d) with `--compare` the newest probe stored
in another results directory (say, the book's, from another day).

With `--store results`, the run's records and probes are copied to results/tax-fresh/<machine_id>-<time>/, where
page 08 reads every stored run ("Curves measured with their probe"); the book's own loader never reads them.

`--studies` names the studies whose batch curves it sweeps (`studies.batch_curve_grids`, with the smallest shape
of each forward curve): by default the tax-model study's six BERT curves (about 5 minutes at the quick profile on
the 2-core EPYC); `all`, every batch curve of the book, the decoders' too; `all-forward`, every forward curve, what
page 08's main table scores (670 visits in 527 s on 2026-12-04, plus about 20 s of probes per round).

Usage, on an idle machine (nothing else measuring: two processes on 2 cores inflate latency many times):
    python benchmarks/tax_model_fresh.py --out /tmp/tax-fresh [--profile quick] [--studies tax-model|all|all-forward|
        NAME,...] [--compare results] [--store results]
The sweep resumes: a second run with the same --out only scores (and stores).
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import pandas as pd

from ftax.read import curve_probes, tax_model_validation
from ftax.store import dataframe
from ftax.study import studies
from ftax.study.catalogue import STUDIES
from ftax.sweep.profiles import PROFILES, ROUNDS
from ftax.pages.tax_model import configs_of

SHOWN = ["curves", "curves_within", "median_abs_err", "curves_surely_within", "curves_surely_out"]


ALIASES = {"all": STUDIES, "all-forward": tuple(s for s in STUDIES if s != "decode")}


def measure(out: str, profile: str, among: tuple[str, ...]) -> None:
    """Sweep the batch curves of the studies `among` with the probes `studies.measure_grids` takes: before each
    round and after the last; a rerun that measures nothing probes nothing."""
    grids = studies.batch_curve_grids(profile, "cpu", among)
    start = time.time()
    summary = studies.measure_grids(grids, out, ROUNDS[profile], progress=True, probes=True)
    print(summary, f"({time.time() - start:.0f} s)")


def score_tables(out: str, compare: str | None) -> dict[str, pd.DataFrame]:
    """`scores` per way of choosing the probe (see the module docstring)."""
    configs = configs_of(dataframe.load(out))
    probes = curve_probes.stored_probes(out)
    ways = {"around each curve": probes, "first": {k: v[0] for k, v in probes.items()},
            "last": {k: v[-1] for k, v in probes.items()}}
    if compare:
        ways[f"newest in {compare}"] = {k: v[-1] for k, v in curve_probes.stored_probes(compare).items()}
    return {name: tax_model_validation.scores(tax_model_validation.validate(configs, chosen))
                  .set_index("predictor")[SHOWN]
            for name, chosen in ways.items()}


def store(out: str, results_dir: str) -> Path:
    """Copy the run's records and probes to `results_dir`/tax-fresh/<machine_id>-<first visit's time>/."""
    visits = dataframe.load(out)
    start = pd.Timestamp(visits["timestamp"].min()).strftime("%Y%m%dT%H%M")
    target = Path(results_dir) / tax_model_validation.FRESH_RUNS / f"{visits['machine_id'].iloc[0]}-{start}"
    shutil.copytree(out, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="scratch results directory (not the book's results/)")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--studies", default="tax-model",
                        help="whose batch curves to sweep: comma-separated study names, all or all-forward")
    parser.add_argument("--compare", help="also score with the newest probe stored in this results directory")
    parser.add_argument("--store", help="copy the run to STORE/tax-fresh/ for page 08 (e.g. results)")
    args = parser.parse_args()
    among = ALIASES.get(args.studies) or tuple(args.studies.split(","))
    unknown = sorted(set(among) - set(STUDIES))
    if unknown:
        parser.error(f"unknown studies {', '.join(unknown)}; allowed: {', '.join(STUDIES)}, all, all-forward")
    measure(args.out, args.profile, among)
    for name, table in score_tables(args.out, args.compare).items():
        print(f"\nprobe: {name}\n{table.to_string()}")
    if args.store:
        print(f"\nstored in {store(args.out, args.store)}")


if __name__ == "__main__":
    main()
