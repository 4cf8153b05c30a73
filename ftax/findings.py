"""Findings: the phrases and tables a page states about latency, computed from the records it shows.

Pure functions from DataFrames (of `ftax.results.load`, `ftax.analysis`) to short strings or
Markdown; the pages (`ftax.pages`) assemble them into captions and findings, so prose never
carries a number typed by hand. Phrases name only what varies among the rows they describe,
and a figure without ok rows gets `no_data`'s sentence instead of a caption. Rows are
selected in `ftax.rows`; phrases about the profiler's decomposition are in
`ftax.decomposition_findings`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ftax.analysis import first_rise
from ftax.text import markdown_table, sig


def grid_table(grids: Sequence) -> str:
    """Markdown table of what a study will measure: one row per grid."""
    def over(g) -> str:
        return f" ({len(g.overrides)} width x depth)" if any(g.overrides) else ""

    return markdown_table(["grid", "models", "backends", "dtypes", "batch sizes", "seq lens", "configs"],
                          [(g.name, ", ".join(g.models) + over(g), ", ".join(g.backends), ", ".join(g.dtypes),
                            ", ".join(map(str, g.batch_sizes)), ", ".join(map(str, g.seq_lens)), len(g.configs()))
                           for g in grids])


def not_ok(frame: pd.DataFrame) -> str:
    """Markdown: which configs did not measure ok here and why (one line per distinct reason)."""
    if frame.empty:
        return "No records yet: nothing was measured or loaded for this page."
    bad = frame[frame["status"] != "ok"]
    if bad.empty:
        return f"All {len(frame)} configs shown measured ok."
    rows = [(status, model, backend, dtype, ", ".join(map(str, sorted(part["batch_size"].unique()))),
             message.replace("|", "/"))
            for (status, model, backend, dtype, message), part in bad.groupby(
                ["status", "model", "backend", "dtype", "message"], sort=True)]
    return (f"{len(bad)} of {len(frame)} configs did not measure ok:\n\n"
            + markdown_table(["status", "model", "backend", "dtype", "batch sizes", "reason"], rows))


def where(machine: str | None, profile: str) -> str:
    """How a page names the data it shows: machine and profile."""
    return f"**{machine or 'no machine yet'}** (profile `{profile}`)"


def loaded(study_frame: pd.DataFrame, frame: pd.DataFrame, machine: str | None, profile: str,
           results_dir: str | Path) -> str:
    """Markdown: how many records the study has (`study_frame`, every machine), on how many machines,
    which one the page shows (`frame`), and which of its configs failed."""
    machines = study_frame["machine_label"].nunique() if not study_frame.empty else 0
    head = (f"{len(study_frame)} records in `{results_dir}` match this study's grids, from {machines} "
            f"machine{'s' if machines != 1 else ''}; "
            f"the figures below show {where(machine, profile)}.")
    return head + "\n\n" + not_ok(frame) + loaded_machine_note(frame)


def loaded_machine_note(frame: pd.DataFrame) -> str:
    """Markdown: a warning when ok records were measured while the machine was overloaded.

    The fingerprint stores the 1-minute load average at measuring time. Above the core count,
    other processes competed for the CPU (ftax's own threads alone stay at or below it), so
    those latencies may be inflated; on a shared 2-core machine we saw up to tens of times."""
    needed = {"env_load_avg_1m", "env_cpu_count", "status"}
    if frame.empty or not needed <= set(frame.columns):
        return ""
    ok = frame[frame["status"] == "ok"]
    load = pd.to_numeric(ok["env_load_avg_1m"], errors="coerce")
    busy = ok[load > pd.to_numeric(ok["env_cpu_count"], errors="coerce")]
    if busy.empty:
        return ""
    return (f"\n\n**Caution:** {len(busy)} of {len(ok)} ok records were measured while the machine's 1-minute "
            f"load average (up to {load[busy.index].max():.1f}) exceeded its {int(busy['env_cpu_count'].max())} "
            f"cores: other processes competed for the CPU, so those latencies may be inflated. A sweep skips "
            f"configs stored ok, so remeasure them on an idle machine into a fresh `--out` directory.")


def curves(rows: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per curve of the ok rows; a name mentions only the `by` columns that vary
    (all of them when none does), so one machine's pages do not repeat its name in every phrase."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return []
    shown = [c for c in by if ok[c].nunique() > 1] or list(by)
    return [(_name(tuple(part[c].iloc[0] for c in shown)), part) for _, part in ok.groupby(list(by), sort=True)]


def _name(keys) -> str:
    return " ".join(map(str, keys if isinstance(keys, tuple) else (keys,)))


def rise_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32 at batch 16' per curve: where latency first exceeds the smallest `x`'s by 20%
    ('... not up to batch 4' when it never does)."""
    label = "batch" if x == "batch_size" else "length"
    phrases = []
    for name, curve in curves(rows, by):
        if curve[x].nunique() < 2:
            continue
        rise = first_rise(curve[x], curve["median_ms"])
        phrases.append(f"{name} at {label} {rise}" if rise is not None
                       else f"{name} not up to {label} {curve[x].max()}")
    return phrases


def scaling_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: 64x the batch costs 3.1x the latency' per curve (largest vs smallest `x`)."""
    noun = "batch" if x == "batch_size" else "sequence length"
    phrases = []
    for name, curve in curves(rows, by):
        curve = curve.sort_values(x)
        if curve[x].nunique() < 2:
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        phrases.append(f"{name}: {last[x] / first[x]:g}x the {noun} ({first[x]} to {last[x]}) costs "
                       f"{sig(last['median_ms'] / first['median_ms'])}x the latency "
                       f"({sig(first['median_ms'])} to {sig(last['median_ms'])} ms)")
    return phrases


def latency_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'onnxruntime 0.21 ms' per row at one batch size, fastest first (named as in `curves`)."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)] if not rows.empty else rows
    return [f"{name} {sig(part['median_ms'].median())} ms"
            for name, part in sorted(curves(ok, by), key=lambda item: item[1]["median_ms"].median())]


def knee_phrases(fits: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: inflection at batch 12 (95% interval 8 to 20)' per fitted curve."""
    phrases = []
    for name, fit in ((n, part.iloc[0]) for n, part in curves(fits, by)):
        if fit["reached"]:
            low, high = fit["inflection_low"], fit["inflection_high"]
            span = (f" (95% interval {sig(low)} to {sig(high)})" if pd.notna(low) and pd.notna(high)
                    else " (interval open at the edge of the grid)")
            if "at or below the smallest batch" in str(fit.get("message", "")):
                phrases.append(f"{name}: compute-bound from the smallest batch measured")
            else:
                phrases.append(f"{name}: inflection at batch {sig(fit['inflection_batch'])}{span}")
        elif fit["n_batches"] >= 3:
            phrases.append(f"{name}: still framework-bound at batch {fit['max_batch']}")
    return phrases


def speedup_phrases(speedups: pd.DataFrame, batch_size: int, by: Sequence[str] = ("model", "dtype")) -> list[str]:
    """'bert-tiny fp32: onnxruntime 2.1x, torchscript 1.3x' at one batch size, fastest first."""
    rows = speedups[speedups["batch_size"] == batch_size] if not speedups.empty else speedups
    phrases = []
    named = curves(rows, by)
    for name, part in named:
        listed = ", ".join(f"{r.backend} {sig(r.speedup, 2)}x" for r in part.sort_values("speedup", ascending=False)
                           .itertuples())
        phrases.append(listed if len(named) == 1 else f"{name}: {listed}")
    return phrases


def doubling_factor(rows: pd.DataFrame, along: str, batch_size: int, value: str = "median_ms") -> float | None:
    """Multiplier of `value` (latency, or flops) per doubling of `along` (width or depth) at one batch
    size: 2 ** the mean slope of log2 `value` on log2 `along`, fitted at each value of the other one."""
    other = "depth" if along == "width" else "width"
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)].dropna(subset=[along, other, value])
    slopes = [np.polyfit(np.log2(part[along].astype(float)), np.log2(part[value].astype(float)), 1)[0]
              for _, part in ok.groupby(other) if part[along].nunique() >= 2]
    return float(2 ** np.mean(slopes)) if slopes else None


