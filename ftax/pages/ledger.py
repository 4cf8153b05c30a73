"""The ledger's sections of page 05: the answer, the stacked figure, the ladder, the bottom-up model and the CSV.

The ledger's records live in their own folder (`<results_dir>/ledger/<machine_id>.jsonl`, measured by `MEASURE`),
the unit-cost probes in `<results_dir>/unit-costs/`; every section reads them when the page is built and, without
them, says so and gives the command. The intro quotes `answer_sentence` and draws `ledger_figure`'s static twin.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import ledger_plot
from ftax.figures.interactive import Interactive
from ftax.pages import PageView, glue_figure, glue_markdown
from ftax.read import bottom_up
from ftax.read.ledger import DECODER_LADDER, ENCODER_LADDER, LEDGER_COLUMNS, RUNTIME_NAMES, answer, ledger
from ftax.read.text import join, markdown_table, sig
from ftax.store.dataframe import load
from ftax.store.errors import SelectionError

MEASURE = "ftax sweep --study ledger --decompose-rounds 3 --out results/ledger"
SMALL_MODEL = "bert-tiny"  # the model the answer is stated for, at batch 1
FOLDER = "ledger"
CSV_NAME = "ledger.csv"
def rows(results_dir: str | Path) -> pd.DataFrame:
    """The ledger (`ftax.read.ledger.ledger`) of the records in `<results_dir>/ledger/`; no rows without them."""
    visits = load(Path(results_dir) / FOLDER)
    return ledger(visits) if not visits.empty else pd.DataFrame(columns=list(LEDGER_COLUMNS))


def missing(results_dir: str | Path) -> str:
    """What a section says without ledger records: where it looked and the command that measures them."""
    return (f"No ledger records in `{Path(results_dir) / FOLDER}` yet: measure them with `{MEASURE}` "
            f"(the ladder's runtimes timed together, each profiled in 3 rounds).")


def machine_for(ledger_rows: pd.DataFrame, preferred: object = None) -> str | None:
    """The machine a figure shows: `preferred` (the page's machine id) where the ledger has it, else the machine
    with the most rows; None without rows."""
    if ledger_rows.empty:
        return None
    counts = ledger_rows["machine_id"].value_counts()
    return str(preferred) if preferred in counts.index else str(counts.index[0])


def answer_sentence(ledger_rows: pd.DataFrame, machine_id: str, seq_len: int | None = None,
                    label: str | None = None, model: str = SMALL_MODEL) -> str | None:
    """`ftax.read.ledger.answer` for `model` at batch 1 on `machine_id` (named by `label`, a reader's name for it,
    where given), or None where the ledger lacks it."""
    try:
        return answer(ledger_rows, model, 1, seq_len, machine_id, label=label)
    except SelectionError:
        return None


def answer_markdown(ledger_rows: pd.DataFrame, results_dir: str | Path, labels: dict | None = None) -> str:
    """The answer at batch 1, one sentence per machine (named by `labels`, machine id -> label, where given) and
    stored sequence length: for `SMALL_MODEL` first, then for each decoder's decode step (its own ladder)."""
    if ledger_rows.empty:
        return missing(results_dir)
    at_one = ledger_rows[ledger_rows["batch_size"] == 1]
    small = at_one[at_one["model"] == SMALL_MODEL]
    said = [answer_sentence(ledger_rows, str(m), int(s), (labels or {}).get(m))
            for (m, s), _ in small.groupby(["machine_id", "seq_len"], sort=True)]
    said = [s for s in said if s]
    if not said:
        return (f"The ledger holds no {SMALL_MODEL} at batch 1 (models stored: "
                f"{join(sorted(map(str, ledger_rows['model'].unique())))}).")
    decoders = at_one[at_one["phase"] == "decode"]
    said += [s for (m, model, seq), _ in decoders.groupby(["machine_id", "model", "seq_len"], sort=True)
             if (s := answer_sentence(ledger_rows, str(m), int(seq), (labels or {}).get(m), str(model)))]
    return "\n\n".join(f"**{s}**" if i == 0 else s for i, s in enumerate(said))


def ledger_chart(ledger_rows: pd.DataFrame, machine_id: str | None, results_dir: str | Path, profile: str,
                 label: str | None = None) -> tuple[Interactive, str]:
    """The stacked figure (kernels and host per runtime, per model x batch, a menu for the runtime) and its caption,
    which names the ledger's folder and the page's `profile` (the ledger is a run of its own), and the machine by
    `label` (a reader's name for it) where given."""
    name = label or machine_id
    read = f"ledger records in `{Path(results_dir) / FOLDER}`, read by this page (profile `{profile}`)"
    data = ledger_plot.stacked_data(ledger_rows, machine_id) if machine_id else ledger_plot.stacked_data(
        ledger_rows.iloc[0:0], "")
    title = f"Kernels and host per call: {name}"
    figure = ledger_plot.stacked_figure(data, title, missing(results_dir))
    chart = ledger_plot.stacked_chart(data, title)
    if data.empty:
        return Interactive(None, figure, "ledger"), f"{missing(results_dir)} This page: profile `{profile}`."
    unsplit = sorted(set(data.loc[data["part"] == ledger_plot.NOT_SPLIT, "runtime"]))
    caption = (f"Time per call on {name} ({read}), per model, sequence length and batch: the profiler's "
               f"busy time "
               f"(kernels) and the rest of the wall time (host), stacked to the wall time; black: the wall time's "
               f"95% interval over rounds."
               + (f" Grey: the wall time alone, for {join(unsplit)} where the profiler cannot see the split or its "
                  f"own cost exceeds the time outside the kernels (the kernel part above the wall time)."
                  if unsplit else "")
               + " On the hosted page the menus pick the runtime and the model, and a bar's tooltip gives each part's "
                 "interval.")
    return Interactive(chart, figure, "ledger"), caption


def _cell(row: pd.Series | None) -> str:
    """'2.1 [1.9, 2.3]', '2.1 (one round)' without an interval, 'n/a' without an estimate."""
    if row is None or not math.isfinite(row["estimate_ms"]):
        return "n/a"
    if not (math.isfinite(row["low_ms"]) and math.isfinite(row["high_ms"])):
        return f"{sig(row['estimate_ms'])} (no interval)"
    return f"{sig(row['estimate_ms'])} [{sig(row['low_ms'])}, {sig(row['high_ms'])}]"


def _part(rows_: pd.DataFrame, name: str) -> pd.Series | None:
    found = rows_[rows_["part"] == name]
    return found.iloc[0] if len(found) else None


def ladder_markdown(ledger_rows: pd.DataFrame, machine_id: str | None, results_dir: str | Path,
                    label: str | None = None) -> str:
    """Each step of the ladder: what it removes and changes, then at batch 1 its paired saving and that saving's
    kernel and host parts (ms, 95% interval over rounds); the runtimes the profiler cannot split, with their bound.
    The machine is named by `label` where given."""
    name = label or machine_id
    if ledger_rows.empty or machine_id is None:
        return missing(results_dir)
    mine = ledger_rows[(ledger_rows["machine_id"] == machine_id) & (ledger_rows["overrides"].fillna("{}") == "{}")]
    ladders = ENCODER_LADDER + (DECODER_LADDER if (mine["phase"] != "forward").any() else ())
    steps = [s for s in ladders if (mine["part"] == s.name).any()]
    if not steps:
        return f"No two runtimes of the ladder were timed together on {name}."
    what = "\n".join(f"- **{RUNTIME_NAMES[s.source]} -> {RUNTIME_NAMES[s.target]}** removes {s.removes}; it "
                     f"changes the kernels: {s.changes}." for s in steps)
    table = []
    for step in steps:
        at = mine[mine["part"].str.startswith(step.name) & (mine["batch_size"] == 1)]
        for key, config in at.groupby(["model", "dtype", "seq_len", "phase"], sort=True):
            table.append([f"{key[0]} s{key[2]}" + ("" if key[3] == "forward" else f" {key[3]}"),
                          f"{RUNTIME_NAMES[step.source]} -> {RUNTIME_NAMES[step.target]}",
                          _cell(_part(config, step.name)), _cell(_part(config, f"{step.name}:kernels")),
                          _cell(_part(config, f"{step.name}:host"))])
    unsplit = mine[(mine["part"] == "kernels") & (mine["method"] == "not split")]
    blind = [f"{RUNTIME_NAMES.get(b, b)}: {group['note'].iloc[0].split('; kernels and host')[0]}; kernels and host "
             f"each lie between 0 and its wall time" for b, group in unsplit.groupby("backend")]
    return "\n\n".join(p for p in (
        f"On {name}, each step's saving is the paired wall-time difference per round; its kernel part is the "
        f"difference of the profiled busy times and its host part the rest, so kernels + host = the saving.",
        what,
        markdown_table(["config (batch 1)", "step", "saves (ms)", "of it kernels (ms)", "of it host (ms)"], table)
        if table else "",
        ("Not split (never drawn as kernels and host): " + "; ".join(blind) + ".") if blind else "",
        bias_markdown(mine)) if p)


def bias_markdown(mine: pd.DataFrame) -> str:
    """How far the profiler's known biases can move the kernel parts of one machine's rows: the range over configs
    of what profiling added to a call (busy time may overstate the kernels by that much) and of the self time of
    the ops not counted as compute (it may miss that much), from the kernels rows' bounds; "" without bounds."""
    kernels = mine[(mine["part"] == "kernels") & mine["estimate_ms"].notna()]
    over = (kernels["estimate_ms"] - kernels["bound_low_ms"]).dropna()
    under = (kernels["bound_high_ms"] - kernels["estimate_ms"]).dropna()
    if over.empty and under.empty:
        return ""

    said = ([f"profiling added {_range(over)} to a call, so the busy time may overstate a kernel part by up to that"]
            if not over.empty else []) + (
        [f"the ops not counted as compute ran {_range(under)} of self time, the most kernel time the op list can "
         f"have missed"] if not under.empty else [])
    return ("**How far a split can be off.** Over the " + f"{len(kernels)} split configs, " + "; ".join(said)
            + ". These bounds do not shrink with more rounds; the CSV gives them per config "
              "(`bound_low_ms`, `bound_high_ms`)." + above_wall(mine))


def _range(values: pd.Series) -> str:
    low, high = sig(values.min()), sig(values.max())
    return f"{low} ms" if low == high else f"{low}-{high} ms"


def above_wall(mine: pd.DataFrame) -> str:
    """" A runtime's kernel part exceeds its wall time in N of M configs ...": where the profiler's own cost shows,
    per runtime, with the range of what profiling added to its calls; "" where no kernel part exceeds its wall."""
    parts = mine[mine["part"].isin(["kernels", "wall"])].pivot_table(
        index=["model", "backend", "batch_size", "seq_len", "phase"], columns="part", values=["estimate_ms",
                                                                                              "bound_low_ms"])
    if parts.empty or ("estimate_ms", "kernels") not in parts:
        return ""
    said = []
    for backend, group in parts.groupby(level="backend"):
        over = group[group[("estimate_ms", "kernels")] > group[("estimate_ms", "wall")]]
        if over.empty:
            continue
        added = (over[("estimate_ms", "kernels")] - over[("bound_low_ms", "kernels")]).dropna()
        said.append(f"{RUNTIME_NAMES.get(backend, backend)}'s kernel part exceeds its wall time in {len(over)} of "
                    f"{len(group)} configs" + (f" (profiling made its calls {_range(added)} slower)"
                                                                             if not added.empty else ""))
    return (" " + "; ".join(said) + ": there the profiler's own cost, not the runtime, decides the split, and the host "
            "part says only that the runtime's time outside its kernels is within that cost.") if said else ""


def bottom_up_markdown(ledger_rows: pd.DataFrame, machine_id: str | None, results_dir: str | Path,
                       label: str | None = None) -> str:
    """The bottom-up model against the ledger's eager host time: each method's ratio with its interval, what is left
    unexplained, the verdict against the target and, where it misses, its assumption; then the unit costs' drift
    between the first and last probe, and the forward on the meta device."""
    runs = bottom_up.stored(results_dir)
    if not runs:
        return (f"No unit-cost probes in `{Path(results_dir) / bottom_up.KIND}` yet: take two, 10 minutes apart, "
                f"with `python benchmarks/unit_costs.py`.")
    if ledger_rows.empty:
        return missing(results_dir)
    models = bottom_up.model_frame(runs)
    agree = bottom_up.agreement(models, ledger_rows)
    agree = agree[agree["machine_id"] == machine_id] if not agree.empty else agree
    assumptions = "\n".join(f"- **{m}**: assumes {a}." for m, a in bottom_up.METHODS.items())
    if agree.empty:
        table = f"No probed config matches an eager host time of the ledger on {label or machine_id}."
    else:
        table = markdown_table(
            ["config", "method", "estimate (ms)", "/ host time", "unexplained (ms)", "verdict"],
            [[f"{r['model']} b{r['batch_size']} s{r['seq_len']}", r["method"], sig(r["estimate_ms"]),
              f"{sig(r['ratio'])}x [{sig(r['ratio_low'])}, {sig(r['ratio_high'])}]",
              f"{sig(r['unexplained_ms'])} [{sig(r['unexplained_low_ms'])}, {sig(r['unexplained_high_ms'])}]",
              r["verdict"] + (f": {r['failing_assumption']}" if r["verdict"] == "no estimate" else "")]
             for _, r in agree.iterrows()])
    moved = bottom_up.drift(runs)
    moved = moved[moved["machine_id"] == machine_id] if not moved.empty else moved
    drift = ("One probe only: how far the unit costs move needs a second." if moved.empty or
             int(moved["probes"].iloc[0]) < 2 else
             f"The unit costs between the first and last of {int(moved['probes'].iloc[0])} probes, "
             f"{sig(moved['minutes_apart'].iloc[0])} minutes apart:\n\n"
             + markdown_table(["unit", "first (ms)", "last (ms)", "change"],
                              [[r["unit"], sig(r["first_ms"], 4), sig(r["last_ms"], 4), f"{r['change']:+.1%}"]
                               for _, r in moved.iterrows()]))
    return "\n\n".join([
        f"Each method prices the counts of one eager forward with unit costs measured on {label or machine_id} and "
        f"sets the sum beside the ledger's eager host time; the target is within {bottom_up.TARGET:.0%}. Where a row "
        f"reads outside {bottom_up.TARGET:.0%}, the assumption of its method (below) fails there; no method is "
        f"dropped. Pure-Python work has no count and stays unexplained.",
        assumptions, table, drift, meta_forward(models, machine_id)])


def meta_forward(models: pd.DataFrame, machine_id: str | None) -> str:
    """The eager forward on the meta device, from the newest probe of each config: its time, or what failed."""
    mine = models[models["machine_id"] == machine_id] if not models.empty else models
    if mine.empty:
        return f"No probe of {machine_id} timed the forward on the meta device."
    newest = mine.sort_values("timestamp").drop_duplicates(bottom_up.CONFIG, keep="last")
    ran = newest[[math.isfinite(ms) for ms in newest["meta_forward_ms"]]]
    how = {(r["meta_forward_variant"], r["meta_forward_error"]) for _, r in ran.iterrows()}
    said = [f"{r['model']} b{r['batch_size']} s{r['seq_len']}: "
            + (f"{sig(r['meta_forward_ms'])} ms" if math.isfinite(r["meta_forward_ms"]) else
               f"failed ({r['meta_forward_error']})")
            + ("" if len(how) == 1 or not math.isfinite(r["meta_forward_ms"]) else
               f" ({r['meta_forward_variant']}" + (f", after: {r['meta_forward_error']})" if r["meta_forward_error"]
                                                    else ")"))
            for _, r in newest.iterrows()]
    variant, failed = next(iter(how)) if len(how) == 1 else (None, None)
    each = (f" Each ran {variant}" + (f", after the full forward failed: {failed}" if failed else "") + "."
            if variant else "")
    return ("**The framework with no math.** The eager forward on the meta device (Python, the modules and the "
            "dispatcher with shape inference only): " + "; ".join(said) + "." + each
            + " Its ratio to the eager host time is the table's `meta forward` row.")


def csv_markdown(ledger_rows: pd.DataFrame, results_dir: str | Path) -> str:
    """A link that downloads the whole ledger as CSV: its href is the CSV itself (a base64 `data:` URI), so it works
    from any static host with no file beside the page."""
    if ledger_rows.empty:
        return missing(results_dir)
    payload = base64.b64encode(ledger_rows.to_csv(index=False).encode()).decode()
    return (f'<a href="data:text/csv;base64,{payload}" download="{CSV_NAME}">Download the ledger as CSV</a> '
            f"({len(ledger_rows)} parts of {ledger_rows['machine_id'].nunique()} machine(s); the link carries the "
            f"data itself). `ftax ledger --csv {CSV_NAME}` writes the same file from the stored records.")


def intro_figure(ledger_rows: pd.DataFrame, machine_id: str, label: str | None = None) -> tuple[Figure, str]:
    """The intro's figure: the stacked figure's static twin for `SMALL_MODEL` on `machine_id` (the model the intro's
    answer is about: beside bert-base its bars would not show), with a short caption."""
    small = ledger_rows[ledger_rows["model"] == SMALL_MODEL]
    data = ledger_plot.stacked_data(small if not small.empty else ledger_rows, machine_id)
    where = label or machine_id
    figure = ledger_plot.stacked_figure(data, f"{SMALL_MODEL}, kernels and host per call: {where}")
    return figure, (f"Time per call of {SMALL_MODEL if not small.empty else 'each model'} on {where}: kernels (the "
                    f"profiler's busy time) and host (the rest), per runtime, sequence length and batch; grey: the wall "
                    f"time alone, where the profiler cannot see the split or its own cost exceeds the time outside the "
                    f"kernels; bars: the wall time's 95% interval.")


def glue_ledger(results_dir: str | Path, v: PageView) -> None:
    """Glue the ledger's sections: `ledger-answer`, `ledger-figure` (with its caption), `ledger-ladder`,
    `ledger-bottom-up` and `ledger-csv`, on the page's machine (`v`) where the ledger holds it."""
    found = rows(results_dir)
    machine = machine_for(found, v.frame["machine_id"].iloc[0] if not v.frame.empty else None)
    labels = (dict(zip(v.frame["machine_id"], v.frame["machine_label"]))
              if not v.frame.empty and "machine_label" in v.frame else {})
    glue_markdown("ledger-answer", answer_markdown(found, results_dir, labels))
    label = labels.get(machine)
    glue_figure("ledger-figure", ledger_chart(found, machine, results_dir, v.profile, label))
    glue_markdown("ledger-ladder", ladder_markdown(found, machine, results_dir, label))
    glue_markdown("ledger-bottom-up", bottom_up_markdown(found, machine, results_dir, label))
    glue_markdown("ledger-csv", csv_markdown(found, results_dir))
