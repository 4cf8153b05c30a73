"""RQ4, does faster hardware help: the figures, captions and findings of 04-hardware.

Its figures and findings read every machine's rows (`ftax.pages.every_machine`)."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive, plots
from ftax.read import analysis
from ftax.read.findings import band_phrase, knee_phrases, latency_phrases, no_data, regime_rule
from ftax.figures.interactive import Interactive, hint
from ftax.pages import PageView, figure_block, glue_figure, glue_markdown, machines_section, your_machine
from ftax.read.text import join, sig


def _fits(v: PageView) -> pd.DataFrame:
    """Every machine's batch curves with their framework-bound regime and inflection by claim (a)'s rule."""
    return analysis.framework_bound_regimes(v.visits)


def latency_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against batch size, one panel per machine on one latency axis."""
    figure = plots.latency_vs_batch(v.frame, hue="model", style="dtype", panel="machine_label",
                                    fits=analysis.with_regime(_fits(v)),
                                    sharey=True, title=f"Latency vs batch size per machine, profile {v.profile}")
    return figure, no_data(v.frame, v.here) or (
        f"Latency ({band_phrase(v.frame)}) against batch size on {v.here}, one panel per machine, same latency axis. "
        f"Shaded only where a curve has a framework-bound regime by claim (a)'s rule, up to its inflection (dotted).")


def latency_finding(v: PageView) -> str:
    """Each machine's latency at the smallest batch, fastest first."""
    frame = v.frame
    small = frame.batch_size.min() if not frame.empty else None
    return no_data(frame, v.here) or (
        f"**Finding.** Latency at batch {small}, fastest first: "
        + join(latency_phrases(frame, small, ["machine_label", "dtype", "model"]), "none measured")
        + ".")


def inflection_figure(v: PageView) -> tuple[Figure, str]:
    """The inflection batch per machine and model, for the curves with a framework-bound regime."""
    fits = _fits(v)
    figure = plots.inflection_by_machine(analysis.with_regime(fits), hue="model",
                                         title=f"Inflection batch per machine, profile {v.profile}")
    return figure, no_data(v.frame, v.here) or (
        f"Inflection batch (dot; bar: from the first batch whose T(b)/T(1) may exceed "
        f"{sig(analysis.FLAT_MAX_RATIO)} to the first where it surely does) per machine and model on {v.here}, for "
        f"the curves with a framework-bound regime by claim (a)'s rule; a hollow arrow marks a curve still flat at "
        f"its largest measured batch.")


def inflection_finding(v: PageView) -> str:
    """Which curves have a framework-bound regime on each machine, and where it ends."""
    knees = knee_phrases(_fits(v), ["machine_label", "model", "dtype"])
    return no_data(v.frame, v.here) or ("**Finding.** " + (
        f"{regime_rule()} Per curve: {'; '.join(knees)}." if knees else
        "No curve has the batch 1 and batch 4 that claim (a)'s rule needs; run a larger profile."))


def latency_chart(v: PageView) -> tuple[Interactive, str]:
    """`latency_figure` for the hosted page: one model at a time (the menu), one curve per machine, so machines
    are compared on one axis without mixing their records; the figure is its static twin."""
    figure, caption = latency_figure(v)
    chart = interactive.latency_chart(v.frame, "batch_size", color="machine_label", panel="model", dash="dtype",
                                      title=f"Latency vs batch size per machine, profile {v.profile}")
    return Interactive(chart, figure, "rq4-latency"), caption + (f" {hint('model')}" if chart else "")


def comparison_markdown(v: PageView) -> str:
    """The page's figures and findings, as glued Markdown, where two or more machines (or devices) have records,
    else "" (the page is then `second_machine_markdown`)."""
    return machines_section(v.frame, "## Latency against batch size, per machine\n\n" + figure_block("rq4-latency")
                            + "\n\n## Where each machine leaves the flat regime\n\n" + figure_block("rq4-inflection"))


def second_machine_markdown(v: PageView) -> str:
    """While fewer than two machines (or devices) have records: what a second one adds and how to contribute it;
    "" once the comparison is shown."""
    if comparison_markdown(v):
        return ""
    shown = sorted(v.frame[v.frame.status == "ok"].machine_label.unique()) if not v.frame.empty else []
    return ("## What a second machine adds\n\n"
            f"Comparing hardware needs two machines or devices measured with the same code and profile; so far "
            f"{join([f'**{m}**' for m in shown], 'no machine')} has records for this study. A second one tests "
            f"claim (f), that a faster device stays framework-bound up to larger batches, and claim (g) of {{doc}}`05-where-time-goes`, that overhead is a "
            "larger share of its latency. To add yours: run `ftax book` (or this page with papermill, below) on "
            "your machine, which writes `results/<machine_id>.jsonl`, and commit that file; see "
            "{doc}`../reproduce`. This page then shows the machines' latency curves and inflections side by side.")


def glue_page(v: PageView) -> None:
    """Glue what page 04 places: the machines side by side where two have records, with each set against the
    book's machine by `ftax compare` (`ftax.pages.your_machine`), else what a second one adds."""
    comparison = comparison_markdown(v)
    if comparison:
        glue_figure("rq4-latency", latency_chart(v), latency_finding(v))
        glue_figure("rq4-inflection", inflection_figure(v), inflection_finding(v))
    glue_markdown("rq4-comparison", comparison)
    glue_markdown("rq4-your-machine", your_machine.section_markdown(v))
    glue_markdown("rq4-second-machine", second_machine_markdown(v))
