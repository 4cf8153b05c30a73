"""A model of the tax: the text and figures of 08-tax-model.

It shows three estimates of the host cost, the model's predictions from batch 1 against every stored curve,
and the inflections it predicts."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ftax.read import analysis, curve_probes, tax_model, tax_model_validation
from ftax.read.estimates import newest_series, per_config
from ftax.read.findings import no_data
from ftax.pages import PageView
from ftax.read.rows import numbers, with_columns
from ftax.read.text import join, sig

THREE = ("bert-tiny", "bert-mini", "bert-base")
CURVE = ("model", "backend", "dtype", "seq_len", "overrides", "phase")  # what names a curve on this page
PREDICTORS = {"model": "the model as `ftax predict` runs it (H from the probe, or from the smallest shape where the "
                       "probe's is 0; on a CPU the rate held at batch 1's)",
              "by_size": "same H, the probe's rate at each batch's work per call",
              "held": "same H, the probe's rate at batch 1's work per call for every batch",
              "smallest": "H from the smallest shape",
              "decomposition": "H from the profiler's decomposition (one visit)",
              "constant": "baseline: T(1) at every batch",
              "flops_scaled": "baseline: T(1) x FLOPs(b) / FLOPs(1)",
              "two_point": f"two measurements: a line through batch 1 and batch {tax_model.SECOND_BATCH} (nearest "
                           f"measured; scored on the other batches)"}


def configs_of(visits: pd.DataFrame) -> pd.DataFrame:
    """One row per config (newest series) of `visits`, one row per visit: what the model is scored on."""
    return with_columns(per_config(newest_series(with_columns(visits)))) if not visits.empty else visits


def every_config(data, machine_id: str | None) -> pd.DataFrame:
    """One row per config of every study stored in the page's results (newest series), on `machine_id`."""
    configs = configs_of(data.all)
    return configs[configs["machine_id"] == machine_id] if machine_id and not configs.empty else configs


def host_estimates(v: PageView, configs: pd.DataFrame) -> pd.DataFrame:
    """The host cost of bert-tiny, bert-mini and bert-base (each runtime of the study) four ways: the decomposition's
    overhead at batch 1 and at the largest batch (a fixed cost would keep them equal), the intercept of latency
    against FLOPs over the batch sweep, the smallest shape's latency, and T(1) minus the probe's time for the work."""
    probes = curve_probes.stored_probes(v.results_dir)
    small = tax_model_validation.smallest_shapes(configs) if not configs.empty else pd.DataFrame()
    rows = []
    shown = v.frame[v.frame["model"].isin(THREE) & (v.frame["seq_len"] > 1)] if not v.frame.empty else v.frame
    for (model, backend, dtype, seq), c in (shown.groupby(["model", "backend", "dtype", "seq_len"]) if not
                                            shown.empty else []):
        c = c.sort_values("batch_size")
        overhead, share = numbers(c, "decomposition_overhead_ms"), numbers(c, "decomposition_overhead_share")
        one, last = c[c["batch_size"] == 1], c.iloc[-1]
        h, low, high = tax_model.host_from_intercept(c["flops"], c["estimate_ms"]) if "flops" in c else (math.nan,) * 3
        match = small[(small["model"] == model) & (small["backend"] == backend) & (small["dtype"] == dtype)
                      & (small["overrides"] == c["overrides"].iloc[0]) & (small["smallest_seq_len"] < seq)] \
            if not small.empty else small
        work = tax_model_validation.work_from_rows(c)
        probe = curve_probes.probe_for(probes, (c["machine_id"].iloc[0], c["device"].iloc[0], dtype),
                                       *curve_probes.curve_span(c))
        rows.append({"model": model, "runtime": backend, "seq": int(seq), "batches": f"1-{int(last['batch_size'])}",
                     "share, largest": float(share.iloc[-1]),
                     "between-round cv, largest": float(numbers(c, "between_round_cv").iloc[-1]),
                     "T(1) ms": float(one["estimate_ms"].iloc[0]) if len(one) else math.nan,
                     "decomposition ms, batch 1": float(overhead[c["batch_size"] == 1].iloc[0]) if len(one) else math.nan,
                     "decomposition ms, largest": float(overhead.iloc[-1]),
                     "intercept ms": h, "intercept low": low, "intercept high": high,
                     "smallest shape ms": float(match["estimate_ms"].iloc[0]) if len(match) else math.nan,
                     "probe ms": (tax_model.host_from_probe(float(one["estimate_ms"].iloc[0]), work, probe)
                                  if work is not None and probe is not None and len(one) else math.nan)})
    return pd.DataFrame(rows)


