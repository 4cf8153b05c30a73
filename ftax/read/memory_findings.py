"""Memory and energy per inference in words: which rows carry them, and the captions and findings about them.

A record takes memory and energy once per config, in round 0 (`ftax.measure.memory`, `ftax.run.runner`), so every
number here is one visit: there is no between-run interval, and a sentence that compares two of them says
so instead of calling a difference real. Rows come from `ftax.read.estimates.per_config` (the columns
`memory_peak_bytes`, `memory_weights_bytes`, `memory_method`, `memory_reason`, `energy_status`,
`energy_joules_per_inference`, `energy_window_s`, `energy_source`, `energy_reason`); records measured before
ftax took memory have none of them, and each function then says so in one sentence instead of failing.
"""
from __future__ import annotations

import pandas as pd

from ftax.read.rows import numbers
from ftax.read.text import join, sig

MIB = 2 ** 20
ONE_VISIT = "one visit per config (round 0): no between-run interval"
GROWTH_FROM = 8  # the growth sentence starts here where it can: a runtime's first visit may carry one-time costs
METHODS = {
    "rss-hwm": "the process's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs); the "
               "resident set grows only by pages the process takes from the OS, so memory an earlier config freed "
               "and the allocator hands out again does not count, and a config measured after a larger one can show "
               "less, down to 0",
    "torch-allocator": "the torch allocator's peak (max_memory_allocated), which does not see ONNX Runtime's "
                       "or a CUDA graph pool's own allocator",
}
NO_MEMORY = ("No record shown on {here} carries memory: they were measured before ftax recorded it (a sweep "
             "takes memory in round 0 of each config since then); re-measure this page's configs to see it.")
NO_ENERGY = ("No record shown on {here} carries energy: they were measured before ftax recorded it; "
             "re-measure this page's configs to see it.")
CURVE = ["model", "dtype", "backend"]


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    if frame is None or frame.empty or "status" not in frame:
        return pd.DataFrame(columns=[*CURVE, "batch_size", "status"])
    return frame[frame["status"] == "ok"]


def memory_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Ok rows with a measured peak, with `peak_mib` (peak above the baseline) and `weights_mib` added."""
    ok = _ok(frame)
    peak = numbers(ok, "memory_peak_bytes")
    return ok[peak.notna()].assign(peak_mib=peak[peak.notna()] / MIB,
                                   weights_mib=numbers(ok, "memory_weights_bytes")[peak.notna()] / MIB)


def energy_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Ok rows whose energy was measured (status ok), with `energy_mj` (millijoules per inference) added."""
    ok = _ok(frame)
    joules = numbers(ok, "energy_joules_per_inference")
    status = ok["energy_status"] if "energy_status" in ok else pd.Series(None, index=ok.index, dtype=object)
    keep = (status == "ok") & joules.notna()
    return ok[keep].assign(energy_mj=joules[keep] * 1e3)


def _reasons(rows: pd.DataFrame, column: str) -> list[str]:
    return sorted({str(r).rstrip(".") for r in rows.get(column, pd.Series(dtype=object)).dropna() if str(r)})


def no_memory(frame: pd.DataFrame, here: str) -> str | None:
    """The one sentence a memory caption or finding becomes where no ok row carries a peak (else None): the
    records predate memory, or this machine could not take it (with the records' reason)."""
    ok = _ok(frame)
    if ok.empty or not memory_rows(frame).empty:
        return None
    method = ok["memory_method"] if "memory_method" in ok else pd.Series(dtype=object)
    if (method == "unavailable").any():
        return (f"Memory is unavailable on {here}: "
                f"{join(_reasons(ok[method == 'unavailable'], 'memory_reason'), 'no reason recorded')}.")
    return NO_MEMORY.format(here=here)


def _label(keys: dict, varying: set[str]) -> str:
    return " ".join(str(v) for c, v in keys.items() if c in varying)


def _varying(rows: pd.DataFrame, columns: list[str]) -> set[str]:
    return {c for c in columns if c in rows and rows[c].nunique() > 1}


def weights_phrases(rows: pd.DataFrame) -> list[str]:
    """'eager 16.7 MiB' per runtime (with model and dtype where they vary): the median weights over its
    configs (weights do not depend on the batch)."""
    held = rows[rows["weights_mib"].notna()] if "weights_mib" in rows else rows.iloc[0:0]
    varying = _varying(held, ["model", "dtype"]) | {"backend"}
    medians = held.groupby(CURVE, sort=True)["weights_mib"].median()
    return [f"{_label(dict(zip(CURVE, k)), varying)} {sig(v)} MiB" for k, v in medians.items()]


def memory_caption(frame: pd.DataFrame, here: str) -> str:
    """What the memory figure draws, how the peak was taken, and that each point is one visit."""
    rows = memory_rows(frame)
    methods = [METHODS.get(m, str(m)) for m in sorted(rows["memory_method"].dropna().unique())] \
        if "memory_method" in rows else []
    return no_memory(frame, here) or (
        f"Top: peak memory above a baseline (MiB) against batch size for each runtime on {here}, one panel per "
        f"model; the baseline is taken right before the runtime's preparation, so the peak is what it added while "
        f"being prepared (export, compilation or capture, and its first calls): activations and workspace, plus its "
        f"own copy of the weights where it makes one (ONNX Runtime, a frozen TorchScript module; eager shares the "
        f"built model's). Taken from "
        f"{join(methods, 'an unnamed method')}. Bottom: the weights each runtime holds (MiB), counted from its own "
        f"tensors or ONNX initializers. Each point is {ONE_VISIT}. {len(rows)} of {len(_ok(frame))} ok configs "
        f"carry memory.")


