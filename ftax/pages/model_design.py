"""RQ3, does model design matter when framework-bound: the figures, captions and findings of 03-model-design."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive, plots
from ftax.read.findings import band_phrase, doubling_factor, no_data, ratio_text
from ftax.read.ratios import doubling_factors, paired_ratios, round_ratio
from ftax.figures.interactive import Interactive, hint
from ftax.pages import PageView, glue_figure
from ftax.read.rows import rows_of
from ftax.read.text import join, sig

BASELINE = "bert-base"


def grid_rows(v: PageView) -> pd.DataFrame:
    """The rows of the BERT width x depth grid."""
    return rows_of(v.frame, v.grid_rows, names=["width-depth"])


def efficient_rows(v: PageView) -> pd.DataFrame:
    """The rows of the efficient architectures compared with BERT-base."""
    return rows_of(v.frame, v.grid_rows, names=["efficient"])


def factor_phrases(v: PageView) -> list[str]:
    """'at batch 1, doubling width multiplies latency by 2.2x [1.9, 2.3], 5 rounds (FLOPs by 4), ...' per batch size:
    the paired per-round fit (`ftax.read.ratios.doubling_factors`), the one estimate of the factor the page states."""
    grid, visits = grid_rows(v), rows_of(v.visits, v.grid_rows, names=["width-depth"])
    phrases = []
    for batch in sorted(grid[grid.status == "ok"].batch_size.unique()) if not grid.empty else []:
        factors = doubling_factors(visits, batch) if not visits.empty else {}
        flops = {along: doubling_factor(grid, along, batch, "flops") for along in ("width", "depth")}
        if factors:
            phrases.append(f"at batch {batch}, " + " and ".join(
                f"doubling {along} multiplies latency by {ratio_text(*factors[along], 3)}"
                + (f" (FLOPs by {sig(flops[along])})" if flops[along] else "") for along in ("width", "depth")))
    return phrases


FIT = ("Each factor is fitted within each round (least squares of log latency on log width and log depth over the "
       "grid, the fit claim (c) makes), then summarised over rounds: the median with its 95% interval.")


def heatmap_figure(v: PageView) -> tuple[Figure, str]:
    """Latency over width x depth, one panel per batch size."""
    grid = grid_rows(v)
    figure = plots.latency_heatmap(grid, title=f"BERT width x depth: {v.machine}, profile {v.profile}")
    return figure, no_data(grid, v.here) or (
        f"Median latency (ms) of BERT with the given hidden size (width) and number of layers (depth) on {v.here}, "
        f"sequence length {join(sorted(map(str, grid.seq_len.unique())), 'not measured')}, one panel per batch "
        f"size.")


def heatmap_finding(v: PageView) -> str:
    """What doubling width and depth cost in latency (paired by round) and in FLOPs."""
    grid = grid_rows(v)
    return no_data(grid, v.here) or (
        f"**Finding.** On {v.here}: " + join(factor_phrases(v), "the grid has too few points to compare width and "
                                             "depth") + f". {FIT}")


def span_phrases(v: PageView) -> list[str]:
    """'at batch 1, 64x the FLOPs cost 14x [12, 15], 5 rounds the latency' per batch size, largest over smallest
    configuration, the latency ratio paired by round (`ftax.read.ratios.round_ratio`)."""
    ok = grid_rows(v)
    ok = ok[ok.status == "ok"] if not ok.empty else ok
    visits = rows_of(v.visits, v.grid_rows, names=["width-depth"])
    phrases = []
    for b, part in ok.groupby("batch_size"):
        small, large = part.loc[part.flops.idxmin()], part.loc[part.flops.idxmax()]
        at = visits[visits.batch_size == b]
        ratio = round_ratio(*(at[(at.width == c.width) & (at.depth == c.depth)] for c in (large, small)))
        phrases.append(f"at batch {b}, {sig(large.flops / small.flops)}x the FLOPs cost {ratio_text(*ratio, 3)} "
                       f"the latency")
    return phrases


def flops_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against FLOPs per forward for each width x depth configuration."""
    grid = grid_rows(v)
    figure = plots.flops_vs_latency(grid, hue="depth", title=f"FLOPs vs latency: {v.machine}, profile {v.profile}")
    return figure, no_data(grid, v.here) or (
        f"Median latency against FLOPs per forward for each width x depth configuration on {v.here}; points of "
        f"equal depth are joined in order of width.")


