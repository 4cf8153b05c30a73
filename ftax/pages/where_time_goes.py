"""Where the time goes: the figures, captions and findings of 05-where-time-goes (the profiler's split of
a call into busy time and overhead, on this machine and then on every machine's GPU)."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax import analysis, decomposition_plots
from ftax.decomposition_findings import (busy_phrase, caveat_phrases, not_decomposed, pairing_phrase, regime_phrases,
                                         share_phrases, split_phrases)
from ftax.findings import knee_phrases, no_data
from ftax.pages import PageView
from ftax.rows import decomposed, on_device
from ftax.text import join

BY = ["model", "dtype", "seq_len", "backend"]
GPU_BY = ["machine_label"] + BY


def _fits(frame: pd.DataFrame) -> pd.DataFrame:
    """Latency inflections of the runtimes the decomposition figures show."""
    return analysis.inflections(decomposed(frame))


def bars_figure(v: PageView) -> tuple[Figure, str]:
    """Busy time and overhead stacked per runtime and batch size."""
    figure = decomposition_plots.overhead_bars(v.frame, title=f"Where one call's time goes: {v.machine}, "
                                                              f"profile {v.profile}")
    return figure, no_data(decomposed(v.frame), v.here) or (
        f"Time per call on {v.here}, per runtime and batch size, split into busy time (solid; here "
        f"{busy_phrase(v.frame)}) and overhead, the rest of the wall time (hatched); black ticks: the timed "
        f"median latency of the same config. Overhead's share of the wall time: "
        f"{'; '.join(share_phrases(v.frame, BY))}.")


def split_finding(v: PageView) -> str:
    """Busy and overhead at the smallest and largest batch, how well the profiled pairs match the timed
    latency, and the decomposition's blind spots here."""
    done = decomposed(v.frame)
    ends = sorted({done.batch_size.min(), done.batch_size.max()}) if not done.empty else []
    splits = [f"at batch {b}, {join(split_phrases(v.frame, b, BY))}" for b in ends]
    notes = caveat_phrases(v.frame) + [f"no decomposition for {p}" for p in not_decomposed(v.frame)]
    return no_data(done, v.here) or (
        f"**Finding.** On {v.here}, {'; '.join(splits)}. As a check, {pairing_phrase(v.frame)}."
        + (f" Caveats: {'; '.join(notes)}." if notes else ""))


def share_figure(v: PageView) -> tuple[Figure, str]:
    """Overhead's share of wall time against batch size, with the share's regimes and the latency inflections."""
    fits = _fits(v.frame)
    figure = decomposition_plots.overhead_share_vs_batch(
        v.frame, fits=fits, title=f"Overhead share of wall time: {v.machine}, profile {v.profile}")
    knees = knee_phrases(fits, BY)
    return figure, no_data(decomposed(v.frame), v.here) or (
        f"Overhead as a share of wall time against batch size on {v.here}, one line per runtime. Shaded: the regimes "
        f"read from the share (framework-bound from {analysis.FRAMEWORK_BOUND_MIN_SHARE:.0%}, compute-bound up to "
        f"{analysis.COMPUTE_BOUND_MAX_SHARE:.0%}); dotted: each runtime's latency inflection fitted to its median "
        f"latencies. Fits: {join(knees, 'none: a fit needs three or more batch sizes')}.")


def _share_regimes(frame: pd.DataFrame, by: list[str]) -> list[str]:
    labeled = analysis.label_regimes(frame)
    return regime_phrases(labeled[labeled.regime_source == "decomposition"], by)


def regime_finding(v: PageView) -> str:
    """The regimes read from the overhead share, against those read from the latency curves."""
    knees = knee_phrases(_fits(v.frame), BY)
    return no_data(decomposed(v.frame), v.here) or (
        f"**Finding.** On {v.here}, read from the overhead share: {'; '.join(_share_regimes(v.frame, BY))}. "
        + (f"Read from the latency curves instead: {'; '.join(knees)}." if knees else
           "No curve has the three or more batch sizes an inflection fit needs, so only the profiler's view is "
           "available here."))


def _gpus(v: PageView) -> tuple[pd.DataFrame, list[str], str]:
    """Every machine's GPU rows of the study, the GPUs with a decomposition, and how captions name them."""
    gpu = on_device(v.study_frame, "cuda")
    gpus = sorted(decomposed(gpu).machine_label.unique()) if not decomposed(gpu).empty else []
    return gpu, gpus, f"{join([f'**{g}**' for g in gpus])} (profile `{v.profile}`)"


def gpu_figure(v: PageView) -> tuple[Figure, str]:
    """Overhead's share of wall time on every machine's GPU, one panel per GPU."""
    gpu, gpus, gpu_here = _gpus(v)
    missing = f"No GPU records with a decomposition in {v.results_dir}: every record of this study comes from a CPU."
    figure = decomposition_plots.overhead_share_vs_batch(
        gpu, panel="machine_label", fits=_fits(gpu), title=f"Overhead share of wall time per GPU, profile {v.profile}",
        missing=missing)
    if not gpus:
        return figure, (f"No GPU records with a decomposition in `{v.results_dir}`: every record of this study comes "
                        f"from a CPU. Run this page with `-p device cuda` on a machine with a GPU to add them (profile "
                        f"`{v.profile}`).")
    return figure, (f"Overhead as a share of wall time against batch size on {gpu_here}, one panel per GPU, shaded "
                    f"and marked as above. Overhead's share of the wall time: {'; '.join(share_phrases(gpu, GPU_BY))}.")


def gpu_finding(v: PageView) -> str:
    """The regimes each GPU's overhead share shows."""
    gpu, gpus, gpu_here = _gpus(v)
    if not gpus:
        return "**Finding.** No GPU records are present, so this page shows where the time goes on a CPU only."
    return f"**Finding.** On {gpu_here}, read from the overhead share: {'; '.join(_share_regimes(gpu, GPU_BY))}."