def host_table(estimates: pd.DataFrame) -> str:
    """The estimates as a Markdown table (ms, three significant digits)."""
    if estimates.empty:
        return ""
    head = ("| model | runtime | seq | batches | T(1) | decomposition, batch 1 (one visit) | "
            "decomposition, largest (one visit) | intercept [95%] | smallest shape | probe |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "\n".join(
        f"| {r.model} | {r.runtime} | {r.seq} | {r.batches} | {sig(r['T(1) ms'])} | "
        f"{sig(r['decomposition ms, batch 1'])} | {sig(r['decomposition ms, largest'])} | "
        f"{sig(r['intercept ms'])} [{sig(r['intercept low'])}, {sig(r['intercept high'])}] | "
        f"{sig(r['smallest shape ms'])} | {sig(r['probe ms'])} |" for _, r in estimates.iterrows())


def host_finding(v: PageView, estimates: pd.DataFrame) -> str:
    """Is the decomposition's overhead flat in batch, and does it agree with the intercept within 25%?"""
    if estimates.empty:
        return no_data(v.frame.iloc[0:0], v.here)
    growth = estimates["decomposition ms, largest"] / estimates["decomposition ms, batch 1"]
    growth = growth[np.isfinite(growth)]
    # a fixed cost keeps the two equal: flat is within the rule's ratio either way (a 0 at the largest is not flat)
    flat = growth[(growth <= analysis.FLAT_MAX_RATIO) & (growth >= 1 / analysis.FLAT_MAX_RATIO)]
    # an intercept whose interval reaches 0 cannot be told from no host cost: nothing agrees with it within 25%
    known = estimates[estimates["intercept low"] > 0]

    def within(column: str) -> str:
        ratio = (known[column] / known["intercept ms"] - 1).abs()
        return f"{int((ratio[np.isfinite(ratio)] <= 0.25).sum())} of {int(np.isfinite(ratio).sum())}"
    growth_phrases = [f"{r.model} {r.runtime} {sig(g, 2)}x" for (_, r), g in zip(estimates.loc[growth.index].iterrows(),
                                                                                 growth)]
    fixed = ("an observation, not a finding: each rests on one decomposed visit per config, so a re-run could move "
             "it; the model does not take its H from the decomposition")
    noisy = estimates.dropna(subset=["share, largest", "between-round cv, largest"])
    inside = noisy[noisy["share, largest"] <= noisy["between-round cv, largest"]]
    noise = [f"{r.model} {r.runtime} {r['share, largest']:.1%} of the wall time against a between-round spread of "
             f"{r['between-round cv, largest']:.1%}" for _, r in inside.iterrows()]
    why = ("" if not noise else
           f" Where it may not be a cost at all: at the largest batch the operators that compute take nearly all of a "
           f"call, so the overhead is the difference of two large numbers (wall time from an unprofiled call, busy "
           f"time from the profiled one after it), and for {len(inside)} of {len(noisy)} curves it is no larger than "
           f"the run-to-run spread of the wall time: {join(noise)}.")
    return (f"**Observation.** On {v.here}, the decomposition's overhead grows from batch 1 to the largest batch by "
            f"{join(growth_phrases, 'no measured factor')}: flat (within {analysis.FLAT_MAX_RATIO:g}x either way) for "
            f"{len(flat)} of {len(growth)} decomposed curves, {fixed}. The intercept's interval (from the Theil-Sen "
            f"slope's, not from rounds) excludes 0 for {len(known)} of {len(estimates)} curves; on those, the "
            f"decomposition at batch 1 agrees with the intercept within 25% for {within('decomposition ms, batch 1')} "
            f"and the smallest shape's latency for {within('smallest shape ms')}.{why}")


def validation(v: PageView, configs: pd.DataFrame, form: str = tax_model.ADDITIVE) -> pd.DataFrame:
    """Every stored curve of the machine shown, predicted from batch 1 (`ftax.read.tax_model_validation.validate`)."""
    return tax_model_validation.validate(configs, curve_probes.stored_probes(v.results_dir), form)


