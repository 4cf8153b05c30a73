"""The validation appendix's statements: tables and sentences from `ftax.study.validation`'s rows.

`agreement` (each method's central value against ftax's median), `repeatability`, `overhead`,
`sensitivity_summary` and `explain` (the measured cause of each disagreement over 5%, or that none
was found) turn the measured (or stored) rows into tables; the `*_markdown` and `*_phrase` functions turn
the tables into what the page prints, so no number in the appendix is typed by hand.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ftax.read.text import join, markdown_table, sig
from ftax.measure.timing import StopRule
from ftax.measure.validation_spec import BACK_TO_BACK, KNOWN, METHODS, SLEEP_S, TOLERANCE, ValidationPlan, ValidationRun

# --- analysis: from rows to tables ---------------------------------------------------------------

def agreement(frame: pd.DataFrame) -> pd.DataFrame:
    """Per target and method: median over rounds of the central value and spread, the range of the
    rounds' centers, the calls and seconds one measurement took, and `ratio_to_ftax`: the method's
    median over rounds over ftax's (the rounds interleave the methods, so drift hits all alike).
    ftax's rows also carry its median sample mean and pipelined time, and the subprocess's ftax's own
    median inside the fresh process, which `explain` uses."""
    if frame.empty:
        return pd.DataFrame(columns=["target", "method", "center_ms", "spread_ms", "low_ms", "high_ms", "n",
                                     "time_s", "rounds", "ratio_to_ftax", "mean_ms", "pipelined_ms"])
    extra = {c: (c, "median") for c in ("mean_ms", "pipelined_ms", "ftax_fresh_ms") if c in frame}
    table = (frame.groupby(["target", "method"], sort=False)
             .agg(center_ms=("center_ms", "median"), spread_ms=("spread_ms", "median"), low_ms=("center_ms", "min"),
                  high_ms=("center_ms", "max"), n=("n", "median"), time_s=("time_s", "median"),
                  rounds=("round", "count"), **extra).reset_index())
    targets = list(dict.fromkeys(frame["target"]))
    methods = [m for m in METHODS if m in set(frame["method"])] + sorted(set(frame["method"]) - set(METHODS))
    table = table.sort_values(["target", "method"], key=lambda col: col.map(
        {v: i for i, v in enumerate(targets if col.name == "target" else methods)})).reset_index(drop=True)
    ftax = table[table.method == "ftax"].set_index("target")["center_ms"]
    table.insert(table.columns.get_loc("rounds") + 1, "ratio_to_ftax", table["center_ms"] / table["target"].map(ftax))
    return table


def repeatability(frame: pd.DataFrame) -> pd.DataFrame:
    """Coefficient of variation of each method's central value over the repeated rounds, per target
    (methods measured in one round only are left out)."""
    if frame.empty:
        return pd.DataFrame(columns=["target", "method", "runs", "cv_of_medians"])
    grouped = frame.sort_values("round", kind="stable").groupby(["target", "method"], sort=False)["center_ms"]
    table = pd.DataFrame({"runs": grouped.count(), "cv_of_medians": grouped.std(ddof=1) / grouped.mean()})
    return table[table.runs >= 2].reset_index()


def overhead(table: pd.DataFrame) -> pd.DataFrame:
    """Harness cost per call of each method: its central value on the empty callable (which does
    nothing, so all that is timed is the method's own clock reads, loop and call)."""
    empty = table[table["target"] == "empty"] if "target" in table else table
    return pd.DataFrame({"method": list(empty.get("method", [])),
                         "per_call_us": [v * 1e3 for v in empty.get("center_ms", [])]})


def sensitivity_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per factor and setting: ftax's median over rounds, the rounds' range, and the ratio to the
    factor's first (ftax's own) setting, paired round by round."""
    if rows.empty:
        return pd.DataFrame(columns=["factor", "setting", "center_ms", "low_ms", "high_ms", "ratio", "rounds"])
    base = rows.groupby(["factor", "round"], sort=False)["center_ms"].first()
    paired = rows["center_ms"] / pd.Series(list(zip(rows["factor"], rows["round"])), index=rows.index).map(base)
    return (rows.assign(paired=paired).groupby(["factor", "setting"], sort=False)
            .agg(center_ms=("center_ms", "median"), low_ms=("center_ms", "min"), high_ms=("center_ms", "max"),
                 ratio=("paired", "median"), rounds=("round", "count")).reset_index())


def _causes(row: pd.Series, ftax: pd.Series, cost_ms: pd.Series) -> dict[str, tuple[float, str]]:
    """Measured causes of a method's ratio to ftax on one target: name -> (the ratio it predicts, evidence)."""
    method, target, c = row.method, row.target, ftax.center_ms
    causes = {}
    if method in cost_ms and "ftax" in cost_ms:
        evidence = (f"on the empty callable {method} costs {sig(cost_ms[method] * 1e3)} µs per call and ftax "
                    f"{sig(cost_ms['ftax'] * 1e3)} µs")
        if target == "empty":  # it times nothing but the harness: the ratio is the overhead's, by construction
            return {"harness overhead": (row.ratio_to_ftax, evidence + ", and it times nothing else")}
        causes["harness overhead"] = (1 + (cost_ms[method] - cost_ms["ftax"]) / c, evidence)
    if method in BACK_TO_BACK and pd.notna(ftax.get("pipelined_ms")):
        causes["back-to-back calls"] = (ftax.pipelined_ms / c, f"ftax's own pipelined time is "
                                        f"{sig(ftax.pipelined_ms)} ms against its per-call median {sig(c)} ms")
    if method in BACK_TO_BACK and pd.notna(ftax.get("mean_ms")):
        causes["mean, not median"] = (ftax.mean_ms / c, f"ftax's own samples have mean {sig(ftax.mean_ms)} ms "
                                      f"and median {sig(c)} ms")
    if pd.notna(row.get("ftax_fresh_ms")):
        causes["fresh process"] = (row.ftax_fresh_ms / c, f"ftax's own measurement inside the fresh process gives "
                                   f"{sig(row.ftax_fresh_ms)} ms against {sig(c)} ms here")
    return causes


