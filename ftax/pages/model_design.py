"""RQ3, does model design matter when framework-bound: the figures, captions and findings of 03-model-design."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive, plots
from ftax.read.findings import band_phrase, growth_phrases, no_data, ratio_phrases
from ftax.figures.interactive import Interactive, hint
from ftax.pages import PageView
from ftax.pages.claims import on_page
from ftax.read.rows import rows_of
from ftax.read.text import join, sig

BASELINE = "bert-base"


def grid_rows(v: PageView) -> pd.DataFrame:
    """The rows of the BERT width x depth grid."""
    return rows_of(v.frame, v.grid_rows, names=["width-depth"])


def efficient_rows(v: PageView) -> pd.DataFrame:
    """The rows of the efficient architectures compared with BERT-base."""
    return rows_of(v.frame, v.grid_rows, names=["efficient"])


def heatmap_figure(v: PageView) -> tuple[Figure, str]:
    """Latency over width x depth, one panel per batch size, with the fitted doubling factors."""
    grid = grid_rows(v)
    figure = plots.latency_heatmap(grid, title=f"BERT width x depth: {v.machine}, profile {v.profile}")
    return figure, no_data(grid, v.here) or (
        f"Median latency (ms) of BERT with the given hidden size (width) and number of layers (depth) on {v.here}, "
        f"sequence length {join(sorted(map(str, grid.seq_len.unique())), 'not measured')}, one panel per batch "
        f"size. Fitted on log-log axes: {join(growth_phrases(grid), 'too few grid points for a fit')}.")


def heatmap_finding(v: PageView) -> str:
    """What doubling width and depth cost in latency and in FLOPs."""
    grid = grid_rows(v)
    return no_data(grid, v.here) or (
        f"**Finding.** On {v.here}: " + join(growth_phrases(grid), "the grid has too few points to compare width and "
                                             "depth")
        + ".")


def span_phrases(grid: pd.DataFrame) -> list[str]:
    """'at batch 1, 38x the FLOPs cost 2.1x the latency' per batch size, largest over smallest configuration."""
    ok = grid[grid.status == "ok"]
    return [f"at batch {b}, {sig(part.flops.max() / part.flops.min())}x the FLOPs cost "
            f"{sig(part.estimate_ms.max() / part.estimate_ms.min())}x the latency" for b, part in ok.groupby("batch_size")]


def flops_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against FLOPs per forward for each width x depth configuration."""
    grid = grid_rows(v)
    figure = plots.flops_vs_latency(grid, hue="depth", title=f"FLOPs vs latency: {v.machine}, profile {v.profile}")
    return figure, no_data(grid, v.here) or (
        f"Median latency against FLOPs per forward for each width x depth configuration on {v.here}; points of "
        f"equal depth are joined in order of width. From the smallest to the largest configuration: "
        f"{join(span_phrases(grid), 'none measured')}.")


def flops_finding(v: PageView) -> str:
    """How much more latency the largest configuration costs than the smallest, against its FLOPs."""
    grid = grid_rows(v)
    return no_data(grid, v.here) or (f"**Finding.** On {v.here}, from the smallest to the largest configuration: "
                                     + join(span_phrases(grid), "no grid was measured") + ".")


def baseline_ratios(efficient: pd.DataFrame) -> list[str]:
    """'at batch 1: distilbert: 0.52x the latency, ...' per batch size where BERT-base was measured."""
    batches = sorted(efficient[efficient.status == "ok"].batch_size.unique())
    return [f"at batch {b}: {join(ratio_phrases(efficient, BASELINE, b))}"
            for b in batches if ratio_phrases(efficient, BASELINE, b)]


def models_figure(v: PageView) -> tuple[Figure, str]:
    """Latency of each efficient architecture, with its latency and FLOPs relative to BERT-base."""
    efficient = efficient_rows(v)
    figure = plots.model_bars(efficient, baseline=BASELINE,
                              title=f"Architectures vs BERT-base: {v.machine}, profile {v.profile}")
    ratios = baseline_ratios(efficient)
    return figure, no_data(efficient, v.here) or (
        f"Latency ({band_phrase(efficient, 'error bars')}) of each architecture on {v.here}, sequence length "
        f"{join(sorted(map(str, efficient.seq_len.unique())), 'not measured')}, one panel per batch size; "
        f"labels give latency and FLOPs relative to BERT-base where it was measured. "
        + (f"Relative to BERT-base, {'; '.join(ratios)}." if ratios else
           "BERT-base was not measured in this profile, so no ratios are given."))


def models_finding(v: PageView) -> str:
    """The architectures' latency and FLOPs relative to BERT-base."""
    efficient = efficient_rows(v)
    ratios = baseline_ratios(efficient)
    return no_data(efficient, v.here) or (
        f"**Finding.** On {v.here}: " + ("; ".join(ratios) if ratios else
                                         "BERT-base is not part of this profile's comparison, so the architectures "
                                         "are shown side by side without ratios")
        + ".")


def claim_verdicts(v: PageView) -> str:
    """The verdicts of claims (c), width nearly free and depth not, and (d), efficient architectures not faster,
    on this page's records."""
    return on_page(v.visits, "cd")


def heatmap_chart(v: PageView) -> tuple[Interactive, str]:
    """`heatmap_figure` for the hosted page: the same rows as an interactive chart, the figure as its static twin."""
    figure, caption = heatmap_figure(v)
    chart = interactive.heatmap_chart(grid_rows(v), title=f"BERT width x depth: {v.machine}, profile {v.profile}")
    return Interactive(chart, figure, "rq3-heatmap"), caption + (f" {hint('batch size')}" if chart else "")