def scores_markdown(v: PageView, configs: pd.DataFrame) -> str:
    """The score table, additive and overlapping forms, and the verdict against the model's bar."""
    checked = validation(v, configs)
    if checked.empty:
        return (f"No curve on {v.here} has batch 1, another batch, FLOPs, GEMM calls and a stored probe, so the model "
                f"is not scored here.")
    table = tax_model_validation.scores(checked).set_index("predictor")
    overlap = tax_model_validation.scores(validation(v, configs, tax_model.OVERLAP)).set_index("predictor")
    lines = ["| predictor | curves | all held-out batches within 25% | median abs. error | same, overlapping form |",
             "|---|---|---|---|---|"]
    for name, words in PREDICTORS.items():
        if name in table.index and not _same_as_model(checked, name):
            r = table.loc[name]
            o = overlap.loc[name] if name in overlap.index else None
            lines.append(f"| {words} | {int(r.curves)} | {int(r.curves_within)} ({r.share_within:.0%}) | "
                         f"{r.median_abs_err:.0%} | {'' if o is None else f'{int(o.curves_within)} ({o.share_within:.0%})'} |")
    model = table.loc["model"]
    best_baseline = max(table.loc[b, "share_within"] for b in ("constant", "flops_scaled"))
    n, sure_in, sure_out = int(model.curves), int(model.curves_surely_within), int(model.curves_surely_out)
    said = verdict(n, sure_in, sure_out)
    return ("\n".join(lines) + "\n\n" +
            f"**Finding.** On {v.here}, predicted from batch 1 alone, the model is within 25% at every held-out batch "
            f"for {int(model.curves_within)} of {n} curves ({model.share_within:.0%}) at the measured estimates, "
            f"against {best_baseline:.0%} for the better baseline. Within each measured point's interval, "
            f"{sure_in} curves stay within 25% wherever the point lies and {sure_out} have a point outside it wherever "
            f"it lies: the model {said}. {_form_phrase(table, overlap)} Misses at the estimates: "
            f"{misses(checked)}.{_two_point_phrase(v, table)} {_inputs_phrase(configs, v.results_dir)}")


def _inputs_phrase(configs: pd.DataFrame, results_dir) -> str:
    """What these curves were read with: whether their records count bytes (by size), and the probes' versions,
    times and write ladders: the model's write term and its probe pairing depend on them."""
    counted = bytes_counted(configs) or "not at all (records before schema 5)"
    probes = [p for found in curve_probes.stored_probes(results_dir).values() for p in found]
    timed, laddered = sum(bool(p.timestamp) for p in probes), sum(bool(p.write_bytes) for p in probes)
    return (f"These records count the bytes written {counted}; {len(probes)} probes are stored beside them "
            f"(probe version {join(sorted({str(p.version) for p in probes}))}), {timed} with the time it was taken "
            f"and {laddered} with the write ladder (each fresh run, folded at the end of the page, says what its own "
            f"records and probes have).")


def bytes_counted(configs: pd.DataFrame) -> str:
    """How the records count the bytes their forwards write: "by size" (schema 6), "in all" (5), "" (before)."""
    def has(column: str) -> bool:
        return column in configs and bool(configs[column].notna().any())
    return "by size" if has("write_sizes") else "in all" if has("written_bytes") else ""


def misses(checked: pd.DataFrame) -> str:
    """The curves the model misses at the estimates (some held-out batch off by more than 25%), each with its worst
    error, as a list in words ('none' if none)."""
    worst = checked.groupby([c for c in CURVE if c in checked], dropna=False)["err_model"].agg(lambda e: e.abs().max())
    missed = worst[worst > tax_model_validation.CLOSE_ENOUGH]
    return join([f"{_curve_name(k)} (worst {m:.0%})" for k, m in missed.items()], "none")


def _curve_name(values: tuple) -> str:
    """A curve's key values (`CURVE`'s order) as words: 'bert-base eager fp32 32 width 128, depth 2', with no
    empty overrides and no 'forward' (a decoder's phase is named)."""
    words = []
    for x in values:
        if isinstance(x, str) and x.startswith("{"):
            x = ", ".join(f"{k} {v}" for k, v in json.loads(x).items())
        if x not in ("", None, "forward"):
            words.append(str(x))
    return " ".join(words)


def _same_as_model(checked: pd.DataFrame, name: str) -> bool:
    """Whether a rate variant predicts exactly what the model does (it is the model's own rate): one row, not two."""
    return name in ("by_size", "held") and np.allclose(checked[f"pred_{name}"], checked["pred_model"], equal_nan=True)


