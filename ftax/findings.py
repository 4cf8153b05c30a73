"""Findings: the sentences and tables a page states, computed from the records it shows.

Pure functions from DataFrames (of `ftax.results.load`, `ftax.analysis`) to short strings or
Markdown, plus the two selections every page makes first (`focus`: one machine; `rows_of`:
the rows of some grids). A page holds the story and calls these for every number it states,
so prose never carries a number typed by hand. Phrases name only what varies among the rows
they describe, and a figure without ok rows gets `no_data`'s sentence instead of a caption.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def grid_table(grids: Sequence) -> str:
    """Markdown table of what a study will measure: one row per grid."""
    def over(g) -> str:
        return f" ({len(g.overrides)} width x depth)" if any(g.overrides) else ""

    return markdown_table(["grid", "models", "backends", "dtypes", "batch sizes", "seq lens", "configs"],
                          [(g.name, ", ".join(g.models) + over(g), ", ".join(g.backends), ", ".join(g.dtypes),
                            ", ".join(map(str, g.batch_sizes)), ", ".join(map(str, g.seq_lens)), len(g.configs()))
                           for g in grids])


RECORD_COLUMNS = ("config_key", "machine_id", "machine_label", "status", "message", "model", "backend", "dtype",
                  "device", "batch_size", "seq_len", "overrides", "width", "depth", "median_ms", "ci_low_ms",
                  "ci_high_ms", "flops", "parity_ok", "prepare_s")


def with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every record column present: a loader only creates the columns its records have,
    so no records, or only failed ones, leave e.g. `median_ms` out."""
    missing = [c for c in RECORD_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: None for c in missing}) if missing else frame


def focus(frame: pd.DataFrame, machine_id: str, device: str = "auto") -> tuple[pd.DataFrame, str | None]:
    """The rows of the one machine a page shows, and its label: this machine on `device` if it has
    records there, else the machine label with the most ok records. Machines are never mixed."""
    from ftax.backends import resolve_device

    frame = with_columns(frame)
    if frame.empty:
        return frame, None
    kind = resolve_device(device).split(":")[0]
    mine = frame[(frame["machine_id"] == machine_id) & (frame["device"].str.split(":").str[0] == kind)]
    if not mine.empty:
        return mine.reset_index(drop=True), mine["machine_label"].mode().iloc[0]
    counts = frame[frame["status"] == "ok"]["machine_label"].value_counts()
    label = counts.index[0] if len(counts) else frame["machine_label"].mode().iloc[0]
    return frame[frame["machine_label"] == label].reset_index(drop=True), label


def rows_of(frame: pd.DataFrame, grids: Sequence, names: Sequence[str] | None = None, varying: str | None = None):
    """Rows of `frame` whose config belongs to the named grids (or the grids sweeping `varying`)."""
    chosen = [g for g in grids if (names is None or g.name in names)
              and (varying is None or len(getattr(g, varying)) > 1)]
    wanted = {(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, _over(dict(c.overrides)))
              for g in chosen for c in g.configs()}
    frame = with_columns(frame)
    if frame.empty or not wanted:
        return frame.iloc[0:0]
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"])
    return frame[[k in wanted for k in keys]].reset_index(drop=True)