def _growth(curve: pd.DataFrame) -> tuple[int, int] | None:
    """The batches the growth sentence compares: from `GROWTH_FROM` (else the smallest) to the largest."""
    batches = sorted(int(b) for b in curve["batch_size"].unique())
    if len(batches) < 2:
        return None
    start = GROWTH_FROM if GROWTH_FROM in batches and GROWTH_FROM < batches[-1] else batches[0]
    return start, batches[-1]


def growth_phrases(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(curves whose peak rose, curves whose did not), each 'eager (9.1 to 96 MiB, batch 8 to 64)'."""
    rose, flat = [], []
    varying = _varying(rows, ["model", "dtype"]) | {"backend"}
    for keys, curve in rows.groupby(CURVE, sort=True):
        ends = _growth(curve)
        if ends is None:
            continue
        low, high = (curve[curve["batch_size"] == b]["peak_mib"].median() for b in ends)
        phrase = (f"{_label(dict(zip(CURVE, keys)), varying)} ({sig(low)} to {sig(high)} MiB, "
                  f"batch {ends[0]} to {ends[1]})")
        (rose if high > low else flat).append(phrase)
    return rose, flat


def largest_phrases(rows: pd.DataFrame) -> list[str]:
    """Per model and dtype, the runtimes by peak at its largest batch, largest first: 'bert-tiny fp32 at
    batch 64: onnxruntime 438 MiB, torchscript 96 MiB and eager 9.1 MiB'."""
    out = []
    for (model, dtype), part in rows.groupby(["model", "dtype"], sort=True):
        top = part["batch_size"].max()
        at = part[part["batch_size"] == top].groupby("backend")["peak_mib"].median().sort_values(ascending=False)
        out.append(f"{model} {dtype} at batch {top}: {join([f'{b} {sig(v)} MiB' for b, v in at.items()])}")
    return out


def memory_finding(frame: pd.DataFrame, here: str) -> str:
    """Which runtime adds the most memory at the largest batch, whether each one's peak rises with the batch,
    and the weights each holds; every number one visit, so nothing is called a real difference."""
    rows = memory_rows(frame)
    if no_memory(frame, here):
        return no_memory(frame, here)
    rose, flat = growth_phrases(rows)
    growth = (f" The peak rose for {join(rose, 'no runtime')}" + (f"; it did not for {join(flat)}" if flat else "")
              + "." if rose or flat else " No runtime has two batch sizes with memory, so growth is not shown.")
    return (f"**Finding.** On {here}, peak above the baseline, largest first: {'; '.join(largest_phrases(rows))}."
            f"{growth} Weights held: {join(weights_phrases(rows), 'not recorded')}. Each figure is {ONE_VISIT}, "
            f"so these are single observations, not differences tested against the machine's run-to-run spread.")


def energy_note(frame: pd.DataFrame, here: str) -> str:
    """The energy figure's caption where records have energy; else one sentence: unavailable, with the
    records' reasons (never an estimate), or that the records predate energy."""
    ok = _ok(frame)
    rows = energy_rows(frame)
    if ok.empty:
        return f"No ok record on {here}, so no energy either."
    if "energy_status" not in ok or ok["energy_status"].isna().all():
        return NO_ENERGY.format(here=here)
    if rows.empty:
        statuses = sorted(ok["energy_status"].dropna().unique())
        return (f"Energy per inference is {join(statuses)} on {here}: "
                f"{join(_reasons(ok, 'energy_reason'), 'no reason recorded')}. No estimate is shown in its place.")
    windows = numbers(rows, "energy_window_s")
    top = rows["batch_size"].max()
    at = rows[rows["batch_size"] == top].groupby(CURVE, sort=True)["energy_mj"].median()
    varying = _varying(rows, ["model", "dtype"]) | {"backend"}
    return (f"Energy per inference (mJ) against batch size for each runtime on {here}, one panel per model, from "
            f"{join(sorted(rows['energy_source'].dropna().unique()), 'an unnamed counter')}: the counter's joules over "
            f"calls back to back for {sig(windows.min())} to {sig(windows.max())} s, divided by the calls. Each point "
            f"is {ONE_VISIT}. At batch {top}: "
            f"{join([f'{_label(dict(zip(CURVE, k)), varying)} {sig(v)} mJ' for k, v in at.items()])}. "
            f"{len(rows)} of {len(ok)} ok configs carry energy.")


def memory_coverage(frame: pd.DataFrame) -> str:
    """What the explorers' memory metric holds: how many ok configs carry memory, that each is one visit,
    and how many a log axis leaves out (a peak of 0: memory did not rise above the baseline)."""
    ok, rows = _ok(frame), memory_rows(frame)
    if rows.empty:
        return ("No record here carries memory (records made before ftax recorded it, or a machine where it is "
                "unavailable), so the memory metric draws nothing.")
    zeros = int((rows["peak_mib"] <= 0).sum())
    return (f"Memory is the peak above the baseline taken before each runtime's preparation (MiB), "
            f"{ONE_VISIT}; {len(rows)} of {len(ok)} ok configs carry it"
            + (f", {zeros} with a peak of 0 MiB that the log axis cannot draw" if zeros else "") + ".")
