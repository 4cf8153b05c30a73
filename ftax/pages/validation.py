"""The validation appendix (90-validation): its figures, captions and findings from one validation run.

`view` computes the run's tables once (`ftax.appendix.validation_report`); each function below is one cell's
output. Nothing here measures: the run comes from `ftax.study.validation.open_validation` (measured now or stored
in `results_dir/validation/`); without one the summary says so once and every other section shows
nothing (`_section`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, TypeVar

import pandas as pd
from matplotlib.figure import Figure

from ftax.appendix import calibration_report, run_commits, validation_plots
from ftax.pages import glue_figure, glue_markdown
from ftax.store import env
from ftax.appendix import validation_report as report
from ftax.read.load_notes import where
from ftax.measure.validation_spec import SENSITIVITY_TARGET, TOLERANCE, ValidationPlan, ValidationRun

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class ValidationView:
    """A validation run and the tables the appendix shows, with the machine named as in captions."""

    run: ValidationRun
    machine: str
    here: str
    table: pd.DataFrame  # report.agreement
    explained: pd.DataFrame  # report.explain
    rep: pd.DataFrame  # report.repeatability
    sens: pd.DataFrame  # report.sensitivity_summary
    results_dir: str = "results"

    @property
    def plan(self) -> ValidationPlan:
        return self.run.plan


def machine_here(plan: ValidationPlan, run: ValidationRun | None = None) -> tuple[str, str]:
    """The label of the machine that measured `run` (this machine's for the plan's device when the run names none),
    and how captions name it with the profile."""
    machine = (run.machine_label if run is not None else "") or env.machine_label(env.fingerprint(), plan.device)
    return machine, where(machine, plan.profile)


def view(run: ValidationRun, results_dir: str = "results") -> ValidationView:
    """The appendix's view of `run`: its agreement, explanation, repeatability and sensitivity tables."""
    machine, here = machine_here(run.plan, run)
    table = report.agreement(run.frame)
    return ValidationView(run, machine, here, table, report.explain(table), report.repeatability(run.frame),
                          report.sensitivity_summary(run.sensitivity), results_dir)


def plan_markdown(plan: ValidationPlan) -> str:
    """What the page will time (before timing it)."""
    return report.plan_markdown(plan)


def summary(v: ValidationView) -> str:
    """What was measured, how long it took and how loaded the machine was."""
    return report.summary_markdown(v.run, v.here, v.results_dir)


EMPTY = "<!-- no validation run: the summary under Measure says so, once -->"


class Blank:
    """What a figure cell shows on a page with no run: nothing visible (its HTML is `EMPTY`, a comment)."""

    def _repr_html_(self) -> str:
        return EMPTY


def _section(fn: Callable[[ValidationView], T]) -> Callable[[ValidationView], T]:
    """A section's output, or on a page with no run nothing visible: `EMPTY` (an HTML comment) for Markdown,
    a `Blank` figure with `EMPTY` as its caption; the summary has said, once, that nothing is stored."""
    @functools.wraps(fn)
    def shown(v: ValidationView):
        if not report.nothing(v.run):
            return fn(v)
        return (Blank(), EMPTY) if fn.__name__.endswith("_figure") else EMPTY
    return shown


@_section
def agreement_table(v: ValidationView) -> str:
    return report.agreement_markdown(v.table)


def _title(v: ValidationView, what: str) -> str:
    return f"{what}: {v.machine}, profile {v.plan.profile}"


@_section
def methods_figure(v: ValidationView) -> tuple[Figure, str]:
    """Each method's central value per callable."""
    figure = validation_plots.validation_methods(v.table, title=_title(v, "Time per call by method"))
    return figure, (
        f"Central value of each method per callable on {v.here}: the dot is the median over {v.plan.rounds} rounds, "
        f"the shaded bar the range of the rounds' values, the whisker one IQR of a single measurement wide; each "
        f"label is the ratio to ftax's median. {report.agreement_phrase(v.table)}.")


@_section
def methods_finding(v: ValidationView) -> str:
    return (
        f"**Finding.** {report.sleep_phrase(v.table)} On the callables whose answer is known, the methods can "
        f"only differ by what they add themselves (see the harness overhead below). "
        f"{report.agreement_phrase(v.table)}.")


@_section
def ratios_figure(v: ValidationView) -> tuple[Figure, str]:
    """Each method's ratio to ftax's median, with the tolerance band."""
    figure = validation_plots.validation_ratios(v.table, TOLERANCE, title=_title(v, "Ratio to ftax's median"))
    explained = v.explained
    return figure, (
        f"Each method's central value over ftax's median per callable on {v.here}, on a log2 axis; the gray band is "
        f"ftax +-{TOLERANCE * 100:g}%. {len(explained)} points lie outside it, "
        f"{int(explained.explained.sum()) if len(explained) else 0} of them with a measured cause (listed below).")


@_section
def explain_finding(v: ValidationView) -> str:
    return ("**Finding.** " + report.explain_markdown(v.explained))


@_section
def overhead_finding(v: ValidationView) -> str:
    return (
        report.overhead_markdown(v.table) + "\n\n**Finding.** " + report.overhead_phrase(v.table))


@_section
def cost_figure(v: ValidationView) -> tuple[Figure, str]:
    """What one measurement cost each method, in seconds and in calls."""
    figure = validation_plots.validation_cost(v.table, title=_title(v, "Cost of one measurement"))
    return figure, (
        f"Seconds (left) and calls (right) one measurement took per method and callable on {v.here}, median over the "
        f"rounds. ftax and torch-benchmark stop adaptively at the profile's precision "
        f"({v.plan.rule.target_rel_ci * 100:g}%); the loop runs a fixed number of calls; the subprocess's seconds "
        f"include building the model in the new process (not starting Python or importing torch).")


