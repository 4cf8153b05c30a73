"""RQ2, do framework paradigms remove the tax: the figures, captions and findings of 02-framework-paradigms."""
from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import interactive, memory_plots, plots
from ftax.read import analysis, memory_findings
from ftax.read.findings import (NO_INTERVAL, band_phrase, interval_text, knee_phrases, latency_phrases, no_data,
                           verdict_note)
from ftax.figures.interactive import Interactive, hint
from ftax.pages import PageView, figure_block, glue_figure, glue_markdown
from ftax.read.text import join, sig


def _ends(frame: pd.DataFrame) -> tuple[int | None, int | None]:
    """The smallest and largest batch size shown."""
    return (frame.batch_size.min(), frame.batch_size.max()) if not frame.empty else (None, None)


def _knees(v: PageView) -> str:
    """Each runtime's framework-bound regime by claim (a)'s rule, eager first."""
    visits = v.visits
    eager = analysis.framework_bound_regimes(visits[visits.backend == "eager"] if not visits.empty else visits)
    others = analysis.framework_bound_regimes(visits[visits.backend != "eager"] if not visits.empty else visits)
    rest = "; ".join(knee_phrases(others, ["model", "backend", "dtype"])) or "no curve has batch 1 and 4"
    first = "; ".join(knee_phrases(eager, ["model", "dtype"])) or "no curve"
    return f"By claim (a)'s rule, eager: {first}; the other runtimes: {rest}."


def latency_figure(v: PageView) -> tuple[Figure, str]:
    """Latency per runtime against batch size, one panel per model, shaded by eager's fitted regimes."""
    frame = v.frame
    eager = analysis.framework_bound_regimes(v.visits[v.visits.backend == "eager"] if not v.visits.empty else v.visits)
    figure = plots.latency_vs_batch(frame, hue="backend", style="dtype", panel="model",
                                    fits=analysis.with_regime(eager),
                                    title=f"Latency per runtime: {v.machine}, profile {v.profile}")
    measured = join(sorted(frame[frame.status == "ok"].backend.unique()), "no runtime")
    return figure, no_data(frame, v.here) or (
        f"Latency ({band_phrase(frame)}) against batch size for each runtime measured on {v.here} ({measured}), "
        f"one panel per model. Shaded only where eager has a framework-bound regime by claim (a)'s rule.")


def parity_note(frame: pd.DataFrame) -> str:
    """Which runtimes' outputs differ from eager beyond the dtype's tolerance, or that none does."""
    parity = frame[(frame.status == "ok") & (frame.parity_ok == False)]  # noqa: E712 (None is unknown, not False)
    if parity.empty:
        return "Every runtime's output matched eager within the dtype's tolerance."
    return (f"Outputs differ from eager beyond the dtype's tolerance for "
            f"{join(sorted(set(parity.backend + ' ' + parity.dtype)))}: their times are shown, but they "
            f"do not compute the same function.")


def latency_finding(v: PageView) -> str:
    """Each runtime's latency at the smallest batch, and whether its output matched eager's."""
    small, _ = _ends(v.frame)
    return no_data(v.frame, v.here) or (
        f"**Finding.** On {v.here}, at batch {small} the runtimes take "
        f"{join(latency_phrases(v.frame, small, ['model', 'dtype', 'backend']))}. {_knees(v)} {parity_note(v.frame)}")


def speedup_figure(v: PageView) -> tuple[Figure, str]:
    """Each runtime's speedup over eager against batch size, one panel per model."""
    speedups = analysis.speedups(v.visits)
    figure = plots.speedup_vs_batch(speedups, panel="model",
                                    title=f"Speedup over eager: {v.machine}, profile {v.profile}")
    return figure, no_data(v.frame, v.here) or (
        f"Eager latency divided by each runtime's latency at the same model, precision and batch size on "
        f"{v.here}, paired by round (the median of the per-round ratios; within a round the runtimes of a shape are "
        f"timed together in alternating blocks); error "
        f"bars: the ratio's 95% between-round interval, none where a pair has one round; a dashed line at 1x "
        f"marks eager's own latency.")


def fastest(speedups: pd.DataFrame) -> pd.DataFrame:
    """The runtime with the largest speedup over eager per model, dtype and batch size."""
    if speedups.empty:
        return speedups
    return (speedups.sort_values("speedup").groupby(["model", "dtype", "batch_size"]).tail(1)
            .sort_values(["model", "dtype", "batch_size"]))