def verdict(curves: int, surely_within: int, surely_out: int) -> str:
    """The model's bar (80% of curves within 25%) against what a re-run within the measured intervals could give."""
    if surely_within >= 0.8 * curves:
        return "meets the bar of 80% whatever a re-run gives within the curves' intervals"
    if curves - surely_out < 0.8 * curves:
        return "misses the bar of 80% whatever a re-run gives within the curves' intervals"
    return "may meet or miss the bar of 80%: a re-run within the curves' intervals could decide either way"


def _two_point_phrase(v: PageView, table: pd.DataFrame) -> str:
    """What a second measurement buys, on the curves that have a batch besides the two it takes."""
    if "two_point" not in table.index or not table.loc["two_point", "curves"]:
        return ""
    r = table.loc["two_point"]
    n = int(r.curves)
    return (f" With a second measurement, a line through batch 1 and batch {tax_model.SECOND_BATCH} (or the nearest "
            f"measured) is within 25% at every other batch for {int(r.curves_within)} of {n} curves that have one "
            f"({r.share_within:.0%}; median error {r.median_abs_err:.0%}); {int(r.curves_surely_within)} stay within "
            f"wherever each point lies in its interval and {int(r.curves_surely_out)} have a point outside wherever "
            f"it lies: on {v.here} the two-point form "
            f"{verdict(n, int(r.curves_surely_within), int(r.curves_surely_out))}.")


def _form_phrase(additive: pd.DataFrame, overlap: pd.DataFrame) -> str:
    """Which form the data favours, said only where the intervals cannot reverse it."""
    if "model" not in overlap.index:
        return ""
    a, o = additive.loc["model"], overlap.loc["model"]
    counts = (f"(curves surely within 25%: {int(a.curves_surely_within)} adding host and work, "
              f"{int(o.curves_surely_within)} overlapping them; at most {int(a.curves - a.curves_surely_out)} and "
              f"{int(o.curves - o.curves_surely_out)})")
    if a.curves_surely_within > o.curves - o.curves_surely_out:
        return f"Host and work add up here rather than overlap {counts}."
    if o.curves_surely_within > a.curves - a.curves_surely_out:
        return f"Host and work overlap here rather than add up {counts}."
    return f"The intervals cannot tell adding from overlapping host and work apart here {counts}."


def validation_figure(v: PageView, configs: pd.DataFrame) -> tuple[Figure, str]:
    """Predicted against measured latency for every held-out point: the model and the two baselines."""
    checked = validation(v, configs)
    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    ax = fig.subplots()
    if checked.empty:
        ax.text(0.5, 0.5, "nothing to validate", ha="center", va="center", transform=ax.transAxes)
        return fig, f"No curve on {v.here} can be predicted (no probe or no FLOPs stored)."
    low, high = checked["measured_ms"].min() / 2, checked["measured_ms"].max() * 2
    line = np.array([low, high])
    ax.fill_between(line, line * 0.75, line * 1.25, color="0.9", label="within 25%")
    ax.plot(line, line, color="0.4", lw=0.8)
    for name, marker in (("model", "o"), ("flops_scaled", "^"), ("constant", "s")):
        ax.scatter(checked["measured_ms"], checked[f"pred_{name}"], marker=marker, s=18, alpha=0.75,
                   label=PREDICTORS[name])
    ax.set(xscale="log", yscale="log", xlabel="measured latency (ms, estimate over rounds)",
           ylabel="predicted from batch 1 (ms)", title=f"Predicted vs measured: {v.machine}")
    ax.legend(fontsize=7, loc="upper left")
    return fig, (f"Every held-out point (batch > 1) of every stored curve on {v.here}: the latency the model predicts "
                 f"from batch 1 alone against the measured estimate, with the two baselines. Grey band: within 25%; "
                 f"line: perfect prediction. {len(checked)} points from "
                 f"{checked.groupby([k for k in CURVE if k in checked]).ngroups} curves.")


def _phase(row) -> str:
    """' decode' or ' prefill' after a decoder's model name; nothing for a forward pass."""
    phase = getattr(row, "phase", "forward")
    return "" if phase in ("forward", None) or not isinstance(phase, str) else f" {phase}"


