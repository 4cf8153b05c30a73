"""RQ1, when is a model framework-bound: the figures, captions and findings of 01-framework-bound."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax import analysis, plots
from ftax.estimates import scaling_ratios
from ftax.findings import (band_phrase, knee_phrases, no_data, precision_phrases, rise_phrases, scaling_phrases,
                           verdict_note)
from ftax.pages import PageView
from ftax.rows import rows_of
from ftax.text import join


def batch_rows(v: PageView) -> pd.DataFrame:
    """The rows of the grids that sweep the batch size."""
    return rows_of(v.frame, v.grids, varying="batch_sizes")


def seq_rows(v: PageView) -> pd.DataFrame:
    """The rows of the grids that sweep the sequence length."""
    return rows_of(v.frame, v.grids, varying="seq_lens")


def ratios(v: PageView, along: str) -> pd.DataFrame:
    """Latency at each value of `along` over the curve's smallest, paired by round, from the visits of the
    grids that sweep it."""
    visits = rows_of(v.visits, v.grids, varying=f"{along}s")
    return scaling_ratios(visits, along) if not visits.empty else None


def ends(ratios: pd.DataFrame | None, along: str) -> pd.DataFrame:
    """Per curve, the ratio at its largest value of `along` (what `scaling_phrases` states)."""
    if ratios is None or ratios.empty:
        return pd.DataFrame(columns=["ratio_low", "ratio_high"])
    curve = [c for c in ratios.columns if c not in (along, "ratio", "ratio_low", "ratio_high", "rounds", "interval",
                                                    "baseline_ms", "other_ms")]
    return ratios.sort_values(along).groupby(curve, dropna=False, sort=False).tail(1)


def batch_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against batch size, one panel per model, with the fitted regimes."""
    batch = batch_rows(v)
    figure = plots.latency_vs_batch(batch, hue="dtype", style=None, panel="model", fits=analysis.inflections(batch),
                                    title=f"Latency vs batch size: {v.machine}, profile {v.profile}")
    shapes = join(sorted({f"{m} {s}" for m, s in zip(batch.model, batch.seq_len)}))
    rises = rise_phrases(batch, "batch_size", ["model", "dtype"])
    return figure, no_data(batch, v.here) or (
        f"Latency (line: {band_phrase(batch)}) against batch size on {v.here}, one panel per model, at sequence "
        f"length (image size, or audio frames) {shapes}. Shaded: the framework-bound and compute-bound regimes "
        f"fitted to the longest curve of each panel; dotted: each curve's fitted inflection. Latency first exceeds "
        f"its batch-1 value by 20% for {join(rises, 'no curve: none has two or more batch sizes')}.")


def batch_finding(v: PageView) -> str:
    """How latency scales with the batch, where the fits place the inflections, what half precision does."""
    batch = batch_rows(v)
    knees = knee_phrases(analysis.inflections(batch), ["model", "dtype"])
    precision = precision_phrases(batch)
    paired = ratios(v, "batch_size")
    verdict = verdict_note(ends(paired, "batch_size"), "ratio_low", "ratio_high",
                           "latency rises from the smallest to the largest batch")
    return no_data(batch, v.here) or (
        f"**Finding.** On {v.here}: "
        f"{join(scaling_phrases(batch, 'batch_size', ['model', 'dtype'], paired), 'no batch sweep was measured')}. "
        + (f"{verdict} " if verdict else "")
        + (f"The two-regime fit places the inflections at: {join(knees)}. " if knees else
           "No curve has the three or more batch sizes a two-regime fit needs. ")
        + (f"Half precision: {join(precision)}." if precision else "No half-precision curve was measured here."))


def seq_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against sequence length at a fixed batch size."""
    seq = seq_rows(v)
    figure = plots.latency_vs_seq(seq, hue="model", style="dtype",
                                  title=f"Latency vs sequence length: {v.machine}, profile {v.profile}")
    rises = rise_phrases(seq, "seq_len", ["model", "dtype"])
    return figure, no_data(seq, v.here) or (
        f"Latency ({band_phrase(seq)}) against sequence length at batch "
        f"{join(sorted(map(str, seq.batch_size.unique())))} on {v.here}. Latency first exceeds its value at the "
        f"shortest sequence by 20% for {join(rises)}." if rises else
        f"No sequence-length sweep with two or more lengths was measured on {v.here}: profile `{v.profile}` does not "
        f"include one, or every config failed (see the table above).")


def seq_finding(v: PageView) -> str:
    """How latency scales with the sequence length."""
    seq = seq_rows(v)
    scaling = scaling_phrases(seq, "seq_len", ["model", "dtype"], ratios(v, "seq_len"))
    return no_data(seq, v.here) or (
        f"**Finding.** On {v.here}: {join(scaling, 'this profile measures no sequence sweep')}.")


def regimes_left(v: PageView) -> str:
    """How many fitted batch curves left the framework-bound regime (under "What this means")."""
    fits = analysis.inflections(batch_rows(v))
    left = fits[fits.reached]
    return (f"On {v.here}, {len(left)} of {len(fits[fits.n_batches >= 3])} fitted batch curves left the "
            f"framework-bound regime within the measured batch sizes.")