def flops_finding(v: PageView) -> str:
    """How much more latency the largest configuration costs than the smallest, against its FLOPs."""
    grid = grid_rows(v)
    return no_data(grid, v.here) or (f"**Finding.** On {v.here}, from the smallest to the largest configuration: "
                                     + join(span_phrases(v), "no grid was measured") + ".")


def baseline_ratios(v: PageView) -> list[str]:
    """'at batch 1: distilbert 0.46x [0.36, 0.72], 5 rounds the latency (0.5x the FLOPs), ...' of BERT-base per
    batch size, the latency ratio paired by round (`ftax.read.ratios.paired_ratios`)."""
    efficient, visits = efficient_rows(v), rows_of(v.visits, v.grid_rows, names=["efficient"])
    ok = efficient[efficient.status == "ok"] if not efficient.empty else efficient
    if ok.empty or BASELINE not in set(ok.model) or visits.empty:
        return []
    pairs = paired_ratios(visits, "model", BASELINE)
    phrases = []
    for b, part in pairs.groupby("batch_size", sort=True):
        base = ok[(ok.model == BASELINE) & (ok.batch_size == b)]
        listed = []
        for r in part.sort_values("ratio", ascending=False).itertuples():
            other = ok[(ok.model == r.model) & (ok.batch_size == b)]
            flops = (f" ({sig(other.flops.iloc[0] / base.flops.iloc[0], 2)}x the FLOPs)"
                     if len(other) and len(base) and pd.notna(other.flops.iloc[0]) and base.flops.iloc[0] else "")
            listed.append(f"{r.model} {ratio_text(1 / r.ratio, 1 / r.ratio_high, 1 / r.ratio_low, r.rounds, 3)}"
                          f"{flops}")
        phrases.append(f"at batch {b}: {join(listed)}")
    return phrases


def models_figure(v: PageView) -> tuple[Figure, str]:
    """Latency of each efficient architecture, with its latency and FLOPs relative to BERT-base."""
    efficient = efficient_rows(v)
    figure = plots.model_bars(efficient, baseline=BASELINE,
                              title=f"Architectures vs BERT-base: {v.machine}, profile {v.profile}")
    return figure, no_data(efficient, v.here) or (
        f"Latency ({band_phrase(efficient, 'error bars')}) of each architecture on {v.here}, sequence length "
        f"{join(sorted(map(str, efficient.seq_len.unique())), 'not measured')}, one panel per batch size; "
        f"labels give each latency and its FLOPs relative to BERT-base where it was measured.")


def models_finding(v: PageView) -> str:
    """The architectures' latency relative to BERT-base, paired by round, and their FLOPs."""
    efficient = efficient_rows(v)
    ratios = baseline_ratios(v)
    return no_data(efficient, v.here) or (
        f"**Finding.** On {v.here}, latency as a multiple of BERT-base's: " + (
            "; ".join(ratios) if ratios else "BERT-base is not part of this profile's comparison, so the "
                                             "architectures are shown side by side without ratios") + ".")


def heatmap_chart(v: PageView) -> tuple[Interactive, str]:
    """`heatmap_figure` for the hosted page: the same rows as an interactive chart, the figure as its static twin."""
    figure, caption = heatmap_figure(v)
    chart = interactive.heatmap_chart(grid_rows(v), title=f"BERT width x depth: {v.machine}, profile {v.profile}")
    return Interactive(chart, figure, "rq3-heatmap"), caption + (f" {hint('batch size')}" if chart else "")


def glue_page(v: PageView) -> None:
    """Glue what page 03 places: the width x depth, FLOPs and architectures figures with their findings."""
    glue_figure("rq3-heatmap", heatmap_chart(v), heatmap_finding(v))
    glue_figure("rq3-flops", flops_figure(v), flops_finding(v))
    glue_figure("rq3-models", models_figure(v), models_finding(v))
