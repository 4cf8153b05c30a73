"""Where the time goes: phrases about the profiler's decomposition of a call into busy time and overhead.

Like `ftax.read.findings`, pure functions from the rows a page shows to short strings; each reads only
`ftax.read.rows.decomposed` rows, the rows the decomposition figures draw, so a caption counts what its
figure shows.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from ftax.read.findings import curves
from ftax.read.rows import BUSY_METHODS, decomposed
from ftax.read.text import join, sig


def busy_phrase(rows: pd.DataFrame) -> str:
    """What 'busy' means for these rows: device-busy time on a GPU, compute-kernel self time on a CPU."""
    methods = sorted(set(decomposed(rows)["decomposition_method"].dropna())) if not decomposed(rows).empty else []
    return join([BUSY_METHODS[m].meaning if m in BUSY_METHODS else m for m in methods],
                "busy time as the profiler measured it")


def share_phrases(rows: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'eager: 66% of 2.1 ms at batch 1 and 21% of 19 ms at batch 64' per curve (smallest and largest batch).

    Phrases contain commas' worth of detail: join them with '; ', not `join`."""
    phrases = []
    for name, curve in curves(decomposed(rows), by):
        per_batch = curve.groupby("batch_size")[["decomposition_overhead_share", "decomposition_wall_ms"]]
        share, wall = (per_batch.median().sort_index()[c] for c in ("decomposition_overhead_share",
                                                                     "decomposition_wall_ms"))
        ends = [share.index[0]] + ([share.index[-1]] if len(share) > 1 else [])
        phrases.append(f"{name}: " + " and ".join(f"{share[b]:.0%} of {sig(wall[b])} ms at batch {b}" for b in ends))
    return phrases


def regime_phrases(labeled: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'eager: framework-bound at batch 1 to 4, transitional at batch 8, compute-bound at batch 16 to 64'
    per curve, from the `regime` column of `ftax.read.analysis.label_regimes`, consecutive batches merged."""
    phrases = []
    for name, curve in curves(labeled[labeled["regime"].notna()] if "regime" in labeled else labeled.iloc[0:0], by):
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
    done = decomposed(rows).dropna(subset=["decomposition_wall_ms", "estimate_ms"])
    if done.empty:
        return None
    ratio = done["decomposition_wall_ms"].astype(float) / done["estimate_ms"].astype(float)
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
    if rows.empty or "decomposition_method" not in rows:
        return []
    bad = rows[(rows["status"] == "ok") & rows["decomposition_method"].notna()
               & ~rows["decomposition_method"].isin(list(BUSY_METHODS))]
    message = bad["decomposition_message"] if "decomposition_message" in bad else pd.Series("", index=bad.index)
    return [f"{backend} at batch {join([str(b) for b in sorted(part['batch_size'].unique())])}: {reason or method}"
            for (backend, method, reason), part in bad.assign(reason=message.fillna(""))
            .groupby(["backend", "decomposition_method", "reason"], sort=True)]


def caveat_phrases(rows: pd.DataFrame) -> list[str]:
    """Known blind spots of the decomposition (`ftax.measure.decompose`) that apply to these rows."""
    done = decomposed(rows)
    phrases = []
    if not done.empty and ((done["backend"] == "compile") & (done["decomposition_method"] == "cpu-compute-ops")).any():
        phrases.append("on a CPU, torch.compile's fused C++ kernels emit no profiler event, so only its extern "
                       "kernels (matrix products, attention) count as busy and its overhead is an upper bound")
    return phrases