def explain(table: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Every method whose ratio to ftax is off 1 by more than `tolerance`, with the measured cause
    that accounts for it. Causes, each computed from this run's rows:
    - `harness overhead`: 1 + (method's - ftax's cost per call on the empty callable) / ftax's median
      (on the empty callable itself the whole ratio is harness overhead);
    - `back-to-back calls` (block methods): ftax's own pipelined time / its per-call median;
    - `mean, not median` (block methods): ftax's own sample mean / its median;
    - `fresh process` (subprocess): ftax's own median measured inside the fresh process / here;
    - `round-to-round variation`: the ratio lies within ftax's own medians over the rounds (min to max,
      over their median), checked when no cause above predicts the ratio within `tolerance`.
    A cause accounts for a ratio when it predicts it within `tolerance` and at least half of its
    distance from 1 (on a log scale): a cause predicting no difference explains none. Otherwise the row
    is not explained, and the closest cause and ftax's own range are stated."""
    columns = ["target", "method", "ratio", "cause", "predicted", "explained", "sentence"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    cost_ms = overhead(table).set_index("method")["per_call_us"] / 1e3
    rows = []
    for _, r in table[(table.method != "ftax") & ((table.ratio_to_ftax - 1).abs() > tolerance)].iterrows():
        ftax = table[(table.target == r.target) & (table.method == "ftax")].iloc[0]
        ratio = r.ratio_to_ftax
        causes = _causes(r, ftax, cost_ms)
        fits = {name: abs(np.log(ratio / predicted)) for name, (predicted, _) in causes.items()}
        best = min(fits, key=fits.get) if fits else None
        # a cause explains only a difference it predicts: within tolerance, and at least half the way from 1
        accounts = best is not None and fits[best] <= np.log1p(tolerance) and \
            np.log(causes[best][0]) / np.log(ratio) >= 0.5
        low, high = ftax.low_ms / ftax.center_ms, ftax.high_ms / ftax.center_ms
        spanned = (f"ftax's own medians over {int(ftax.rounds)} rounds spanned {sig(ftax.low_ms)} to "
                   f"{sig(ftax.high_ms)} ms, {sig(low)}x to {sig(high)}x")
        head = f"{r.target}, {r.method} at {sig(ratio)}x ftax"
        if accounts:
            predicted, evidence = causes[best]
            row = [best, predicted, True, f"{head}: {best}; {evidence}, which predicts {sig(predicted)}x"]
        elif low <= ratio <= high:
            row = ["round-to-round variation", ratio, True, f"{head}: round-to-round variation; {spanned}"]
        else:
            predicted, evidence = causes[best] if best else (np.nan, "")
            closest = f"; the closest measured cause, {best} ({evidence}), predicts {sig(predicted)}x" if best else ""
            row = [best or "none", predicted, False, f"{head}: not explained{closest}; {spanned}"]
        rows.append([r.target, r.method, ratio, *row])
    return pd.DataFrame(rows, columns=columns)


# --- statements: tables and sentences the appendix prints -----------------------------------------

def plan_markdown(the_plan: ValidationPlan) -> str:
    """What the page will measure: targets, methods, rounds and the profile's stopping rule."""
    r = the_plan.rule
    table = markdown_table(["callable", "model", "runtime", "batch", "seq len", "device"],
                           [(t.name, t.model or "-", t.backend if t.model else "Python", t.batch_size if t.model else "-",
                             t.seq_len if t.model else "-", t.device if t.model else "host") for t in the_plan.targets])
    return table + (
        f"\n\nMethods: {join(METHODS)}; {the_plan.rounds} rounds, each visiting every callable with the "
        f"in-process methods in a rotating order (the subprocess once, after the first round). "
        f"Profile `{the_plan.profile}` stops ftax when the 95% CI of the median is within "
        f"{sig(r.target_rel_ci * 100)}% of it, after at least {r.min_iters} calls and {sig(r.min_time_s)} s, "
        f"or at {sig(r.max_time_s)} s; torch.utils.benchmark gets the same threshold and time limits.")


def summary_markdown(run: ValidationRun, here: str, results_dir: str = "results") -> str:
    """One paragraph: what was measured, how long it took, the machine's load and where the run is stored (with
    its provenance); or, once for the whole page, that nothing is stored and nothing was measured."""
    if not run.measured:
        return (f"Nothing to show: no machine has a validation run stored in `{results_dir}/validation/`, and this "
                f"build did not measure (`measure=False`), so every section below is empty. `make book`, or this page "
                f"with `measure=True`, measures this machine and stores its run there.")
    cores = cores_of(run)
    skipped = "".join(f" {name} was skipped: {why}." for name, why in run.skipped)
    return (f"Measured {run.frame['target'].nunique()} callables with {run.frame['method'].nunique()} methods "
            f"and {len(run.sensitivity)} sensitivity runs in {sig(run.seconds)} s on {here}. The load average "
            f"(1 min) was {sig(run.load_1m[0], 2)} at the start and {sig(run.load_1m[1], 2)} at the end, "
            f"on {cores} cores: a load above the core count means other processes competed for the CPU.{skipped}"
            + provenance_phrase(run))


def cores_of(run: ValidationRun) -> int:
    """The core count of the machine that measured `run` (this one's for a run that names none)."""
    return int(run.provenance.get("cpu_count") or os.cpu_count() or 1)


def provenance_phrase(run: ValidationRun) -> str:
    """' Measured on host h (machine id) at T with torch X and ftax Y (commit c); stored in `path`, ...'."""
    p = run.provenance
    if not p:
        return ""
    commit = f", commit {p['commit']}" if p.get("commit") else ""
    how = ("measured by this build and appended there" if p.get("measured_now") else "read back from there: this "
           "build measured nothing new (a run of this machine is stored, or `measure=False`)")
    return (f" The run was measured on host `{p.get('host')}` ({p.get('machine_id')}) at {p.get('timestamp')} with "
            f"torch {p.get('torch')} and ftax {p.get('ftax')}{commit}; it is stored in `{p.get('stored')}`, {how}.")


def agreement_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "Nothing measured, so there is no agreement table."
    return markdown_table(
        ["callable", "method", "central value (ms)", "spread, IQR (ms)", "ratio to ftax", "calls", "seconds", "rounds"],
        [(r.target, r.method, sig(r.center_ms), sig(r.spread_ms, 2), sig(r.ratio_to_ftax), int(r.n),
          sig(r.time_s, 2), r.rounds) for r in table.itertuples()])


def overhead_markdown(table: pd.DataFrame) -> str:
    cost = overhead(table)
    if cost.empty:
        return "Nothing measured on the empty callable, so no harness overhead to report."
    models_ = table[(table.method == "ftax") & ~table.target.isin(KNOWN)]
    fastest = models_.center_ms.min() if len(models_) else None
    header = ["method", "harness cost per call (µs)"] + (["share of the fastest model call"] if fastest else [])
    return markdown_table(header, [(r.method, sig(r.per_call_us))
                                   + ((f"{sig(r.per_call_us / 1e3 / fastest * 100, 2)}%",) if fastest else ())
                                   for r in cost.itertuples()])


def agreement_phrase(table: pd.DataFrame, tolerance: float = TOLERANCE) -> str:
    """How many comparisons on the model callables agree with ftax within `tolerance`, and the range of
    their ratios (the known-answer callables are stated apart: their ratios are the harnesses')."""
    others = table[(table.method != "ftax") & ~table.target.isin(KNOWN)] if not table.empty else table
    if others.empty:
        return "no model was timed by a method other than ftax"
    within = others[(others.ratio_to_ftax - 1).abs() <= tolerance]
    return (f"{len(within)} of {len(others)} comparisons on the models {'agrees' if len(within) == 1 else 'agree'} "
            f"with ftax's median within "
            f"{sig(tolerance * 100)}%, with ratios from {sig(others.ratio_to_ftax.min())}x to "
            f"{sig(others.ratio_to_ftax.max())}x")


def sleep_phrase(table: pd.DataFrame) -> str:
    """The known-answer check: the sleep callable's medians against the requested sleep."""
    sleep = table[table.target == "sleep-1ms"] if not table.empty else table
    if sleep.empty:
        return "The sleep callable was not measured."
    listed = join([f"{r.method} {sig(r.center_ms)} ms" for r in sleep.itertuples()])
    return (f"Every method must time the {sig(SLEEP_S * 1e3)} ms sleep at {sig(SLEEP_S * 1e3)} ms or more (the OS "
            f"may wake the thread late, never early): {listed}.")


def overhead_phrase(table: pd.DataFrame) -> str:
    cost = overhead(table).set_index("method")["per_call_us"]
    models_ = table[(table.method == "ftax") & ~table.target.isin(KNOWN)] if not table.empty else table
    if cost.empty or "ftax" not in cost:
        return "The empty callable was not measured, so the harness overhead is unknown."
    text = (f"ftax's harness (two clock reads, the synchronization and the call) costs {sig(cost['ftax'])} µs per "
            f"sample; " + join([f"{m} {sig(v)} µs" for m, v in cost.drop('ftax').items()]))
    if len(models_):
        fastest = models_.loc[models_.center_ms.idxmin()]
        text += (f". That is {sig(cost['ftax'] / 1e3 / fastest.center_ms * 100, 2)}% of the fastest model call "
                 f"measured ({fastest.target}, {sig(fastest.center_ms)} ms)")
    return text + "."


def cost_phrase(table: pd.DataFrame, frame: pd.DataFrame, rule: StopRule) -> str:
    """How often ftax met the profile's precision target, and what each method spent per measurement."""
    ftax = frame[frame.method == "ftax"] if not frame.empty else frame
    if ftax.empty:
        return "Nothing measured."
    met = int(ftax.target_met.astype(bool).sum())
    per = (table.groupby("method", sort=False)[["time_s", "n"]].median() if not table.empty else pd.DataFrame())
    spent = join([f"{m} {sig(r.time_s, 2)} s" for m, r in per.iterrows()])
    return (f"ftax reached its target (95% CI of the median within {sig(rule.target_rel_ci * 100)}%) in {met} of "
            f"{len(ftax)} measurements, stopping at the {sig(rule.max_time_s)} s limit otherwise. The median "
            f"seconds per measurement over all callables: {spent}.")


def repeatability_phrase(rep: pd.DataFrame) -> str:
    ftax = rep[rep.method == "ftax"] if not rep.empty else rep
    if ftax.empty:
        return "Repeatability needs two rounds or more; none were measured."
    listed = join([f"{r.target} {sig(r.cv_of_medians * 100, 2)}%" for r in ftax.sort_values("cv_of_medians")
                   .itertuples()])
    text = f"The coefficient of variation of ftax's medians over {int(ftax.runs.max())} rounds: {listed}."
    models_ = rep[~rep.target.isin(KNOWN)]
    if not models_.empty:
        worst = models_.loc[models_.cv_of_medians.idxmax()]
        text += (f" On the models, the least repeatable method is {worst.method} on {worst.target} "
                 f"({sig(worst.cv_of_medians * 100, 2)}%).")
    if "empty" in set(ftax.target):
        text += (" The empty callable's times are a tenth of a microsecond, close to the cost of reading the "
                 "clock, so their variation says little about the models'.")
    return text


def sensitivity_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "Nothing measured, so no sensitivity table."
    return markdown_table(
        ["factor", "setting", "ftax median (ms)", "range over rounds (ms)", "ratio to ftax's setting"],
        [(r.factor, r.setting, sig(r.center_ms), f"{sig(r.low_ms)} to {sig(r.high_ms)}", sig(r.ratio))
         for r in summary.itertuples()])


def sensitivity_phrase(summary: pd.DataFrame) -> str:
    """'threads: 1 thread gives 0.12x the median of 2 threads; ...' for each setting not ftax's own."""
    phrases = []
    for factor, part in (summary.groupby("factor", sort=False) if not summary.empty else []):
        phrases += [f"{factor}: {r.setting} gives {sig(r.ratio)}x the median of {part.setting.iloc[0]}"
                    for r in part.iloc[1:].itertuples()]
    return "; ".join(phrases) if phrases else "No setting measured"


def sensitivity_finding(summary: pd.DataFrame, tolerance: float = TOLERANCE) -> str:
    """Which settings move ftax's median beyond `tolerance` and outside the rounds' range of ftax's own
    setting (an effect), and which do not (indistinguishable from noise here)."""
    effects, noise = [], []
    for factor, part in (summary.groupby("factor", sort=False) if not summary.empty else []):
        base = part.iloc[0]
        for r in part.iloc[1:].itertuples():
            phrase = f"{r.setting} ({factor}, {sig(r.ratio)}x)"
            outside = r.center_ms < base.low_ms or r.center_ms > base.high_ms
            (effects if abs(r.ratio - 1) > tolerance and outside else noise).append(phrase)
    if not effects and not noise:
        return "No setting measured."
    return (f"Moving the median by more than {sig(tolerance * 100)}% and outside the range of ftax's own setting "
            f"over the rounds: {join(effects)}. Within that range or that tolerance, so not distinguishable from "
            f"the machine's noise here: {join(noise)}.")


def cuda_phrase(cuda: pd.DataFrame) -> str:
    if cuda.empty:
        return ("This section needs a CUDA device: on a CPU there is no asynchronous device to synchronize, so "
                "synchronized, pipelined and unsynchronized timing cannot differ for that reason.")
    listed = join([f"batch {r.batch_size}: synchronized {sig(r.sync_wall_ms)} ms, CUDA events "
                    f"{sig(r.cuda_events_ms)} ms, pipelined {sig(r.pipelined_ms)} ms, without a sync "
                    f"{sig(r.no_sync_ms)} ms ({sig(r.no_sync_ms / r.sync_wall_ms * 100, 2)}% of the real time)"
                    for r in cuda.itertuples()])
    return f"Median per-call time of bert-base: {listed}."


def nothing(run: ValidationRun) -> bool:
    """Whether the page has no run to show (the summary then says so, once, and the sections stay empty)."""
    return not run.measured or run.frame.empty


def explain_markdown(explained: pd.DataFrame, tolerance: float = TOLERANCE) -> str:
    """A bullet per disagreement beyond `tolerance`, then how many a measured cause accounts for."""
    if explained.empty:
        return f"No method differs from ftax's median by more than {sig(tolerance * 100)}% on any callable."
    head = f"Where a method differs from ftax's median by more than {sig(tolerance * 100)}%, the measured cause:\n\n"
    counts = explained[explained.explained].groupby("cause", sort=False).size()
    tally = join([f"{cause} {n}" for cause, n in counts.items()], "none")
    unexplained = int((~explained.explained).sum())
    return (head + "\n".join(f"- {s}." for s in explained.sentence) +
            f"\n\nOf {len(explained)} disagreements beyond {sig(tolerance * 100)}%, a measured cause accounts for "
            f"{len(explained) - unexplained} ({tally}); {unexplained} "
            f"{'remains' if unexplained == 1 else 'remain'} unexplained by the causes measured here.")


def verdict(table: pd.DataFrame, explained: pd.DataFrame, rep: pd.DataFrame, run: ValidationRun,
            tolerance: float = TOLERANCE) -> str:
    """The page's conclusion, from its own numbers: the known-answer check, how many comparisons agree,
    how many disagreements stay unexplained, and the noise floor a reader should apply to the book."""
    sleep = table[table.target == "sleep-1ms"]
    sleep_ok = (f"every method timed the {sig(SLEEP_S * 1e3)} ms sleep at or above it"
                if not sleep.empty and (sleep.center_ms >= SLEEP_S * 1e3).all() else
                "the sleep check failed or was not measured")
    unexplained = int((~explained.explained).sum()) if not explained.empty else 0
    models_ = rep[(rep.method == "ftax") & ~rep.target.isin(KNOWN)] if not rep.empty else rep
    floor = ""
    if not models_.empty:
        worst = models_.loc[models_.cv_of_medians.idxmax()]
        floor = (f" ftax's median of a model moved by up to {sig(worst.cv_of_medians * 100, 2)}% (CV, "
                 f"{worst.target}) between rounds here, with the load average at {sig(max(run.load_1m), 2)} "
                 f"on {cores_of(run)} cores. That is the yardstick for the agreement between timing methods: "
                 f"two methods, or one method on two runs, that differ by less than it agree. It is not the "
                 f"test of a paired speedup: the book calls a paired ratio real, a difference on this machine, "
                 f"when its paired interval excludes 1 (see {{doc}}`../methodology`), whatever its size.")
    return (f"**In short.** On this run, {sleep_ok}; {agreement_phrase(table, tolerance)}; {unexplained} "
            f"disagreement{'s' if unexplained != 1 else ''} beyond {sig(tolerance * 100)}% "
            f"{'remain' if unexplained != 1 else 'remains'} without a measured cause.{floor}")