def speedup_finding(v: PageView) -> str:
    """The runtime picked as fastest at each batch size (the largest point speedup there, picked from the same
    measurements, as the finding says) with its speedup over eager, and which of those differ from 1x."""
    best = fastest(analysis.speedups(v.visits))
    bare = best.empty or best.speedup_low.isna().all()
    named = not best.empty and len(best[["model", "dtype"]].drop_duplicates()) > 1
    listed = [f"{f'{r.model} {r.dtype} ' if named else ''}batch {r.batch_size}: {r.backend} {sig(r.speedup, 2)}x"
              + ("" if bare else interval_text(r.speedup_low, r.speedup_high, r.rounds)) for r in best.itertuples()]
    return no_data(v.frame, v.here) or (
        f"**Finding.** On {v.here}, the runtime with the largest speedup over eager at each batch size, picked from "
        f"these same measurements"
        + (f" ({NO_INTERVAL})" if bare and listed else "") + ": "
        + ("; ".join(listed) or "no runtime besides eager measured ok here") + "."
        + (f" {verdict_note(best, 'speedup_low', 'speedup_high', 'picked speedups')}" if not best.empty else ""))


def preparation(v: PageView) -> str:
    """The median one-time preparation (export, compile, capture) per runtime."""
    ok = v.frame[v.frame.status == "ok"]
    prep = ok.groupby("backend").prepare_s.median().sort_values() if not ok.empty else pd.Series(dtype=float)
    return (f"Median one-time preparation on {v.here}: "
            + join([f"{b} {sig(s)} s" for b, s in prep.items()], "none recorded") + ".")


def latency_chart(v: PageView) -> tuple[Interactive, str]:
    """`latency_figure` for the hosted page: the same rows as an interactive chart, the figure as its static twin."""
    figure, caption = latency_figure(v)
    chart = interactive.latency_chart(v.frame, "batch_size", color="backend", panel="model", dash="dtype",
                                      title=f"Latency per runtime: {v.machine}, profile {v.profile}")
    return Interactive(chart, figure, "rq2-latency"), caption + (f" {hint('model')}" if chart else "")


def memory_figure(v: PageView) -> tuple[Figure, str]:
    """Peak memory above the baseline against batch size per runtime, one panel per model, and the weights each
    runtime holds; the caption says how the peak was taken (one visit per config) or why there is none."""
    figure = memory_plots.memory_figure(v.frame, title=f"Memory per runtime: {v.machine}, profile {v.profile}")
    return figure, no_data(v.frame, v.here) or memory_findings.memory_caption(v.frame, v.here)


def memory_finding(v: PageView) -> str:
    """Which runtime adds the most memory at the largest batch, whether each one's peak rises with the batch."""
    return no_data(v.frame, v.here) or memory_findings.memory_finding(v.frame, v.here)


def energy_figure(v: PageView) -> tuple[Figure | None, str]:
    """Energy per inference against batch size where records have it (GPU machines with zeus), with its caption;
    None elsewhere, where the caption says why."""
    figure = memory_plots.energy_vs_batch(v.frame, title=f"Energy per inference: {v.machine}, profile {v.profile}")
    return figure, energy_note(v)


def energy_markdown(v: PageView) -> str:
    """The section "Energy per inference" with its glued figure (`rq2-energy`) where records carry energy, else ""
    (the note why there is none then goes into the page's folded detail)."""
    if memory_findings.energy_rows(v.frame).empty:
        return ""
    return ("## Energy per inference\n\nEnergy per inference is read from the machine's energy counter (NVML on "
            "a GPU, RAPL on a CPU that exposes it) through `zeus`, over calls back to back.\n\n"
            + figure_block("rq2-energy", finding=False))


def energy_note(v: PageView) -> str:
    """The one sentence that says energy is unavailable here and why (or the figure's caption where it is)."""
    return no_data(v.frame, v.here) or memory_findings.energy_note(v.frame, v.here)


def glue_page(v: PageView) -> None:
    """Glue what page 02 places: speedup, latency and memory figures with their findings, the energy section only
    where an energy counter measured (else the note saying why not), and the preparation times."""
    glue_figure("rq2-speedup", speedup_figure(v), speedup_finding(v))
    glue_figure("rq2-latency", latency_chart(v), latency_finding(v))
    glue_figure("rq2-memory", memory_figure(v), memory_finding(v))
    energy = energy_markdown(v)
    if energy:
        glue_figure("rq2-energy", energy_figure(v))
    glue_markdown("rq2-energy-section", energy)
    glue_markdown("rq2-energy-note", "" if energy else energy_note(v))
    glue_markdown("rq2-preparation", preparation(v))
