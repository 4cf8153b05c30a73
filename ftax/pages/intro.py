"""The intro (00-intro): how big the tax is, the one figure, the claims at a glance and one finding per case study.

Every function takes `studies` (each study's name -> what `ftax.study.studies.open_study` returned, read only) and
returns Markdown (the figure: a figure and its caption). The tax is the ledger's answer for a small BERT at batch 1 on
the machine shown (`ftax.pages.ledger`: kernels and host per runtime, the ladder's paired savings), beside the
paired-by-round speedup of the fastest runtime over eager in the paradigms study (`ftax.read.analysis`); without
ledger records, that speedup alone;
the verdicts are quoted from the one verdict frame, `ftax.pages.claims.table(studies)`, never judged here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd
from matplotlib.figure import Figure

from ftax.claims.table import CLAIMS
from ftax.claims.verdicts import PREMISE_NOT_MET
from ftax.figures import summary_plot
from ftax.pages import PageView, view
from ftax.pages import claims as claims_page
from ftax.pages import decode as decode_page
from ftax.pages import framework_bound as framework_bound_page
from ftax.pages import ledger as ledger_page
from ftax.pages import model_design as model_design_page
from ftax.read import analysis
from ftax.read.findings import band_phrase, no_data, ratio_text
from ftax.read.intervals import is_real
from ftax.read.ratios import SPEEDUP_COLUMNS, paired_ratios
from ftax.read.rows import ok_rows
from ftax.read.text import join, plural, sig

SMALL_MODEL = "bert-tiny"  # the small BERT the tax is stated for (the smallest model measured stands in without it)
BASELINE = "eager"
# what claim (a)'s verdict says of the paper's flat-latency claim, in plain words
FLAT_CLAIM_READS = {"supported": "holds there", "contradicted": "does not hold there",
                    "inconclusive": "the records cannot decide it there"}


@dataclass(frozen=True)
class Tax:
    """The share of `model`'s eager latency the fastest runtime at `batch_size` removes: its speedup over eager
    paired by round (`speedup` [`low`, `high`] over `rounds`), and how it compares with the runner-up (`versus`,
    paired by round too; None with one runtime)."""

    machine: str
    model: str
    dtype: str
    seq_len: int
    batch_size: int
    runtime: str
    runtimes: int
    speedup: float
    low: float
    high: float
    rounds: int
    runner_up: str | None = None
    versus: tuple[float, float, float, int] | None = None


def _small_bert(v: PageView) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The config rows and visits of one curve per runtime: `SMALL_MODEL` in fp32 at its first sequence length,
    or, without it, the model whose eager latency at its smallest batch is lowest."""
    rows = ok_rows(v.frame, "batch_size")
    eager = rows[rows["backend"] == BASELINE] if not rows.empty else rows
    if eager.empty:
        return rows.iloc[0:0], v.visits.iloc[0:0]
    model = SMALL_MODEL if (eager["model"] == SMALL_MODEL).any() else (
        eager.sort_values(["batch_size", "estimate_ms"]).iloc[0]["model"])
    mine = eager[eager["model"] == model]
    dtype = "fp32" if (mine["dtype"] == "fp32").any() else sorted(mine["dtype"])[0]
    seq = sorted(mine[mine["dtype"] == dtype]["seq_len"])[0]

    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["model"] == model) & (frame["dtype"] == dtype) & (frame["seq_len"] == seq)]

    return pick(rows), pick(v.visits)


def _pct(share: float) -> str:
    return f"{sig(100 * share, 2)}%"


def _removed(t: Tax) -> str:
    """'44% [36%, 49%]': the share of eager's latency `t`'s runtime removes, its interval mapped through."""
    return (f"{_pct(summary_plot.removed_share(t.speedup))} [{_pct(summary_plot.removed_share(t.low))}, "
            f"{_pct(summary_plot.removed_share(t.high))}]")