def inflections(v: PageView, configs: pd.DataFrame) -> tuple[str, str]:
    """Predicted regime and inflection per curve beside the one claim (a)'s rule reads from the measured visits:
    (the table, folded on the page; the finding), both "" without a prediction."""
    predicted = tax_model_validation.predicted_inflections(configs, curve_probes.stored_probes(v.results_dir))
    if predicted.empty:
        return "", ""
    measured = analysis.framework_bound_regimes(v.every_visit if not v.every_visit.empty else v.visits)
    keys = [k for k in CURVE if k in predicted and k in measured]
    both = predicted.merge(measured[keys + ["regime", "inflection_batch"]], on=keys, how="left",
                           suffixes=("", "_measured"))
    agree = (both["regime"] == both["regime_measured"]).sum()
    compared = both["regime_measured"].notna().sum()

    def at(b) -> str:
        return "none" if b is None or (isinstance(b, float) and math.isnan(b)) else f"{b:g}"
    rows = "\n".join(f"| {r.model}{_phase(r)} | {r.backend} | {r.dtype} | {r.seq_len} | {r.overrides} | {r.regime}, "
                     f"{at(r.inflection_batch)} | {r.regime_measured if isinstance(r.regime_measured, str) else 'n/a'}, "
                     f"{at(r.inflection_batch_measured)} |" for r in both.itertuples())
    return ("| model | runtime | precision | seq | overrides | predicted: regime, inflection | measured |\n"
            "|---|---|---|---|---|---|---|\n" + rows,
            f"**Finding.** On {v.here}, the predicted regime (claim (a)'s rule: T(4)/T(1) within "
            f"{analysis.FLAT_MAX_RATIO:g}) matches the measured one for {agree} of {compared} curves that have both "
            f"(of {len(both)} predicted; the table of every curve is folded at the end of the page); the measured "
            f"regime is read with its between-round interval, the predicted one from the point curve.")


HOST_SOURCES = {"probe": "the probe's", "smallest": "the smallest shape's", "decomposition": "the decomposition's"}
HOST_COLUMNS = {"probe": "H from the probe", "smallest": "H from the smallest shape",
                "decomposition": "H from the decomposition (one visit)"}


def host_windows(v: PageView, configs: pd.DataFrame) -> pd.DataFrame:
    """One row per scored curve: T(1), the host costs H for which a line through T(1) fits every measured batch
    within 25% (`tax_model_validation.host_window`; NaN ends where none does), and batch 1's estimates of H."""
    checked = validation(v, configs)
    if checked.empty:
        return pd.DataFrame()
    rows = []
    for ident, c in checked.groupby([k for k in CURVE if k in checked], dropna=False, sort=True):
        t1 = float(c["t1_ms"].iloc[0])
        window = tax_model_validation.host_window([1, *c["batch_size"]], [t1, *c["measured_ms"]])
        rows.append({"curve": _curve_name(ident), "t1_ms": t1, "low_ms": window[0] if window else math.nan,
                     "high_ms": window[1] if window else math.nan,
                     **{s: float(c[f"host_{s}"].iloc[0]) if f"host_{s}" in c else math.nan for s in HOST_SOURCES}})
    return pd.DataFrame(rows)


def placed(windows: pd.DataFrame, source: str) -> pd.Series:
    """Where each curve's `source` estimate of H lies against its window: inside, below or above; NaN without
    an estimate or a window."""
    h, low, high = windows[source], windows["low_ms"], windows["high_ms"]
    place = pd.Series(np.where(h < low, "below", np.where(h > high, "above", "inside")), index=windows.index)
    return place.where(h.notna() & low.notna())


