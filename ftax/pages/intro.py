"""The headline findings of 00-intro: per case study, the verdicts of the claims it tests and what it measured.

The verdicts are those of the paper's claims in the claims table of 07-claims, computed when the page is built.

`studies` maps each study's name to what `ftax.study.studies.open_study` returned for it (read only); `table` is
`ftax.pages.claims.table(studies)`, computed once by the page (each function computes it when not given).
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from ftax.read import analysis
from ftax.read.decomposition_findings import share_phrases
from ftax.read.findings import knee_phrases, scaling_phrases, speedup_phrases, verdict_note
from ftax.read.load_notes import where
from ftax.pages import PageView, every_machine, view
from ftax.pages import claims as claims_page
from ftax.pages import decode as decode_page
from ftax.pages import framework_bound as framework_bound_page
from ftax.pages import model_design as model_design_page
from ftax.read.rows import rows_of
from ftax.read.text import join


def verdicts(studies: Mapping[str, object], letters: str, table: pd.DataFrame | None = None) -> str:
    """The verdict sentences of the claims in `letters`, quoted from the claims table, then 'Measured:' (what the
    headline goes on to state)."""
    table = claims_page.table(studies) if table is None else table
    return " ".join(claims_page.sentences(table, letters)) + " Measured:"


def views(studies: Mapping[str, object], device: str = "auto") -> dict[str, PageView]:
    """Each study's page view (one machine each, as its page shows it)."""
    return {name: view(data, device) for name, data in studies.items()}


def headline(studies: Mapping[str, object], device: str = "auto") -> str:
    """How many records the headlines rest on, and which machine the case studies show."""
    shown = views(studies, device)
    machine = shown["framework-bound"].machine or next((v.machine for v in shown.values() if v.machine), None)
    data = studies["hardware"]
    records = data.all
    return (f"## Headline findings\n\nComputed when this page was built, from the {len(records)} records in "
            f"`{data.results_dir}` ({records.machine_label.nunique() if not records.empty else 0} machine(s)); "
            f"profile `{data.profile}`; the case studies show {where(machine, data.profile)}. Each headline first "
            f"quotes, for every machine, the verdicts of the claims its case study tests (the paper's, and our (h) on "
            f"decoding; the table of "
            f"{{doc}}`07-claims`), then states what the records measured.")


def framework_bound(studies: Mapping[str, object], device: str = "auto", table: pd.DataFrame | None = None) -> str:
    """RQ1: the verdicts of claims (a) and (e), then what the batch costs in eager FP32. Where each curve's flat
    regime ends (claim (a)'s rule, per curve) is said once, under RQ4."""
    v = view(studies["framework-bound"], device)
    batch = rows_of(v.frame, v.grid_rows, varying="batch_sizes")
    eager32 = batch[(batch.backend == "eager") & (batch.dtype == "fp32")]
    ratios = framework_bound_page.ratios(v, "batch_size")
    ratios = ratios[(ratios.backend == "eager") & (ratios.dtype == "fp32")] if ratios is not None else None
    verdict = verdict_note(framework_bound_page.ends(ratios, "batch_size"), "ratio_low", "ratio_high",
                           "latency rises from the smallest to the largest batch")
    costs = scaling_phrases(eager32, "batch_size", ["model"], ratios)
    return f"**Framework-bound (RQ1).** {verdicts(studies, 'ae', table)} " + (
        f"in FP32 eager mode, {join(costs)}. {verdict}" if costs else "no batch sweep yet.") + " Details: {doc}`01-framework-bound`."


def paradigms(studies: Mapping[str, object], device: str = "auto", table: pd.DataFrame | None = None) -> str:
    """RQ2: the verdict of claim (b); each runtime's speedup over eager at the smallest and the largest batch."""
    speedups = analysis.speedups(view(studies["paradigms"], device).visits)
    head = f"**Paradigms (RQ2).** {verdicts(studies, 'b', table)} "
    link = " Details: {doc}`02-framework-paradigms`."
    if speedups.empty:
        return head + "no runtime besides eager has been measured alongside it yet." + link
    small, large = speedups.batch_size.min(), speedups.batch_size.max()
    ends = speedups[speedups.batch_size.isin([small, large])]
    return (f"{head}speedup over eager at batch {small}: {join(speedup_phrases(speedups, small))}; "
            f"at batch {large}: {join(speedup_phrases(speedups, large))}. "
            f"{verdict_note(ends, 'speedup_low', 'speedup_high', 'speedups')}{link}")


def model_design(studies: Mapping[str, object], device: str = "auto", table: pd.DataFrame | None = None) -> str:
    """RQ3: the verdicts of claims (c) and (d); what doubling BERT's width and depth costs."""
    v = view(studies["model-design"], device)
    growth = model_design_page.factor_phrases(v)
    return (f"**Model design (RQ3).** {verdicts(studies, 'cd', table)} "
            + (f"for BERT, {join(growth)}." if growth else "the width x depth grid has not been measured yet.")
            + " Details: {doc}`03-model-design`.")


def hardware(studies: Mapping[str, object], table: pd.DataFrame | None = None) -> str:
    """RQ4: the verdict of claim (f); each machine's framework-bound regimes and inflections by claim (a)'s rule."""
    regimes = analysis.framework_bound_regimes(every_machine(studies["hardware"]).visits)
    knees = knee_phrases(regimes, ["machine_label", "model", "dtype"])
    return (f"**Hardware (RQ4).** {verdicts(studies, 'f', table)} "
            + (f"by claim (a)'s rule, {'; '.join(knees)}." if knees else
               "no machine has a batch sweep with batch 1 and 4 yet, which claim (a)'s rule needs.")
            + " Details: {doc}`04-hardware`.")


def where_time_goes(studies: Mapping[str, object], device: str = "auto", table: pd.DataFrame | None = None) -> str:
    """The verdict of claim (g); overhead's share of one call at the smallest and largest batch."""
    shares = share_phrases(view(studies["where-time-goes"], device).frame, ["model", "backend"])
    return f"**Where the time goes.** {verdicts(studies, 'g', table)} " + (
        f"overhead (wall time not spent in compute) as a share of one call, one visit per config (no between-run "
        f"interval): {'; '.join(shares)}."
        if shares else "no config has been measured with a decomposition yet.") + (
        " Details: {doc}`05-where-time-goes`.")


def decoding(studies: Mapping[str, object], device: str = "auto", table: pd.DataFrame | None = None) -> str:
    """RQ5 (ours, not the paper's): the verdict of claim (h); each runtime's decode-step speedup over eager at the
    smallest batch, paired by round."""
    v = view(studies["decode"], device)
    speedups = analysis.speedups(decode_page.decode_visits(v))
    speedups = speedups[speedups.backend != "eager"] if not speedups.empty else speedups
    head = f"**Decoding (RQ5, ours).** {verdicts(studies, 'h', table)} "
    link = " Details: {doc}`09-decode`."
    if speedups.empty:
        return head + "no runtime besides eager has decoded alongside it yet." + link
    small = speedups.batch_size.min()
    return (f"{head}one decode step's speedup over eager at batch {small}: "
            f"{join(speedup_phrases(speedups, small, ('model',)))}. "
            f"{verdict_note(speedups[speedups.batch_size == small], 'speedup_low', 'speedup_high', 'speedups')}{link}")