def _fastest(speedups: pd.DataFrame, batch_size: int) -> pd.DataFrame:
    """The runtimes besides eager at `batch_size`, fastest (largest median speedup) first."""
    at = speedups[(speedups["backend"] != BASELINE) & (speedups["batch_size"] == batch_size)]
    return at.dropna(subset=["speedup"]).sort_values("speedup", ascending=False)


def tax(studies: Mapping[str, object], device: str = "auto") -> Tax | None:
    """The tax at the smallest batch of the paradigms study's small BERT (`_small_bert`), or None without a runtime
    measured beside eager there."""
    v = view(studies["paradigms"], device)
    rows, visits = _small_bert(v)
    if rows.empty:
        return None
    speedups = analysis.speedups(visits)
    small = int(rows["batch_size"].min())
    ranked = _fastest(speedups, small) if not speedups.empty else speedups
    if ranked.empty:
        return None
    best = ranked.iloc[0]
    versus, second = None, None
    if len(ranked) > 1:
        second = str(ranked.iloc[1]["backend"])
        pair = visits[(visits["batch_size"] == small) & visits["backend"].isin([best["backend"], second])]
        r = paired_ratios(pair, "backend", second, SPEEDUP_COLUMNS)
        r = r[r["backend"] == best["backend"]]
        versus = (float(r["ratio"].iloc[0]), float(r["ratio_low"].iloc[0]), float(r["ratio_high"].iloc[0]),
                  int(r["rounds"].iloc[0])) if len(r) else None
    return Tax(str(v.machine), str(best["model"]), str(best["dtype"]), int(best["seq_len"]), small,
               str(best["backend"]), len(ranked), float(best["speedup"]), float(best["speedup_low"]),
               float(best["speedup_high"]), int(best["rounds"]), second, versus)


def _tax_paragraphs(studies: Mapping[str, object], device: str = "auto") -> str:
    """Without a ledger: the verdict on the machine shown, the share of eager's latency removed, which runtime
    removes it (picked as the fastest at that batch, set against the runner-up), and what the share is not."""
    t = tax(studies, device)
    if t is None:
        return ("No runtime has been measured beside eager on a small BERT yet, so the records cannot say how big "
                "the tax is.")
    real = is_real(t.low, t.high)
    verdict = (f"{t.runtime} removes {{share}} of eager's latency, a difference on this machine" if real else
               f"the records cannot tell {t.runtime} from eager" if real is False else
               "one round gives no interval, so the records cannot call it a difference")
    share = _removed(t)
    first = (f"On **{t.machine}**, for {t.model} ({t.dtype}, sequence {t.seq_len}) at batch {t.batch_size}, "
             f"{t.runtime}'s speedup over eager, paired by round, is {ratio_text(t.speedup, t.low, t.high, t.rounds)}: "
             f"{verdict.format(share=share)}.")
    picked = (f"{t.runtime} is the fastest of the {plural(t.runtimes, 'runtime')} measured at that batch, picked from "
              f"these same records")
    if t.versus is not None:
        ahead = is_real(t.versus[1], t.versus[2])
        picked += (f"; against {t.runner_up}, the next, its paired speedup is {ratio_text(*t.versus, digits=3)}: "
                   + ("faster on this machine" if ahead else "the records do not separate the two"))
    return (f"{first}\n\n{picked}. A runtime also changes the kernels it runs, so this is the part of eager's latency "
            f"a runtime removes, not a pure framework share.")


def _ledger(studies: Mapping[str, object], device: str = "auto") -> tuple[pd.DataFrame, str | None]:
    """The ledger's rows (`ftax.pages.ledger.rows`) and the machine shown, where the ledger holds it (else None)."""
    data = studies["paradigms"]
    found = ledger_page.rows(data.results_dir)
    frame = view(data, device).frame
    shown = set(frame["machine_id"].dropna()) if not frame.empty and "machine_id" in frame else set()
    machines = [m for m in sorted(shown) if not found.empty and (found["machine_id"] == m).any()]
    return found, (machines[0] if machines else None)


