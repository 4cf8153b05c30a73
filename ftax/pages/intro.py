"""The headline findings of 00-intro: one sentence per case study, from the records each study holds.

`studies` maps each study's name to what `ftax.studies.open_study` returned for it (read only).
"""
from __future__ import annotations

from typing import Mapping

from ftax import analysis
from ftax.decomposition_findings import share_phrases
from ftax.findings import (growth_phrases, knee_phrases, rise_phrases, scaling_phrases, speedup_phrases, verdict_note,
                           where)
from ftax.pages import PageView, every_machine, view
from ftax.pages import framework_bound as framework_bound_page
from ftax.rows import rows_of
from ftax.text import join


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
            f"profile `{data.profile}`; the case studies show {where(machine, data.profile)}.")


def framework_bound(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ1: where eager FP32 latency starts to rise with the batch, and what the batch costs."""
    v = view(studies["framework-bound"], device)
    batch = rows_of(v.frame, v.grids, varying="batch_sizes")
    eager32 = batch[(batch.backend == "eager") & (batch.dtype == "fp32")]
    rises = rise_phrases(eager32, "batch_size", ["model"])
    ratios = framework_bound_page.ratios(v, "batch_size")
    ratios = ratios[(ratios.backend == "eager") & (ratios.dtype == "fp32")] if ratios is not None else None
    verdict = verdict_note(framework_bound_page.ends(ratios, "batch_size"), "ratio_low", "ratio_high",
                           "latency rises from the smallest to the largest batch")
    return "**Framework-bound (RQ1).** " + (
        f"In FP32 eager mode, latency first exceeds its batch-1 value by 20% for {join(rises)}; "
        f"{join(scaling_phrases(eager32, 'batch_size', ['model'], ratios))}. {verdict}" if rises else
        "No batch sweep has been measured yet.")


def paradigms(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ2: each runtime's speedup over eager at the smallest and the largest batch."""
    speedups = analysis.speedups(view(studies["paradigms"], device).visits)
    if speedups.empty:
        return "**Paradigms (RQ2).** No runtime besides eager has been measured alongside it yet."
    small, large = speedups.batch_size.min(), speedups.batch_size.max()
    ends = speedups[speedups.batch_size.isin([small, large])]
    return (f"**Paradigms (RQ2).** Speedup over eager at batch {small}: {join(speedup_phrases(speedups, small))}; "
            f"at batch {large}: {join(speedup_phrases(speedups, large))}. "
            f"{verdict_note(ends, 'speedup_low', 'speedup_high', 'speedups')}")


def model_design(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ3: what doubling BERT's width and depth costs."""
    v = view(studies["model-design"], device)
    growth = growth_phrases(rows_of(v.frame, v.grids, names=["width-depth"]))
    return "**Model design (RQ3).** " + (f"For BERT, {join(growth)}." if growth else
                                         "The width x depth grid has not been measured yet.")


def hardware(studies: Mapping[str, object]) -> str:
    """RQ4: the fitted inflections on every machine."""
    knees = knee_phrases(analysis.inflections(every_machine(studies["hardware"]).frame), ["machine_label", "model"])
    return "**Hardware (RQ4).** " + (f"Fitted inflections: {join(knees)}." if knees else
                                     "No machine has a batch sweep long enough to fit an inflection yet.")


def where_time_goes(studies: Mapping[str, object], device: str = "auto") -> str:
    """Overhead's share of one call at the smallest and largest batch, per model and runtime."""
    shares = share_phrases(view(studies["where-time-goes"], device).frame, ["model", "backend"])
    return "**Where the time goes.** " + (
        f"Overhead (wall time not spent in compute) as a share of one call: {'; '.join(shares)}." if shares else
        "No config has been measured with a decomposition yet.")
