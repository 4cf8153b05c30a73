"""The model of the tax scored against every stored batch curve, each predicted from its batch 1 alone.

Why held out: `ftax predict` sees batch 1 only (and the smallest shape), so a stored curve is scored the same way:
its batch-1 estimate and the estimates of H that batch 1 allows (`hosts_at_batch1`) predict its other measured
batches (`validate`), and each predictor (the model under each H and rate, the two-point line, two baselines) is
scored by the share of curves it gets within CLOSE_ENOUGH at every held-out batch (`scores`). `host_window` asks the
converse: which H a line through T(1) would have needed. Each curve is read with the probes taken around its visits
(`ftax.read.curve_probes`). Page 08 shows all of it; `benchmarks/tax_model_fresh.py` scores its fresh runs alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ftax.read.curve_probes import curve_span, probe_for
from ftax.read.estimates import curve_columns
from ftax.measure.probe import Probe
from ftax.read.rows import numbers
from ftax.read.tax_model import (ADDITIVE, BY_SIZE, HELD, SECOND_BATCH, Work, curve, default_rate, host_from_probe,
                            predict_from, preferred_host, two_point, write_sizes_of)

CLOSE_ENOUGH = 0.25  # a prediction "holds" at a batch when within 25% of the measured estimate
FRESH_RUNS = "tax-fresh"  # results/tax-fresh/<run>/: a study swept with its probes (benchmarks/tax_model_fresh.py)
# What names a curve (a decoder's prefill and decode step are two curves): `ftax.read.estimates.curve_columns`, on rows
# of one series per config, whose keys are looked up by value.
CURVE_KEYS = curve_columns("batch_size", series=False)


def work_from_rows(curve_rows: pd.DataFrame) -> Work | None:
    """A curve's Work from its stored rows (FLOPs per batch, GEMM calls; bytes written and writes where the
    records have them), or None without FLOPs or GEMM calls."""
    rows = curve_rows.dropna(subset=["flops"]) if "flops" in curve_rows else curve_rows.iloc[0:0]
    one = rows[rows["batch_size"] == 1]
    more = rows[rows["batch_size"] > 1]
    calls, writes = (numbers(curve_rows, name).dropna() for name in ("gemm_calls", "writes"))
    if one.empty or more.empty or calls.empty:
        return None
    f1 = float(one["flops"].iloc[0])
    b, fb = float(more["batch_size"].iloc[0]), float(more["flops"].iloc[0])
    w1, wb = (float(numbers(r, "written_bytes").iloc[0]) for r in (one, more))
    bytes_known = math.isfinite(w1) and math.isfinite(wb) and not writes.empty
    sizes = one["write_sizes"].iloc[0] if "write_sizes" in one else None
    return Work(flops_batch1=f1, flops_per_item=(fb - f1) / (b - 1), gemm_calls=int(calls.max()),
                written_batch1=w1 if bytes_known else None,
                written_per_item=(wb - w1) / (b - 1) if bytes_known else None,
                writes=int(writes.max()) if bytes_known else None,
                write_sizes=write_sizes_of(sizes) if bytes_known else ())




def hosts_at_batch1(row: pd.Series, work: Work, probe: Probe, smallest: pd.Series | None = None) -> dict[str, float]:
    """The estimates of H that batch 1 allows (held out: nothing from the rest of the curve): the probe's, the
    decomposition's if the batch-1 record has one, and the smallest shape's estimate if `smallest` is given."""
    t1 = float(row["estimate_ms"])
    found = {"probe": host_from_probe(t1, work, probe)}
    overhead = pd.to_numeric(pd.Series([row.get("decomposition_overhead_ms")]), errors="coerce").iloc[0]
    if math.isfinite(overhead):
        found["decomposition"] = float(overhead)
    if smallest is not None:
        found["smallest"] = float(smallest["estimate_ms"])
    return found


def smallest_shapes(configs: pd.DataFrame) -> pd.DataFrame:
    """Per curve identity without sequence (machine, model, runtime, precision, device, overrides), its ok
    batch-1 row of the shortest sequence measured: `smallest_seq_len` and `estimate_ms` (with `low_ms`,
    `high_ms`), what the `smallest` estimate of H reads."""
    keys = [k for k in CURVE_KEYS if k in configs and k != "seq_len"]
    ok = configs[(configs["status"] == "ok") & (configs["batch_size"] == 1)] if "status" in configs else configs
    if ok.empty:
        return pd.DataFrame(columns=[*keys, "smallest_seq_len", "estimate_ms", "low_ms", "high_ms"])
    first = ok.sort_values("seq_len").drop_duplicates(keys, keep="first")
    return first[[*keys, "seq_len", "estimate_ms", "low_ms", "high_ms"]].rename(columns={"seq_len": "smallest_seq_len"})


def validate(configs: pd.DataFrame, probes: dict[tuple, Probe | Sequence[Probe]], form: str = ADDITIVE,
             rate: str | None = None) -> pd.DataFrame:
    """Every stored batch curve predicted from its batch-1 estimate alone, against its measured estimates.

    `configs` is one row per config (`ftax.read.estimates.per_config`); `probes` maps (machine_id, device, dtype)
    to that machine's probe, or its probes (each curve takes those around its visits: `probe_for`). One row
    per (curve, batch > 1): `measured_ms` (with `low_ms`/`high_ms`); the prediction under each H the batch-1
    record allows (`pred_probe`, `pred_decomposition`) at `rate` (default: the device's, `default_rate`);
    `pred_model` (H from `preferred_host`: what `ftax predict` would say; `model_host` names it);
    `pred_by_size` and `pred_held` (the model's H at each rate); the two-point form (`pred_two_point`: batch 1
    and `second_batch_of` the curve, NaN at that batch); the baselines (`pred_constant`, `pred_flops_scaled`);
    `err_*` = predicted / measured - 1; `host_*`, the H estimates; `pred_smallest` where the
    same model and runtime was measured at batch 1 and a shorter sequence (`smallest_shapes`). Curves without FLOPs,
    GEMM calls or a probe for their machine are left out (`skipped` in `frame.attrs` says which and why).
    """
    rows, skipped = [], []
    for c in _held_out_curves(configs, probes, skipped):
        later = c.rows[c.rows["batch_size"] > 1]
        batches = [1, *later["batch_size"].astype(int)]
        predicted = {source: curve(c.t1_ms, h, c.work, c.probe, batches, form, rate or default_rate(c.probe))[0][1:]
                     for source, h in c.hosts.items()}
        chosen = preferred_host(c.hosts)
        predicted["model"] = predicted[chosen]
        for name, other in (("by_size", BY_SIZE), ("held", HELD)):
            predicted[name] = curve(c.t1_ms, c.hosts[chosen], c.work, c.probe, batches, form, other)[0][1:]
        predicted["constant"] = np.full(len(later), c.t1_ms)
        predicted["flops_scaled"] = np.array([c.t1_ms * c.work.flops(b) / c.work.flops(1) for b in batches[1:]])
        predicted["two_point"] = _two_point_held_out(c, batches)
        for i, (_, row) in enumerate(later.iterrows()):
            out = {**c.ident, "batch_size": int(row["batch_size"]), "measured_ms": float(row["estimate_ms"]),
                   "low_ms": row.get("low_ms"), "high_ms": row.get("high_ms"), "t1_ms": c.t1_ms, "form": form,
                   "model_host": chosen, **{f"host_{k}": v for k, v in c.hosts.items()}}
            for name, values in predicted.items():
                out[f"pred_{name}"] = float(values[i])
                out[f"err_{name}"] = float(values[i]) / out["measured_ms"] - 1
            rows.append(out)
    frame = pd.DataFrame(rows)
    frame.attrs["skipped"] = skipped
    return frame


def host_window(batch_sizes: Sequence[float], latency_ms: Sequence[float], tolerance: float = CLOSE_ENOUGH
                ) -> tuple[float, float] | None:
    """The host costs H for which the line through T(1), H + (T(1) - H) x batch, is within `tolerance` of every
    other measured point: (lowest, highest), or None when no H is (the curve is not a line through T(1)).

    This asks what a one-measurement model would have to know. Each point b > 1 bounds H on both sides:
    |H (1 - b) + T(1) b - T(b)| <= tolerance T(b), i.e. H in [(T(1) b - (1 + tolerance) T(b)) / (b - 1),
    (T(1) b - (1 - tolerance) T(b)) / (b - 1)]; the window is their intersection with [0, T(1)]. A wide
    window forgives a poor estimate of H, a narrow one needs H nearly exact.
    """
    b, t = np.asarray(batch_sizes, dtype=float), np.asarray(latency_ms, dtype=float)
    if not (b == 1).any() or (b > 1).sum() == 0:
        return None
    t1 = float(t[b == 1][0])
    later, tb = b[b > 1], t[b > 1]
    low = max(0.0, float(np.max((t1 * later - (1 + tolerance) * tb) / (later - 1))))
    high = min(t1, float(np.min((t1 * later - (1 - tolerance) * tb) / (later - 1))))
    return (low, high) if low <= high else None


def second_batch_of(batches: Sequence[int]) -> int | None:
    """The measured batch the two-point form takes besides batch 1: the one nearest SECOND_BATCH (in log batch),
    or None when fewer than two batches above 1 were measured (nothing would be held out)."""
    later = sorted({int(b) for b in batches if b > 1})
    if len(later) < 2:
        return None
    return min(later, key=lambda b: (abs(math.log(b / SECOND_BATCH)), b))


def _two_point_held_out(c: "_Curve", batches: list[int]) -> np.ndarray:
    """The two-point form's latency at `batches[1:]`, NaN at the batch it was given (that one is not held out)."""
    second = second_batch_of(batches)
    if second is None:
        return np.full(len(batches) - 1, math.nan)
    row = c.rows[c.rows["batch_size"] == second].iloc[0]
    first = c.rows[c.rows["batch_size"] == 1].iloc[0]
    p = two_point(c.t1_ms, second, float(row["estimate_ms"]), _range(first), _range(row), batches)
    return np.where(np.asarray(batches[1:]) == second, math.nan, np.asarray(p.latency_ms[1:]))


def _range(row: pd.Series) -> tuple[float, float] | None:
    """A stored estimate's interval (`low_ms`, `high_ms`), or None without one."""
    ends = pd.to_numeric(pd.Series([row.get("low_ms"), row.get("high_ms")]), errors="coerce")
    return (float(ends.iloc[0]), float(ends.iloc[1])) if ends.notna().all() else None


@dataclass(frozen=True)
class _Curve:
    """A stored batch curve with what a held-out prediction may use: its batch-1 estimate and H estimates."""

    ident: dict
    rows: pd.DataFrame
    work: Work
    probe: Probe
    t1_ms: float
    hosts: dict[str, float]


def _held_out_curves(configs: pd.DataFrame, probes: dict[tuple, Probe | Sequence[Probe]],
                     skipped: list[dict]):
    """Each ok batch curve with batch 1 and another batch, ready to predict (those that cannot be go to
    `skipped`, with why)."""
    if configs.empty or "status" not in configs:
        return
    ok = configs[(configs["status"] == "ok") & (pd.to_numeric(configs["estimate_ms"], errors="coerce") > 0)]
    keys = [k for k in CURVE_KEYS if k in ok]
    small_keys = [k for k in keys if k != "seq_len"]
    small = {tuple(r[k] for k in small_keys): r for _, r in smallest_shapes(ok).iterrows()}
    for values, rows in ok.groupby(keys, dropna=False, sort=True):
        ident = dict(zip(keys, values))
        rows = rows.sort_values("batch_size")
        if not (rows["batch_size"] == 1).any() or rows["batch_size"].nunique() < 2:
            continue
        first = rows[rows["batch_size"] == 1].iloc[0]
        probe = probe_for(probes, (ident.get("machine_id"), ident.get("device"), ident.get("dtype")),
                          *curve_span(rows))
        work = work_from_rows(rows)
        if probe is None or work is None:
            skipped.append({**ident, "why": "no probe for this machine and dtype" if probe is None
                            else "no FLOPs or GEMM calls stored"})
            continue
        shortest = small.get(tuple(ident[k] for k in small_keys))
        if shortest is not None and not shortest["smallest_seq_len"] < ident.get("seq_len", 0):
            shortest = None
        yield _Curve(ident, rows, work, probe, float(first["estimate_ms"]),
                     hosts_at_batch1(first, work, probe, shortest))



def predicted_inflections(configs: pd.DataFrame, probes: dict[tuple, Probe | Sequence[Probe]],
                          form: str = ADDITIVE) -> pd.DataFrame:
    """Per stored curve, what the model predicts from batch 1 over the curve's own batches: `regime`,
    `inflection_batch` and its interval, with the H it used (`host_source`), to set beside the inflection
    `ftax.read.analysis.framework_bound_regimes` reads from the measured visits."""
    rows, skipped = [], []
    for c in _held_out_curves(configs, probes, skipped):
        batches = [int(b) for b in sorted(c.rows["batch_size"].unique())]
        p = predict_from(c.t1_ms, c.hosts, c.work, c.probe, form=form, batch_sizes=batches)
        rows.append({**c.ident, "host_source": p.inputs["host_source"], "host_ms": p.host_ms, "regime": p.regime,
                     "inflection_batch": p.inflection_batch, "inflection_low": p.inflection_interval[0],
                     "inflection_high": p.inflection_interval[1], "max_batch": batches[-1], "message": p.message})
    return pd.DataFrame(rows)


def scores(validation: pd.DataFrame) -> pd.DataFrame:
    """Per predictor: curves scored, the share whose every held-out batch is within CLOSE_ENOUGH of the measured
    estimate, and the median |error| over all held-out points: the model's bar (>= 80% of curves) and its two
    baselines. Whether a re-run could flip a curve: `curves_surely_within` counts the curves within CLOSE_ENOUGH
    wherever in its interval (`low_ms`..`high_ms`) each measured point lies, `curves_surely_out` those with a
    point outside it wherever it lies; the rest (and every curve measured in one round) is undecided."""
    columns = ["predictor", "curves", "curves_within", "share_within", "median_abs_err", "curves_surely_within",
               "curves_surely_out"]
    if validation.empty:
        return pd.DataFrame(columns=columns)
    keys = [k for k in CURVE_KEYS if k in validation]
    low = pd.to_numeric(validation["low_ms"], errors="coerce")
    high = pd.to_numeric(validation["high_ms"], errors="coerce")
    out = []
    for column in [c for c in validation if c.startswith("err_")]:
        scored = validation.dropna(subset=[column])
        predicted = pd.to_numeric(scored[f"pred_{column[4:]}"], errors="coerce")
        lo, hi = low.loc[scored.index], high.loc[scored.index]
        # the measured value m is within CLOSE_ENOUGH of the prediction p iff p / (1 + c) <= m <= p / (1 - c)
        near, far = predicted / (1 + CLOSE_ENOUGH), predicted / (1 - CLOSE_ENOUGH)
        surely_in, surely_out = (lo >= near) & (hi <= far), (hi < near) | (lo > far)
        by_curve = [scored[k] for k in keys]
        within = (scored[column].abs() <= CLOSE_ENOUGH).groupby(by_curve, dropna=False).all()
        out.append({"predictor": column[4:], "curves": int(within.size), "curves_within": int(within.sum()),
                    "share_within": float(within.mean()) if within.size else math.nan,
                    "median_abs_err": float(scored[column].abs().median()) if len(scored) else math.nan,
                    "curves_surely_within": int(surely_in.groupby(by_curve, dropna=False).all().sum()),
                    "curves_surely_out": int(surely_out.groupby(by_curve, dropna=False).any().sum())})
    return pd.DataFrame(out, columns=columns)