def ledger_answer(studies: Mapping[str, object], device: str = "auto") -> str | None:
    """The ledger's answer (`ftax.read.ledger.answer`) for the small BERT at batch 1 on the machine shown, or None
    where the ledger has no records of it."""
    found, machine = _ledger(studies, device)
    label = view(studies["paradigms"], device).machine
    return ledger_page.answer_sentence(found, machine, label=label) if machine else None


def tax_markdown(studies: Mapping[str, object], device: str = "auto") -> str:
    """'How big is the tax?': the ledger's answer on the machine shown, then which runtime removes most of eager's
    latency with its paired interval, in one sentence; without a ledger, the paired speedup (`_tax_paragraphs`)."""
    said = ledger_answer(studies, device)
    t = tax(studies, device)
    if said is None:
        return _tax_paragraphs(studies, device)
    if t is None:
        return said + " See {doc}`05-where-time-goes`."
    share = _removed(t)
    real = is_real(t.low, t.high)
    return (f"{said}\n\nOf the {plural(t.runtimes, 'runtime')} measured beside eager at batch {t.batch_size} "
            f"(sequence {t.seq_len}), {t.runtime} removes the largest share of eager's latency, {share}, paired by "
            f"round over {plural(t.rounds, 'round')}" + (", a difference on this machine" if real else
                                               ", not told apart from eager" if real is False else "")
            + ". The ledger: {doc}`05-where-time-goes`.")


def tax_figure(studies: Mapping[str, object], device: str = "auto") -> tuple[Figure, str]:
    """The ledger's stacked figure (static) on the machine shown; without a ledger, the small BERT's latency per
    runtime against batch size beside the share of eager's latency each removes."""
    found, machine = _ledger(studies, device)
    if machine:
        return ledger_page.intro_figure(found, machine, view(studies["paradigms"], device).machine)
    v = view(studies["paradigms"], device)
    rows, visits = _small_bert(v)
    speedups = analysis.speedups(visits) if not visits.empty else pd.DataFrame()
    model = rows["model"].iloc[0] if not rows.empty else SMALL_MODEL
    figure = summary_plot.tax_vs_batch(rows, speedups, BASELINE, title=f"{model}: {v.machine}, profile {v.profile}")
    return figure, no_data(rows, v.here) or (
        f"{model} ({rows['dtype'].iloc[0]}, sequence {rows['seq_len'].iloc[0]}) on {v.here}. Left: latency per "
        f"runtime against batch size ({band_phrase(rows)}); dashed: eager's smallest-batch latency held flat, the "
        f"curve the paper's framework-bound model draws. Right: the share of eager's latency each runtime removes, "
        f"1 - 1/speedup; error bars: the paired-by-round speedup's 95% interval mapped through.")


def flat_markdown(studies: Mapping[str, object], table: pd.DataFrame, device: str = "auto") -> str:
    """The paper's signature against this machine, once: flat latency in batch is the paper's definition of
    framework-bound; on a CPU host cost and compute add, so a tax and a rising curve coexist. The small BERT's
    eager T(4)/T(1) (claim (a)'s rule on the figure's curve) and claim (a)'s verdict from `table`."""
    v = view(studies["paradigms"], device)
    _, visits = _small_bert(v)
    regimes = analysis.framework_bound_regimes(visits[visits["backend"] == BASELINE]) if not visits.empty else None
    curve = regimes.iloc[0] if regimes is not None and len(regimes) else None
    rows = table[(table["claim"] == "a") & (table["machine_label"] == v.machine)] if not table.empty else table
    verdict = str(rows["verdict"].iloc[0]) if len(rows) else None
    said = (f"Claim (a) is {claims_page.verdict_badge(verdict)} on {v.machine}: the paper's flat-latency claim "
            f"{FLAT_CLAIM_READS.get(verdict, 'reads so there')}." if verdict else "")
    measured = (f": here {curve['model']}'s eager T(4)/T(1), paired by round, is "
                f"{ratio_text(curve['t4'], curve['t4_low'], curve['t4_high'], curve['t4_rounds'])}"
                if curve is not None and pd.notna(curve["t4"]) else "")
    return (f"The paper calls a model framework-bound while its latency is nearly flat in batch "
            f"({claims_page.threshold_text('a')}). On a CPU, host cost and compute add up in every call, so a large "
            f"tax can coexist with a curve that is never flat{measured}. {said}").rstrip()


