"""Where the time goes: the figures, captions and findings of 05-where-time-goes.

Its figures show the profiler's split of a call into busy time and overhead, on this machine and then on every
machine's GPU."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import decomposition_plots
from ftax.read import analysis
from ftax.read.decomposition_findings import (busy_phrase, caveat_phrases, not_decomposed, pairing_phrase, regime_phrases,
                                         share_phrases)
from ftax.read.estimates import curve_keys
from ftax.read.findings import curves, knee_phrases, no_data
from ftax.pages import PageView, figure_block, glue_figure, glue_markdown, gpu_section
from ftax.read.rows import decomposed, on_device
from ftax.read.text import join, sig

BY = ["model", "dtype", "seq_len", "backend"]
ONE_VISIT = ("Each split is one visit per config (the round the sweep profiled): no between-run interval, so its "
             "numbers are single observations.")
GPU_BY = ["machine_label"] + BY


# The overhead share's own thresholds (`ftax.read.analysis`), named by what they read: the book reports a
# framework-bound regime only by claim (a)'s rule on the latency curve.
SHARE_BANDS = {"framework-bound": f"overhead share >= {analysis.FRAMEWORK_BOUND_MIN_SHARE:.0%}",
               "transitional": "overhead share between "
                               f"{analysis.COMPUTE_BOUND_MAX_SHARE:.0%} and {analysis.FRAMEWORK_BOUND_MIN_SHARE:.0%}",
               "compute-bound": f"overhead share <= {analysis.COMPUTE_BOUND_MAX_SHARE:.0%}"}


def _fits(frame: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Each decomposed runtime's framework-bound regime and inflection by claim (a)'s rule, from its visits."""
    shown = decomposed(frame)
    if shown.empty or visits.empty:
        return analysis.framework_bound_regimes(visits.iloc[0:0])
    keys = [k for k in curve_keys(visits, "batch_size", series=False) if k in shown]
    return analysis.framework_bound_regimes(visits.merge(shown[keys].drop_duplicates(), on=keys, how="inner"))


def bars_figure(v: PageView) -> tuple[Figure, str]:
    """Busy time and overhead stacked per runtime and batch size."""
    figure = decomposition_plots.overhead_bars(v.frame, title=f"Where one call's time goes: {v.machine}, "
                                                              f"profile {v.profile}")
    return figure, no_data(decomposed(v.frame), v.here) or (
        f"Time per call on {v.here}, per runtime and batch size, split into busy time (solid; here "
        f"{busy_phrase(v.frame)}) and overhead, the rest of the wall time (hatched); black ticks: the timed "
        f"median latency of the same config. {ONE_VISIT}")


def split_finding(v: PageView) -> str:
    """Overhead's share at the smallest and largest batch (one visit), how well the profiled pairs match the timed
    latency, and the decomposition's blind spots here."""
    done = decomposed(v.frame)
    notes = caveat_phrases(v.frame) + [f"no decomposition for {p}" for p in not_decomposed(v.frame)]
    return no_data(done, v.here) or (
        f"**Finding.** On {v.here}, one visit per config, overhead's share of the wall time: "
        f"{'; '.join(share_phrases(v.frame, BY))}. As a check, {pairing_phrase(v.frame)}."
        + (f" Caveats: {'; '.join(notes)}." if notes else ""))


def share_figure(v: PageView) -> tuple[Figure, str]:
    """Overhead's share of wall time against batch size, with the share's regimes and the latency inflections."""
    fits = _fits(v.frame, v.visits)
    figure = decomposition_plots.overhead_share_vs_batch(v.frame, fits=analysis.with_regime(fits),
                                                         title=f"Overhead share of wall time: {v.machine}, "
                                                               f"profile {v.profile}")
    return figure, no_data(decomposed(v.frame), v.here) or (
        f"Overhead as a share of wall time against batch size on {v.here}, one line per runtime. Shaded: bands of the "
        f"share alone ({SHARE_BANDS['framework-bound']}, labelled framework-bound; "
        f"{SHARE_BANDS['compute-bound']}, labelled compute-bound), not the book's framework-bound regime, which "
        f"claim (a)'s rule reads from the latency curve; dotted: a runtime's inflection by that rule, where it finds a "
        f"framework-bound regime. {ONE_VISIT}")


def _share_regimes(frame: pd.DataFrame, by: list[str]) -> list[str]:
    """'eager: overhead share >= 50% at batch 1 to 4, ...': the share's bands, named by the share."""
    labeled = analysis.label_regimes(frame)
    labeled = labeled[labeled.regime_source == "decomposition"]
    return regime_phrases(labeled.assign(regime=labeled.regime.map(SHARE_BANDS)), by)