@_section
def cost_finding(v: ValidationView) -> str:
    return f"**Finding.** {report.cost_phrase(v.table, v.run.frame, v.plan.rule)}"


@_section
def repeat_figure(v: ValidationView) -> tuple[Figure, str]:
    """How much each method's central value moved between rounds."""
    figure = validation_plots.validation_repeatability(v.rep, title=_title(v, "Repeatability"))
    return figure, (
        f"Coefficient of variation (standard deviation over mean) of each method's central value over "
        f"{v.plan.rounds} rounds, per callable on {v.here}, on a log axis; the subprocess runs once and is left out.")


@_section
def repeat_finding(v: ValidationView) -> str:
    return f"**Finding.** {report.repeatability_phrase(v.rep)}"


def calibration(results_dir: str = "results", part: str = "all") -> str:
    """Whether the book's intervals cover a re-run: every stored run of `benchmarks/calibration.py` per machine,
    pooled and one by one (`ftax.appendix.calibration_report`; `part` as there), shown whether or not this page has
    a validation run."""
    return calibration_report.markdown(results_dir, part)


@_section
def sensitivity_figure(v: ValidationView) -> tuple[Figure, str]:
    """ftax's median under each setting of threads, warm-up and garbage collection."""
    target = SENSITIVITY_TARGET
    title = _title(v, f"Sensitivity of ftax's median ({target.name})")
    figure = validation_plots.validation_sensitivity(v.sens, title=title)
    return figure, (
        f"ftax's median for {target.name} (batch {target.batch_size}, sequence {target.seq_len}) on {v.here} under "
        f"each setting: the bar is the median over {v.plan.rounds} rounds, the whisker their range, the label the "
        f"ratio to ftax's own setting (dark). {report.sensitivity_phrase(v.sens)}.")


@_section
def sensitivity_finding(v: ValidationView) -> str:
    return (
        report.sensitivity_markdown(v.sens) + "\n\n**Finding.** " + report.sensitivity_finding(v.sens))


@_section
def cuda_figure(v: ValidationView) -> tuple[Figure, str]:
    """One model timed four ways on a GPU: synchronized, CUDA events, pipelined, unsynchronized."""
    cuda = v.run.cuda
    if cuda.empty:
        return Blank(), EMPTY
    figure = validation_plots.validation_cuda_sync(cuda, title=_title(v, "Timing with and without synchronization"))
    return figure, (f"Median time per call of bert-base (sequence 128) on {v.here}, one panel per batch size, under "
                    f"four ways of timing it. {report.cuda_phrase(cuda)}")


@_section
def cuda_section(v: ValidationView) -> str:
    """The GPU's synchronization section, said only where the run has CUDA rows (else nothing visible)."""
    if v.run.cuda.empty:
        return EMPTY
    return ("**On a GPU: what synchronization changes.** The host only queues work, so a clock read without a "
            "synchronization times the launches, not the computation. For bert-base this compares four timings of "
            "the same call: ftax's synchronized wall time, CUDA events recorded around the call, the pipelined time "
            "of calls back to back (what `torch.utils.benchmark` measures), and the wall time without a "
            f"synchronization.\n\n**Finding.** {report.cuda_phrase(v.run.cuda)}")


def measured_line(v: ValidationView) -> str:
    """The visible line of "How this page was measured": the run read and the commits it and the book's records
    were measured at, with whether the timing code changed in between (`ftax.appendix.run_commits`)."""
    if report.nothing(v.run):
        return summary(v)
    p = v.run.provenance or {}
    commits = run_commits.record_commits(v.results_dir)
    changes = (run_commits.timing_changes(p["commit"], list(commits["commit"]))
               if p.get("commit") and not commits.empty else None)
    return (f"This appendix rests on one validation run of {v.machine} ({v.plan.rounds} rounds, profile "
            f"{v.plan.profile}) and on the calibration runs stored in `{v.results_dir}/calibration/`. "
            + run_commits.commits_markdown(p.get("commit"), p.get("timestamp"), commits, changes))


@_section
def verdict(v: ValidationView) -> str:
    """The page's conclusion, from its own numbers."""
    return report.verdict(v.table, v.explained, v.rep, v.run)


def glue_page(v: ValidationView, plan: ValidationPlan, results_dir: str) -> None:
    """Glue what page 90 places: each method's figure and finding, the agreement table, the harness overhead, the
    calibration (pooled and per run), the sensitivity, the GPU synchronization section (empty without CUDA rows), the
    verdict, and how the run was measured (`plan`; `results_dir` holds the calibration runs)."""
    glue_figure("val-methods", methods_figure(v), methods_finding(v))
    glue_markdown("val-agreement", agreement_table(v))
    glue_figure("val-ratios", ratios_figure(v), explain_finding(v))
    glue_markdown("val-overhead", overhead_finding(v))
    glue_figure("val-cost", cost_figure(v), cost_finding(v))
    glue_figure("val-repeat", repeat_figure(v), repeat_finding(v))
    glue_markdown("val-calibration", calibration(results_dir, "pooled"))
    glue_markdown("val-calibration-runs", calibration(results_dir, "runs"))
    glue_figure("val-sens", sensitivity_figure(v), sensitivity_finding(v))
    glue_markdown("val-cuda-section", cuda_section(v))
    glue_figure("val-cuda", cuda_figure(v))
    glue_markdown("val-verdict", verdict(v))
    glue_markdown("measured-line", measured_line(v))
    glue_markdown("val-plan", plan_markdown(plan))
    glue_markdown("val-summary", summary(v))

