"""RQ4, does faster hardware help: the figures, captions and findings of 04-hardware (every machine's rows,
`ftax.pages.every_machine`)."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax import analysis, plots
from ftax.findings import band_phrase, knee_phrases, latency_phrases, no_data, rise_phrases
from ftax.pages import PageView
from ftax.text import join


def _fits(v: PageView) -> pd.DataFrame:
    return analysis.inflections(v.frame)


def latency_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against batch size, one panel per machine on one latency axis."""
    figure = plots.latency_vs_batch(v.frame, hue="model", style="dtype", panel="machine_label", fits=_fits(v),
                                    sharey=True, title=f"Latency vs batch size per machine, profile {v.profile}")
    rises = rise_phrases(v.frame, "batch_size", ["machine_label", "model", "dtype"])
    return figure, no_data(v.frame, v.here) or (
        f"Latency ({band_phrase(v.frame)}) against batch size on {v.here}, one panel per machine, same latency axis. "
        f"Shaded: the regimes fitted to each panel's longest curve; dotted: each curve's inflection. Latency first "
        f"exceeds its batch-1 value by 20% for {join(rises, 'no curve: none has two or more batch sizes')}.")


def latency_finding(v: PageView) -> str:
    """Each machine's latency at the smallest batch, fastest first."""
    frame = v.frame
    small = frame.batch_size.min() if not frame.empty else None
    machines = frame.machine_label.nunique() if not frame.empty else 0
    return no_data(frame, v.here) or (
        f"**Finding.** Latency at batch {small}, fastest first: "
        + join(latency_phrases(frame, small, ["machine_label", "dtype", "model"]), "none measured")
        + ("." if machines > 1 else ". Only one machine has records so far: add another (see "
           "{doc}`../reproduce`) to compare."))


def inflection_figure(v: PageView) -> tuple[Figure, str]:
    """The fitted inflection batch per machine and model."""
    fits = _fits(v)
    figure = plots.inflection_by_machine(fits, hue="model", title=f"Inflection batch per machine, profile {v.profile}")
    knees = knee_phrases(fits, ["machine_label", "model", "dtype"])
    return figure, no_data(v.frame, v.here) or (
        f"Fitted inflection batch (dot, 95% interval as bar) per machine and model on {v.here}; a hollow arrow marks "
        f"a curve still framework-bound at its largest measured batch. Fits: "
        f"{join(knees, 'none: every curve has fewer than three batch sizes')}.")


def inflection_finding(v: PageView) -> str:
    """Where each machine's curves turn compute-bound."""
    knees = knee_phrases(_fits(v), ["machine_label", "model", "dtype"])
    return no_data(v.frame, v.here) or ("**Finding.** " + (
        f"{join(knees)}." if knees else "No curve has the three or more batch sizes the fit needs; run a larger "
                                        "profile."))