def regime_finding(v: PageView) -> str:
    """The regimes read from the overhead share, against those read from the latency curves."""
    knees = knee_phrases(_fits(v.frame, v.visits), BY)
    return no_data(decomposed(v.frame), v.here) or (
        f"**Finding.** On {v.here}, one visit per config, the overhead share: "
        f"{'; '.join(_share_regimes(v.frame, BY))}. "
        + (f"The latency curves, by claim (a)'s rule: {'; '.join(knees)}." if knees else
           "No curve has the batch 1 and 4 that claim (a)'s rule needs, so only the profiler's view is "
           "available here."))


def _gpus(v: PageView) -> tuple[pd.DataFrame, list[str], str]:
    """Every machine's GPU rows of the study, the GPUs with a decomposition, and how captions name them."""
    gpu = on_device(v.study_frame, "cuda")
    gpus = sorted(decomposed(gpu).machine_label.unique()) if not decomposed(gpu).empty else []
    return gpu, gpus, f"{join([f'**{g}**' for g in gpus])} (profile `{v.profile}`)"


GPU_INTRO = ("On a GPU, busy time is measured on the device itself: the union of the intervals in which the GPU "
             "runs a kernel or a copy. This section puts the GPU records of every machine side by side, one panel "
             "per GPU.")


def gpu_markdown(v: PageView) -> str:
    """The section "On a GPU" (heading, what busy means there, the figure and its finding) where a GPU of any
    machine has a decomposition, else "" (the page then has no such section)."""
    _, gpus, _ = _gpus(v)
    return gpu_section(v.study_frame, f"## On a GPU\n\n{GPU_INTRO}\n\n{figure_block('wtg-gpu')}") if gpus else ""


def gpu_figure(v: PageView) -> tuple[Figure, str]:
    """Overhead's share of wall time on every machine's GPU, one panel per GPU (drawn where `gpu_markdown` is)."""
    gpu, gpus, gpu_here = _gpus(v)
    figure = decomposition_plots.overhead_share_vs_batch(
        gpu, panel="machine_label", fits=analysis.with_regime(_fits(gpu, v.every_visit)),
        title=f"Overhead share of wall time per GPU, profile {v.profile}",
        missing=f"No GPU records with a decomposition in {v.results_dir}.")
    return figure, (f"Overhead as a share of wall time against batch size on {gpu_here}, one panel per GPU, shaded "
                    f"and marked as above. {ONE_VISIT}")


def gpu_finding(v: PageView) -> str:
    """Each GPU's overhead share at the smallest and largest batch and the regimes it shows (one visit)."""
    gpu, gpus, gpu_here = _gpus(v)
    if not gpus:
        return ""
    return (f"**Finding.** On {gpu_here}, one visit per config, overhead's share of the wall time: "
            f"{'; '.join(share_phrases(gpu, GPU_BY))}; by band: {'; '.join(_share_regimes(gpu, GPU_BY))}.")


def overhead_growth(v: PageView) -> str:
    """Per runtime, overhead (the wall time not in the profiler's busy time) in milliseconds at the smallest and the
    largest batch, and whether it grows or shrinks with the batch: a fixed cost per call would keep it near 1x. A
    sweep decomposes a config in one round only, so the sentence says it is one visit, with no interval."""
    phrases, moves = [], {}
    for name, curve in curves(decomposed(v.frame), BY):
        per_batch = curve.groupby("batch_size")["decomposition_overhead_ms"].median().sort_index()
        if len(per_batch) > 1 and per_batch.iloc[0] > 0:
            first, last = per_batch.iloc[0], per_batch.iloc[-1]
            move = "grows" if last > first else "shrinks" if last < first else "stays the same"
            moves.setdefault(move, []).append(name)
            phrases.append(f"{name} {sig(first)} ms at batch {per_batch.index[0]} and {sig(last)} ms at batch "
                           f"{per_batch.index[-1]} ({sig(last / first, 2)}x)")
    if not phrases:
        return ""
    trend = (f"{next(iter(moves))} with the batch" if len(moves) == 1 else
             "; ".join(f"{move} with the batch for {join(names)}" for move, names in sorted(moves.items())))
    return (f"Overhead here, the wall time not in the profiler's busy time, {trend}: {'; '.join(phrases)} on "
            f"{v.here} (one visit per config: no between-run interval, so these factors are observations, not "
            f"findings).")


def glue_page(v: PageView) -> None:
    """Glue what page 05 places below the ledger: the busy/overhead figures with their findings, the GPU section only
    where a GPU measured, and how overhead moves with the batch."""
    glue_figure("wtg-bars", bars_figure(v), split_finding(v))
    glue_figure("wtg-share", share_figure(v), regime_finding(v))
    gpu = gpu_markdown(v)
    if gpu:
        glue_figure("wtg-gpu", gpu_figure(v), gpu_finding(v))
    glue_markdown("wtg-gpu-section", gpu)
    glue_markdown("wtg-growth", overhead_growth(v))
