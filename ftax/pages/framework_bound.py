"""RQ1, when is a model framework-bound: the figures, captions and findings of 01-framework-bound."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive, plots
from ftax.read import analysis
from ftax.read.estimates import curve_keys
from ftax.read.ratios import paired_ratios, scaling_ratios
from ftax.read.findings import (band_phrase, knee_phrases, no_data, precision_phrases, regime_rule,
                           scaling_phrases, verdict_note)
from ftax.figures.interactive import Interactive, hint
from ftax.pages import PageView, glue_figure, glue_markdown
from ftax.read.rows import rows_of
from ftax.read.text import join, sig


def batch_rows(v: PageView) -> pd.DataFrame:
    """The rows of the grids that sweep the batch size."""
    return rows_of(v.frame, v.grid_rows, varying="batch_sizes")


def seq_rows(v: PageView) -> pd.DataFrame:
    """The rows of the grids that sweep the sequence length."""
    return rows_of(v.frame, v.grid_rows, varying="seq_lens")


def ratios(v: PageView, along: str) -> pd.DataFrame:
    """Latency at each value of `along` over the curve's smallest, paired by round, from the visits of the
    grids that sweep it."""
    visits = rows_of(v.visits, v.grid_rows, varying=f"{along}s")
    return scaling_ratios(visits, along) if not visits.empty else None


def regimes(v: PageView) -> pd.DataFrame:
    """Each batch curve's framework-bound regime and inflection by claim (a)'s rule (`ftax.read.analysis`)."""
    return analysis.framework_bound_regimes(rows_of(v.visits, v.grid_rows, varying="batch_sizes"))


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
    fits = analysis.with_regime(regimes(v))
    figure = plots.latency_vs_batch(batch, hue="dtype", style=None, panel="model", fits=fits,
                                    title=f"Latency vs batch size: {v.machine}, profile {v.profile}")
    shapes = join(sorted({f"{m} {s}" for m, s in zip(batch.model, batch.seq_len)}))
    return figure, no_data(batch, v.here) or (
        f"Latency (line: {band_phrase(batch)}) against batch size on {v.here}, one panel per model, at sequence "
        f"length (image size, or audio frames) {shapes}. Shaded, only in a panel with a curve that has a "
        f"framework-bound regime by claim (a)'s rule: framework-bound up to that curve's inflection (dotted: the "
        f"first batch whose T(b)/T(1) surely exceeds {sig(analysis.FLAT_MAX_RATIO)}), compute-bound past it, which "
        f"says only that latency has left the flat regime; {_shaded(fits)}.")


def _shaded(fits: pd.DataFrame) -> str:
    return (f"{len(fits)} curve{'s' if len(fits) != 1 else ''} here {'has' if len(fits) == 1 else 'have'} one"
            if len(fits) else "no curve here has one, so nothing is shaded")


def precision(v: PageView) -> pd.DataFrame | None:
    """Each half-precision curve's latency against fp32 at the same model and batch, paired by round."""
    visits = rows_of(v.visits, v.grid_rows, varying="batch_sizes")
    has_half = not visits.empty and (visits.dtype != "fp32").any() and (visits.dtype == "fp32").any()
    return paired_ratios(visits, "dtype", "fp32") if has_half else None


def batch_finding(v: PageView) -> str:
    """How latency scales with the batch, which curves have a framework-bound regime and where it ends, what half
    precision does."""
    batch = batch_rows(v)
    knees = knee_phrases(regimes(v), ["model", "dtype"])
    half = precision_phrases(precision(v))
    paired = ratios(v, "batch_size")
    verdict = verdict_note(ends(paired, "batch_size"), "ratio_low", "ratio_high",
                           "latency rises from the smallest to the largest batch")
    scaling = "; ".join(scaling_phrases(batch, "batch_size", ["model", "dtype"], paired)) or "no batch sweep was measured"
    return no_data(batch, v.here) or (
        f"**Finding.** On {v.here}: {scaling}." + (f" {verdict}" if verdict else "")
        + (f"\n\n{regime_rule()} Per curve: {'; '.join(knees)}." if knees else
           "\n\nNo curve has the batch 1 and batch 4 that claim (a)'s rule for a framework-bound regime needs.")
        + (f"\n\nHalf precision, paired by round: {'; '.join(half)}." if half else
           "\n\nNo half-precision curve was measured here."))


def seq_figure(v: PageView) -> tuple[Figure, str]:
    """Latency against sequence length at a fixed batch size."""
    seq = seq_rows(v)
    figure = plots.latency_vs_seq(seq, hue="model", style="dtype",
                                  title=f"Latency vs sequence length: {v.machine}, profile {v.profile}")
    ok = seq[seq.status == "ok"]
    swept = not ok.empty and ok.groupby(curve_keys(ok, "seq_len"), dropna=False)["seq_len"].nunique().gt(1).any()
    return figure, no_data(seq, v.here) or (
        f"Latency ({band_phrase(seq)}) against sequence length at batch "
        f"{join(sorted(map(str, seq.batch_size.unique())))} on {v.here}. How much latency rises from the shortest "
        f"to the longest sequence, with its interval, is stated below the figure." if swept else
        f"No sequence-length sweep with two or more lengths was measured on {v.here}: profile `{v.profile}` does not "
        f"include one, or every config failed (see the table above).")


def seq_finding(v: PageView) -> str:
    """How latency scales with the sequence length."""
    seq = seq_rows(v)
    scaling = scaling_phrases(seq, "seq_len", ["model", "dtype"], ratios(v, "seq_len"))
    return no_data(seq, v.here) or (
        f"**Finding.** On {v.here}: {join(scaling, 'this profile measures no sequence sweep')}.")


def regimes_left(v: PageView) -> str:
    """How many batch curves have a framework-bound regime by claim (a)'s rule, and how many leave it (under
    "What this means")."""
    fits = regimes(v)
    flat = analysis.with_regime(fits)
    if fits.empty:
        return f"On {v.here}, no batch curve has the batch 1 and 4 that claim (a)'s rule needs."
    if flat.empty:
        return (f"On {v.here}, claim (a)'s rule finds {analysis.NO_REGIME} for every one of the {len(fits)} batch "
                f"curves, so this page reports no inflection.")
    return (f"On {v.here}, claim (a)'s rule finds a framework-bound regime in {len(flat)} of {len(fits)} batch curves; "
            f"{int(flat.reached.sum())} of them leave it within the measured batch sizes.")


def batch_chart(v: PageView) -> tuple[Interactive, str]:
    """`batch_figure` for the hosted page: the same rows as an interactive chart, the figure as its static twin."""
    figure, caption = batch_figure(v)
    chart = interactive.latency_chart(batch_rows(v), "batch_size", color="dtype", panel="model",
                                      title=f"Latency vs batch size: {v.machine}, profile {v.profile}")
    return Interactive(chart, figure, "rq1-batch"), caption + (f" {hint('model')}" if chart else "")


def glue_page(v: PageView) -> None:
    """Glue what page 01 places: the batch and sequence figures with their findings, and the regimes left."""
    glue_figure("rq1-batch", batch_chart(v), batch_finding(v))
    glue_figure("rq1-seq", seq_figure(v), seq_finding(v))
    glue_markdown("rq1-regimes", regimes_left(v))