def premise_note(table: pd.DataFrame) -> str:
    """Under the table, where any claim reads `PREMISE_NOT_MET`: which claims, on which machines, and why (empty
    where none does)."""
    rows = table[table["verdict"] == PREMISE_NOT_MET] if not table.empty else table
    if rows.empty:
        return ""
    letters = join([f"({c})" for c in CLAIMS if c in set(rows["claim"])])
    machines = join(sorted({str(m) for m in rows["machine_label"].fillna(rows["machine_id"])}))
    return (f"Claims {letters} are about a framework-bound model: on {machines} claim (a)'s rule, the paper's "
            f"definition, finds no flat curve, so they read {claims_page.verdict_badge(PREMISE_NOT_MET)}.")


def batch_finding(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ1: how many eager fp32 curves rise from their smallest to their largest batch, and what the small BERT pays
    for its largest batch, paired by round."""
    v = view(studies["framework-bound"], device)
    ratios = framework_bound_page.ratios(v, "batch_size")
    if ratios is None or ratios.empty:
        return "**Batching (RQ1).** No batch sweep has been measured yet. See {doc}`01-framework-bound`"
    ends = framework_bound_page.ends(ratios[(ratios["backend"] == BASELINE) & (ratios["dtype"] == "fp32")],
                                     "batch_size")
    if ends.empty:
        return "**Batching (RQ1).** No eager fp32 batch sweep has been measured yet. See {doc}`01-framework-bound`"
    rising = sum(bool(is_real(r.ratio_low, r.ratio_high)) and r.ratio > 1 for r in ends.itertuples())
    shown = ends[ends["model"] == SMALL_MODEL]
    r = (shown if len(shown) else ends.sort_values("batch_size", ascending=False)).iloc[0]
    return (f"**Batching costs latency (RQ1).** {rising} of {len(ends)} eager curves rise from their smallest batch to "
            f"their largest beyond their interval; for {sig(r['batch_size'])}x the batch, {r['model']}'s latency "
            f"grows {ratio_text(r['ratio'], r['ratio_low'], r['ratio_high'], r['rounds'])}, paired by round. "
            f"See {{doc}}`01-framework-bound`")


def runtime_finding(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ2: the fastest runtime at the small BERT's largest batch, picked there, and whether it still beats eager."""
    v = view(studies["paradigms"], device)
    rows, visits = _small_bert(v)
    speedups = analysis.speedups(visits) if not visits.empty else pd.DataFrame()
    link = " See {doc}`02-framework-paradigms`"
    if speedups.empty:
        return "**Runtimes (RQ2).** No runtime has been measured beside eager yet." + link
    large = int(rows["batch_size"].max())
    best = _fastest(speedups, large)
    if best.empty:
        return f"**Runtimes (RQ2).** No runtime was measured beside eager at batch {large}." + link
    b = best.iloc[0]
    real = is_real(b["speedup_low"], b["speedup_high"])
    return (f"**The gain fades with the batch (RQ2).** At batch {large}, {b['backend']}, the fastest runtime there, "
            "has a speedup over eager of "
            f"{ratio_text(b['speedup'], b['speedup_low'], b['speedup_high'], b['rounds'])}: "
            + ("still a difference on this machine." if real else
               "the records cannot tell it from eager on this machine.") + link)


def design_finding(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ3: in the width x depth grid at the smallest batch, the largest configuration's FLOPs and latency over the
    smallest's, the latency paired by round."""
    v = view(studies["model-design"], device)
    grid = ok_rows(model_design_page.grid_rows(v), "flops")
    link = " See {doc}`03-model-design`"
    if grid.empty:
        return "**Model design (RQ3).** The width x depth grid has not been measured yet." + link
    small = int(grid["batch_size"].min())
    at = grid[grid["batch_size"] == small].sort_values("flops")
    least, most = at.iloc[0], at.iloc[-1]
    visits = v.visits[(v.visits["batch_size"] == small) & (v.visits["model"] == least["model"])
                      & v.visits["overrides"].isin([least["overrides"], most["overrides"]])]
    r = paired_ratios(visits, "overrides", least["overrides"]) if len(at) > 1 else pd.DataFrame()
    r = r[r["overrides"] == most["overrides"]] if not r.empty else r
    if r.empty:
        return "**Model design (RQ3).** The grid has too few configurations to compare." + link
    r = r.iloc[0]
    return (f"**Arithmetic shows in latency (RQ3).** In the BERT width x depth grid at batch {small}, the largest "
            f"configuration has {sig(most['flops'] / least['flops'], 2)}x the FLOPs of the smallest and, paired by "
            f"round, {ratio_text(1 / r['ratio'], 1 / r['ratio_high'], 1 / r['ratio_low'], r['rounds'])} its latency. "
            f"The paper expects extra arithmetic to be nearly free while a model is framework-bound." + link)


def decode_finding(studies: Mapping[str, object], device: str = "auto") -> str:
    """RQ5 (ours): the fastest runtime's decode-step speedup over eager at the smallest batch, paired by round."""
    v = view(studies["decode"], device)
    speedups = analysis.speedups(decode_page.decode_visits(v))
    link = " See {doc}`09-decode`"
    if speedups.empty:
        return "**Decoding (RQ5, ours).** No runtime has decoded beside eager yet." + link
    small = int(speedups["batch_size"].min())
    best = _fastest(speedups, small)
    if best.empty:
        return f"**Decoding (RQ5, ours).** No runtime decoded beside eager at batch {small}." + link
    b = best.iloc[0]
    return (f"**Decoding (RQ5, ours).** For one {b['model']} decode step at batch {small}, {b['backend']}, the "
            f"fastest runtime there, has a speedup over eager of "
            f"{ratio_text(b['speedup'], b['speedup_low'], b['speedup_high'], b['rounds'])}, paired by round." + link)


def machines_finding(studies: Mapping[str, object]) -> str:
    """RQ4 and the profiler's split: claims (f) and (g) compare machines; how many have records."""
    frame = studies["hardware"].all
    machines = frame["machine_label"].nunique() if not frame.empty and "machine_label" in frame else 0
    wait = "they wait for a second one" if machines < 2 else "they set them side by side"
    return (f"**Hardware (RQ4).** Claims (f) and (g) compare machines; with {plural(machines, 'machine')} measured, "
            f"{wait}. See {{doc}}`04-hardware` and, for one call split by the profiler, {{doc}}`05-where-time-goes`")


def records_line(studies: Mapping[str, object], device: str = "auto") -> str:
    """What the page was computed from: the records, the machine shown and the profile."""
    data = studies["paradigms"]
    return (f"Computed when this page was built from the {len(data.all)} records in `{data.results_dir}`; the "
            f"findings show {view(data, device).here}.")


def texts(studies: Mapping[str, object], table: pd.DataFrame, device: str = "auto") -> dict[str, str]:
    """Every Markdown output of the page by its glue key, in the reader's order (the figure apart)."""
    return {"tax": tax_markdown(studies, device), "claims": claims_page.table_markdown(table),
            "claims-note": premise_note(table),
            "flat": flat_markdown(studies, table, device), "finding-batch": batch_finding(studies, device),
            "finding-runtimes": runtime_finding(studies, device), "finding-design": design_finding(studies, device),
            "finding-decoding": decode_finding(studies, device), "finding-machines": machines_finding(studies),
            "records": records_line(studies, device)}


def glue_page(studies: Mapping[str, object], device: str = "auto") -> None:
    """Glue every output of the page: `texts` under their keys and the figure as `tax-figure` (with its caption),
    from one verdict frame (`ftax.pages.claims.table`)."""
    from IPython.display import Markdown
    from myst_nb import glue

    from ftax.pages import glue_figure

    for key, text in texts(studies, claims_page.table(studies), device).items():
        glue(key, Markdown(text), display=False)
    glue_figure("tax-figure", tax_figure(studies, device))