def ratio_phrases(rows: pd.DataFrame, baseline: str, batch_size: int, column: str = "model") -> list[str]:
    """'distilbert: 0.52x the latency, 0.5x the FLOPs of bert-base' at one batch size."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)]
    base = ok[ok[column] == baseline]
    if base.empty:
        return []
    base = base.iloc[0]
    phrases = []
    for _, r in ok[ok[column] != baseline].sort_values("median_ms").iterrows():
        flops = (f", {sig(r['flops'] / base['flops'], 2)}x the FLOPs" if pd.notna(r.get("flops"))
                 and pd.notna(base.get("flops")) and base["flops"] else "")
        phrases.append(f"{r[column]}: {sig(r['median_ms'] / base['median_ms'], 2)}x the latency{flops}")
    return phrases


def precision_phrases(rows: pd.DataFrame, baseline: str = "fp32") -> list[str]:
    """'bert-tiny at batch 1: fp16 3.2x, bf16 1.4x the fp32 latency' at the smallest and largest batch."""
    ok = rows[rows["status"] == "ok"] if not rows.empty else rows
    phrases = []
    for model, part in (ok.groupby("model", sort=True) if not ok.empty else []):
        base = part[part["dtype"] == baseline].groupby("batch_size")["median_ms"].median()
        others = part[part["dtype"] != baseline]
        for batch in sorted({base.index.min(), base.index.max()}) if not base.empty else []:
            at = others[others["batch_size"] == batch].sort_values("dtype")
            if not at.empty:
                listed = ", ".join(f"{r.dtype} {sig(r.median_ms / base[batch], 2)}x" for r in at.itertuples())
                phrases.append(f"{model} at batch {batch}: {listed} the {baseline} latency")
    return phrases


def growth_phrases(grid: pd.DataFrame) -> list[str]:
    """'at batch 1, doubling width multiplies latency by 1.1 (FLOPs by 3.6), doubling depth by 1.9
    (FLOPs by 2)' per batch size, each factor fitted over the grid (see `doubling_factor`)."""
    phrases = []
    for batch in sorted(grid[grid["status"] == "ok"]["batch_size"].unique()) if not grid.empty else []:
        factors = {(along, value): doubling_factor(grid, along, batch, value)
                   for along in ("width", "depth") for value in ("median_ms", "flops")}
        if all(factors.values()):
            phrases.append(f"at batch {batch}, doubling width multiplies latency by "
                           f"{sig(factors['width', 'median_ms'])} (FLOPs by {sig(factors['width', 'flops'])}) and "
                           f"doubling depth by {sig(factors['depth', 'median_ms'])} "
                           f"(FLOPs by {sig(factors['depth', 'flops'])})")
    return phrases


def no_data(rows: pd.DataFrame, here: str) -> str | None:
    """The sentence a caption or finding becomes when none of its rows measured ok (else None)."""
    if not rows.empty and (rows["status"] == "ok").any():
        return None
    return (f"Nothing to show here: no config of this figure measured ok on {here}. Either the profile does "
            f"not include it, or it failed (the table under *Load* lists failures and why), or it was not "
            f"measured yet (run the page with `measure=True`).")
