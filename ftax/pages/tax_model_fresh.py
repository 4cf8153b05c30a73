"""Page 08's fresh runs: each stored run of `benchmarks/tax_model_fresh.py` scored with its own probes.

Folded at the end of the page: each run is one visit of the machine, swept with the probe taken around it, so the
runs show how far the model's score moves from run to run, not a finding of their own."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ftax.pages import PageView
from ftax.pages.tax_model import PREDICTORS, bytes_counted, configs_of, misses, verdict
from ftax.read import curve_probes, tax_model_validation
from ftax.read.rows import with_columns
from ftax.read.text import join
from ftax.store import dataframe

FRESH_ROWS = ("model", "smallest", "two_point", "flops_scaled", "constant")


def _one_probe_phrase(configs: pd.DataFrame, probes: dict[tuple, tuple]) -> str:
    """How the model scores when every curve of a run is read with one of its probes alone, the first or the
    last, instead of those around it averaged: how much the probe's own run-to-run spread moves the verdict."""
    if all(len(found) < 2 for found in probes.values()):
        return ""
    counts = []
    for which, pick in (("first", 0), ("last", -1)):
        chosen = {k: found[pick] for k, found in probes.items()}
        one = tax_model_validation.scores(tax_model_validation.validate(configs, chosen))
        row = one.set_index("predictor").loc["model"]
        counts.append(f"{int(row.curves_within)} of {int(row.curves)} with the {which} alone")
    stamps = pd.to_datetime([p.timestamp for found in probes.values() for p in found], utc=True, errors="coerce")
    apart = (f"taken {(stamps.max() - stamps.min()).total_seconds() / 60:.0f} minutes apart" if stamps.notna().all()
             else "of unrecorded times")
    return (f" Read with one probe instead of those around each curve: {join(counts)} (the first and last probes "
            f"were {apart}).")


def fresh_runs_markdown(v: PageView) -> str:
    """The scores on each stored fresh run (`results/tax-fresh/<run>/`, `benchmarks/tax_model_fresh.py`): the
    tax-model study swept with the probe taken just before and after it, so that no day's drift of the machine
    lies between a curve and the probe it is read with, as it may on the book's own records."""
    runs = sorted(p for p in (Path(v.results_dir) / tax_model_validation.FRESH_RUNS).glob("*") if p.is_dir())
    blocks = []
    for run in runs:
        visits = with_columns(dataframe.load(run))
        if visits.empty:
            continue
        configs = configs_of(visits)
        probes = curve_probes.stored_probes(run)
        checked = tax_model_validation.validate(configs, probes)
        table = tax_model_validation.scores(checked).set_index("predictor")
        if "model" not in table.index:
            continue
        span = f"{visits['timestamp'].min():%Y-%m-%d %H:%M}-{visits['timestamp'].max():%H:%M} UTC"
        counted = bytes_counted(configs) or "no"
        laddered = all(p.write_bytes for found in probes.values() for p in found)
        lines = [f"**{visits['machine_label'].iloc[0]}, {span}** ({len(visits)} visits; 1-min load up to "
                 f"{pd.to_numeric(visits['env_load_avg_1m'], errors='coerce').max():.2f}; bytes counted: "
                 f"{counted}; probe's write ladder: {'yes' if laddered else 'no'}; probes per precision: "
                 f"{join(sorted({str(len(found)) for found in probes.values()}))})", "",
                 "| predictor | curves | all held-out batches within 25% | median abs. error | surely within | "
                 "surely out |", "|---|---|---|---|---|---|"]
        for name in (n for n in FRESH_ROWS if n in table.index):
            r = table.loc[name]
            lines.append(f"| {PREDICTORS[name]} | {int(r.curves)} | {int(r.curves_within)} ({r.share_within:.0%}) | "
                         f"{r.median_abs_err:.0%} | {int(r.curves_surely_within)} | {int(r.curves_surely_out)} |")
        m = table.loc["model"]
        said = verdict(int(m.curves), int(m.curves_surely_within), int(m.curves_surely_out))
        lines += ["", f"The model from batch 1 alone {said} on this run ({int(m.curves_within)} of "
                      f"{int(m.curves)} curves within 25% at the estimates; misses: {misses(checked)})."
                      f"{_one_probe_phrase(configs, probes)}"]
        blocks.append("\n".join(lines))
    if not blocks:
        return ("No fresh run is stored with these records (`python benchmarks/tax_model_fresh.py --out DIR --store "
                f"{v.results_dir}` makes one), so the model is scored only against the probe stored above.")
    return "\n\n".join(blocks)