def host_window_table(windows: pd.DataFrame) -> str:
    """Every curve's window and estimates as shares of T(1): the full table, folded on the page."""
    if windows.empty:
        return ""
    lines = ["| curve | T(1) ms | H that fits, % of T(1) | " + " | ".join(HOST_COLUMNS.values()) + " |",
             "|---|---|---|" + "---|" * len(HOST_SOURCES)]
    for _, r in windows.iterrows():
        shown = "none" if math.isnan(r.low_ms) else f"{r.low_ms / r.t1_ms:.0%}-{r.high_ms / r.t1_ms:.0%}"
        cells = ["" if math.isnan(r[s]) else f"{r[s] / r.t1_ms:.0%}" for s in HOST_SOURCES]
        lines.append(f"| {r.curve} | {sig(r.t1_ms)} | {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def host_window_summary(v: PageView, windows: pd.DataFrame) -> str:
    """How many curves a line through T(1) fits, how often each estimate of H falls inside the H that fits, and
    the exceptions by name: the curves no line fits and those where the probe's H (the model's) misses."""
    if windows.empty:
        return ""
    n, fits = len(windows), int(windows["low_ms"].notna().sum())
    hits = []
    for source, words in HOST_SOURCES.items():
        place = placed(windows, source).dropna()
        if len(place):
            hits.append(f"{words} in {int((place == 'inside').sum())} of {len(place)}")
    form = ("so for most of them a line is not what fails; H is" if fits > n / 2 else
            "so for most of them no H would do: the curve is not a line through T(1)")
    none = windows[windows["low_ms"].isna()]["curve"].tolist()
    off = windows[placed(windows, "probe").isin(["below", "above"])]
    named = [f"{r.curve} ({r.probe / r.t1_ms:.0%} against {r.low_ms / r.t1_ms:.0%}-{r.high_ms / r.t1_ms:.0%})"
             for _, r in off.iterrows()]
    return (f"**Observation** (at the measured estimates: each window moves with a re-run within the curves' "
            f"intervals). On {v.here}, a line through T(1) with a suitable host cost H is within 25% at every "
            f"measured batch for {fits} of {n} curves, {form}" + (f" (no line fits {join(none)})" if none else "")
            + f". Batch 1's own estimates of H fall inside the H that fits: {join(hits, 'in no curve')}."
            + (f" The probe's H, the model's, lies outside it for {join(named)} (H as a share of T(1), against the "
               f"H that fits)." if named else "")
            + " The table of every curve is folded at the end of the page.")


def smallest_shape_phrase(windows: pd.DataFrame) -> str:
    """What the smallest shape's latency is worth as the host cost, counted from the curves' windows: inside the
    H that fits, below or above it."""
    place = placed(windows, "smallest").dropna() if not windows.empty else pd.Series([], dtype=object)
    if place.empty:
        return ("no curve here has both a window and a smallest shape, so this page cannot say how much of it is "
                "host cost")
    inside, below, above = (int((place == k).sum()) for k in ("inside", "below", "above"))
    return (f"taken as the host cost, its latency falls inside the host costs that fit the curve for {inside} of "
            f"{len(place)} curves" + (f", below them for {below}" if below else "")
            + (f", above them for {above}" if above else "")
            + ("" if inside > len(place) / 2 else "; on these records it is not mostly the host cost"))


def sweeps_markdown(windows: pd.DataFrame) -> str:
    """What the page measures, with what the shortest sequence says about the host cost computed, not assumed."""
    return ("Besides every other page's curves, this page measures batch sweeps of three BERTs with the profiler's "
            "decomposition, and every text model once more at batch 1 and its shortest sequence, where the work is "
            f"smallest: {smallest_shape_phrase(windows)}.")


def assumptions_markdown(configs: pd.DataFrame) -> str:
    """What the model assumes; the GPU's rate and the overlapping form's reason are said only with GPU records."""
    gpu = bool(not configs.empty and "device" in configs
               and configs["device"].astype(str).str.startswith("cuda").any())
    rate = ("on a CPU at batch 1's work per call for every batch (the work grows as the FLOPs do), on a GPU at each "
            "batch's own" if gpu else "at batch 1's work per call for every batch (the work grows as the FLOPs do)")
    overlap = (" On a GPU the host queues kernels while earlier ones run, so there latency may be closer to the "
               "larger of host and work: the overlapping form." if gpu else "")
    return (f"Work is the FLOPs of one eager forward (`torch.utils.flop_counter`), run at the rate a square matrix "
            f"product of the same FLOPs per call reaches on this machine, {rate}; the score table also scores the "
            f"other rate. To the FLOPs it adds the bytes the forward's ops write, each output at the rate this machine "
            f"writes fresh outputs of its size (the probe's write ladder), where the records count bytes and the probe "
            f"has the ladder; other curves are modelled by FLOPs alone. Where the probe's rate says batch 1's work "
            f"alone takes longer than T(1), the host cost comes from the smallest shape. The work term is scaled so "
            f"the curve passes through the measured batch 1. A compiled runtime's FLOPs and bytes are eager's. The "
            f"two-point form assumes only that the cost per item is the same at every batch.{overlap}")