def _over(overrides: dict) -> str:
    return json.dumps(overrides, sort_keys=True)


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


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: one header row, one row per item (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def join(items: Sequence[str], empty: str = "none") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def where(machine: str | None, profile: str) -> str:
    """How a page names the data it shows: machine and profile."""
    return f"**{machine or 'no machine yet'}** (profile `{profile}`)"


def loaded(data, frame: pd.DataFrame, machine: str | None, results_dir: str | Path) -> str:
    """Markdown: how many records the study has, on how many machines, which one the page shows."""
    machines = data.frame["machine_label"].nunique() if not data.frame.empty else 0
    head = (f"{len(data.frame)} records in `{results_dir}` match this study's grids, from {machines} "
            f"machine{'s' if machines != 1 else ''}; "
            f"the figures below show {where(machine, data.profile)}.")
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


def _curves(rows: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per curve of the ok rows; a name mentions only the `by` columns that vary
    (all of them when none does), so one machine's pages do not repeat its name in every phrase."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return []
    shown = [c for c in by if ok[c].nunique() > 1] or list(by)
    return [(_name(tuple(part[c].iloc[0] for c in shown)), part) for _, part in ok.groupby(list(by), sort=True)]


def _name(keys) -> str:
    return " ".join(map(str, keys if isinstance(keys, tuple) else (keys,)))


def sig(value: float, digits: int = 3) -> str:
    """A measured value to `digits` significant digits, without exponent notation: 0.0123, 4.56, 1,230."""
    if value is None or not np.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.{digits}g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 10 ** (digits - 1) else f"{rounded:g}"


def rise_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32 at batch 16' per curve: where latency first exceeds the smallest `x`'s by 20%
    ('... not up to batch 4' when it never does)."""
    from ftax.analysis import first_rise

    label = "batch" if x == "batch_size" else "length"
    phrases = []
    for name, curve in _curves(rows, by):
        if curve[x].nunique() < 2:
            continue
        rise = first_rise(curve[x], curve["median_ms"])
        phrases.append(f"{name} at {label} {rise}" if rise is not None else f"{name} not up to {label} {curve[x].max()}")
    return phrases


def scaling_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: 64x the batch costs 3.1x the latency' per curve (largest vs smallest `x`)."""
    noun = "batch" if x == "batch_size" else "sequence length"
    phrases = []
    for name, curve in _curves(rows, by):
        curve = curve.sort_values(x)
        if curve[x].nunique() < 2:
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        phrases.append(f"{name}: {last[x] / first[x]:g}x the {noun} ({first[x]} to {last[x]}) costs "
                       f"{sig(last['median_ms'] / first['median_ms'])}x the latency "
                       f"({sig(first['median_ms'])} to {sig(last['median_ms'])} ms)")
    return phrases


def latency_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'onnxruntime 0.21 ms' per row at one batch size, fastest first (named as in `_curves`)."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)] if not rows.empty else rows
    return [f"{name} {sig(part['median_ms'].median())} ms"
            for name, part in sorted(_curves(ok, by), key=lambda item: item[1]["median_ms"].median())]


def knee_phrases(fits: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: inflection at batch 12 (95% interval 8 to 20)' per fitted curve."""
    phrases = []
    for name, fit in ((n, part.iloc[0]) for n, part in _curves(fits, by)):
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
    curves = _curves(rows, by)
    for name, part in curves:
        listed = ", ".join(f"{r.backend} {sig(r.speedup, 2)}x" for r in part.sort_values("speedup", ascending=False)
                           .itertuples())
        phrases.append(listed if len(curves) == 1 else f"{name}: {listed}")
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


# --- where the time goes: phrases about the profiled decomposition (`ftax.profile`) --------

BUSY_METHODS = {"cuda-busy": "the union of the GPU's kernel and copy intervals",
                "cpu-compute-ops": "the self time of the aten operators that compute, as a CPU has no device timeline"}


def on_device(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows measured on a device of `kind` ("cpu" or "cuda"), from every machine."""
    frame = with_columns(frame)
    return frame[frame["device"].astype(str).str.split(":").str[0] == kind].reset_index(drop=True)


def profiled(rows: pd.DataFrame) -> pd.DataFrame:
    """Ok rows that carry a decomposition (an overhead share)."""
    if rows.empty or "profile_overhead_share" not in rows:
        return rows.iloc[0:0]
    return rows[(rows["status"] == "ok") & rows["profile_overhead_share"].notna()]


def busy_phrase(rows: pd.DataFrame) -> str:
    """What 'busy' means for these rows: device-busy time on a GPU, compute-kernel self time on a CPU."""
    methods = sorted(set(profiled(rows)["profile_method"].dropna())) if not profiled(rows).empty else []
    return join([BUSY_METHODS.get(m, m) for m in methods], "busy time as the profiler measured it")


def share_phrases(rows: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'eager: 66% of 2.1 ms at batch 1 and 21% of 19 ms at batch 64' per curve (smallest and largest batch).

    Phrases contain commas' worth of detail: join them with '; ', not `join`."""
    phrases = []
    for name, curve in _curves(profiled(rows), by):
        per_batch = curve.groupby("batch_size")[["profile_overhead_share", "profile_wall_ms"]].median().sort_index()
        ends = [per_batch.index[0]] + ([per_batch.index[-1]] if len(per_batch) > 1 else [])
        phrases.append(f"{name}: " + " and ".join(
            f"{per_batch.loc[b, 'profile_overhead_share']:.0%} of {sig(per_batch.loc[b, 'profile_wall_ms'])} ms "
            f"at batch {b}" for b in ends))
    return phrases


def split_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'eager 0.42 ms busy + 1.6 ms overhead' per curve at one batch size, shortest wall time first."""
    at = profiled(rows)
    at = at[at["batch_size"] == batch_size] if not at.empty else at
    parts = [(name, part[["profile_busy_ms", "profile_overhead_ms", "profile_wall_ms"]].median())
             for name, part in _curves(at, by)]
    return [f"{name} {sig(m['profile_busy_ms'])} ms busy + {sig(m['profile_overhead_ms'])} ms overhead"
            for name, m in sorted(parts, key=lambda item: item[1]["profile_wall_ms"])]


def regime_phrases(labeled: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'eager: framework-bound at batch 1 to 4, transitional at batch 8, compute-bound at batch 16 to 64'
    per curve, from the `regime` column of `ftax.analysis.label_regimes`, consecutive batches merged."""
    phrases = []
    for name, curve in _curves(labeled[labeled["regime"].notna()] if "regime" in labeled else labeled.iloc[0:0], by):
        runs: list[list] = []
        for batch, regime in curve.groupby("batch_size")["regime"].first().sort_index().items():
            if runs and runs[-1][0] == regime:
                runs[-1][2] = batch
            else:
                runs.append([regime, batch, batch])
        phrases.append(f"{name}: " + ", ".join(f"{r} at batch {lo}" + (f" to {hi}" if hi != lo else "")
                                               for r, lo, hi in runs))
    return phrases


def pairing_phrase(rows: pd.DataFrame, within: float = 0.25) -> str | None:
    """How well the profiled pairs' wall time matches the timed median latency of the same configs
    (they are separate runs; on a busy machine they can differ), or None without profiled rows."""
    done = profiled(rows).dropna(subset=["profile_wall_ms", "median_ms"])
    if done.empty:
        return None
    ratio = done["profile_wall_ms"].astype(float) / done["median_ms"].astype(float)
    inside = (ratio >= 1 / (1 + within)) & (ratio <= 1 + within)
    per_backend = ratio.groupby(done["backend"]).median()
    off = [f"{b} by a median {sig(float(r), 2)}x" for b, r in per_backend.items()
           if not 1 / (1 + within) <= r <= 1 + within]
    return (f"the decomposition's wall time (the unprofiled call paired with each profiled one) is a median "
            f"{sig(float(ratio.median()), 2)}x the timed median latency, within {within:.0%} of it for "
            f"{int(inside.sum())} of {len(done)} configs"
            + (f"; the pairs are off for {join(off)}, so that split is less reliable than the timed latency"
               if off else ""))


def not_decomposed(rows: pd.DataFrame) -> list[str]:
    """'onnxruntime at batch 1 and 4: <why>' for ok rows the profiler could not decompose."""
    if rows.empty or "profile_method" not in rows:
        return []
    bad = rows[(rows["status"] == "ok") & rows["profile_method"].notna()
               & ~rows["profile_method"].isin(list(BUSY_METHODS))]
    message = bad["profile_message"] if "profile_message" in bad else pd.Series("", index=bad.index)
    return [f"{backend} at batch {join([str(b) for b in sorted(part['batch_size'].unique())])}: {reason or method}"
            for (backend, method, reason), part in bad.assign(reason=message.fillna(""))
            .groupby(["backend", "profile_method", "reason"], sort=True)]


def caveat_phrases(rows: pd.DataFrame) -> list[str]:
    """Known blind spots of the decomposition (`ftax.profile`) that apply to these rows."""
    done = profiled(rows)
    phrases = []
    if not done.empty and ((done["backend"] == "compile") & (done["profile_method"] == "cpu-compute-ops")).any():
        phrases.append("on a CPU, torch.compile's fused C++ kernels emit no profiler event, so only its extern "
                       "kernels (matrix products, attention) count as busy and its overhead is an upper bound")
    return phrases
