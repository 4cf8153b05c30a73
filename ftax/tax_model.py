"""A model of the tax: a config's latency curve over batch size from one batch-1 measurement.

latency(b) = host + work(b), where
- host (H, ms) is the fixed per-call cost of the framework: Python, dispatch, allocation, launches;
- work(b) (ms) is the arithmetic at the machine's achieved rate: FLOPs(b) / rate(FLOPs / calls),
  with `calls` the number of ops that do the FLOPs (matrix products, convolutions, attention) and
  rate(size) the GEMM rate a `ftax.probe.Probe` measured at that work per call: at each batch's size
  (`BY_SIZE`: small products run far below peak, so doubling the batch less than doubles the time of
  the math) or at batch 1's for every batch (`HELD`: the work grows as the FLOPs, what the CPU's
  curves show; `default_rate`), plus the bytes its ops write at the probe's write rate for that many
  bytes per write (`write_ms`: outputs that outgrow what the allocator keeps are written far slower).

On a CPU the host and the math run on the same cores one after the other: latency = H + work
(`ADDITIVE`). On a GPU the host queues kernels while earlier ones run: latency ~ max(H, work)
(`OVERLAP`), plus launch and sync terms that H absorbs. Which one a machine follows is a question
for its data (page 08 scores both forms on every stored curve), not an assumption.

H can come from four places, kept apart because they fail differently:
- `decomposition`: the profiler's overhead at batch 1 (`ftax.decompose`); on a CPU its busy time is
  a list of aten ops, so work it does not list counts as host;
- `intercept`: the latency at zero FLOPs of a robust line through a measured batch sweep (needs a curve);
- `smallest`: the latency at the smallest shape the model takes (batch 1, shortest sequence), where
  the work is nearly nothing (needs a second measurement, no profiler);
- `probe`: T(1) minus the probe's time for batch 1's FLOPs (needs nothing but the probe, and is only
  as good as the probe's rate is for this model's ops).

With a second measurement the model needs no estimate at all: `two_point` draws the line through T(1) and
T(B), whose intercept is H and whose slope is the cost per item; `host_window` says how close to that H a
one-measurement estimate must come.

Pure functions: nothing here measures. `ftax predict` (ftax.cli) measures the inputs and calls
`predict` (and `two_point` with `--second-batch`); the validation page scores every stored curve with `validate`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as scistats

from ftax.analysis import FLAT, FLAT_MAX_RATIO, FLAT_PROBE_BATCH, NO_REGIME, NOT_FLAT, UNTESTED, first_past_flat
from ftax import results
from ftax.estimates import curve_columns
from ftax.probe import Probe, mean_of
from ftax.rows import numbers

ADDITIVE, OVERLAP = "additive", "overlap"
HOST_SOURCES = ("decomposition", "intercept", "smallest", "probe")
PREDICT_BATCHES = tuple(2 ** k for k in range(10))  # 1..512, the paper's batch range
CLOSE_ENOUGH = 0.25  # a prediction "holds" at a batch when within 25% of the measured estimate


@dataclass(frozen=True)
class Work:
    """What one forward of a config computes: FLOPs at batch 1 and per extra item (FLOPs are linear in
    batch for every model ftax builds), and how many ops do them (the same at every batch); and, where counted
    (records from schema 5), the bytes its ops write likewise, and how many ops write them; and (schema 6) batch 1's
    writes by size, ((bytes of one output, how many such writes), ...), each of which grows with the batch as the
    bytes written in all do (a forward's outputs are activations, batch-sized)."""

    flops_batch1: float
    flops_per_item: float
    gemm_calls: int
    written_batch1: float | None = None
    written_per_item: float | None = None
    writes: int | None = None
    write_sizes: tuple[tuple[float, int], ...] = ()

    def flops(self, batch: float) -> float:
        return self.flops_batch1 + self.flops_per_item * (batch - 1)

    def written(self, batch: float) -> float | None:
        if self.written_batch1 is None or self.written_per_item is None:
            return None
        return self.written_batch1 + self.written_per_item * (batch - 1)


# How the work's rate follows the batch. BY_SIZE: the probe's rate at each batch's work per call (bigger products
# run nearer peak). HELD: the probe's rate at batch 1's work per call, for every batch, so the work grows as the
# FLOPs do. On the 2-core CPU the measured cost per item does not fall with batch as the probe's products suggest
# (page 08 scores both); on a GPU, where small products leave most of the device idle, BY_SIZE is the design.
BY_SIZE, HELD = "by-size", "held"


def work_ms(work: Work, probe: Probe, batch: float, rate: str = BY_SIZE) -> float:
    """Milliseconds of work at batch `batch`: the arithmetic at the probe's GEMM rate for this much work per call
    (`BY_SIZE`) or for batch 1's (`HELD`), plus `write_ms` where both the work and the probe have bytes."""
    if rate not in (BY_SIZE, HELD):
        raise ValueError(f"unknown rate {rate!r}; allowed: {BY_SIZE}, {HELD}")
    flops = work.flops(batch)
    per_call = (flops if rate == BY_SIZE else work.flops(1)) / max(work.gemm_calls, 1)
    return flops / (probe.gflops_at(per_call) * 1e9) * 1e3 + write_ms(work, probe, batch)


def write_ms(work: Work, probe: Probe, batch: float) -> float:
    """Milliseconds to write the forward's outputs at batch `batch`, each at the probe's write rate for its size:
    that rate falls off a cliff where outputs outgrow what the allocator keeps (`ftax.probe._write_ladder`),
    which is what makes a CPU's cost per item rise at large batches. Each of batch 1's sizes (`Work.write_sizes`)
    is grown by written(batch) / written(1); records without sizes (schema 5) price every write at the mean
    size, which hides the few large outputs past the cliff. 0 where the records or the probe predate bytes
    (schema 5, probe version 2)."""
    written = work.written(batch)
    if written is None or probe.write_gbs_at(1.0) is None:
        return 0.0
    grown = written / work.written_batch1 if work.write_sizes and work.written_batch1 else None
    sizes = (((size * grown, count) for size, count in work.write_sizes) if grown is not None
             else [(written / max(work.writes or 1, 1), max(work.writes or 1, 1))])
    return sum(count * size / (probe.write_gbs_at(size) * 1e9) * 1e3 for size, count in sizes)


def default_rate(probe: Probe) -> str:
    """HELD on a CPU (what page 08's scores favour there), BY_SIZE on a GPU (the design; not yet validated)."""
    return BY_SIZE if probe.device.startswith("cuda") else HELD


@dataclass(frozen=True)
class Prediction:
    """A predicted curve (`latency_ms` at `batch_sizes`, with `low_ms`..`high_ms` from the host cost's range)
    and where it leaves the flat regime, by `ftax.analysis`'s one rule (T(b)/T(1) > FLAT_MAX_RATIO)."""

    batch_sizes: tuple[int, ...]
    latency_ms: tuple[float, ...]
    low_ms: tuple[float, ...]
    high_ms: tuple[float, ...]
    host_ms: float
    host_range_ms: tuple[float, float]
    work_scale: float
    form: str
    regime: str
    inflection_batch: float | None
    inflection_interval: tuple[float | None, float | None]
    message: str = ""
    inputs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"batch_sizes": list(self.batch_sizes), "latency_ms": list(self.latency_ms), "low_ms": list(self.low_ms),
                "high_ms": list(self.high_ms), "host_ms": self.host_ms, "host_range_ms": list(self.host_range_ms),
                "work_scale": self.work_scale, "form": self.form, "regime": self.regime,
                "inflection_batch": self.inflection_batch, "interval": list(self.inflection_interval),
                "message": self.message}


def curve(t1_ms: float, host_ms: float, work: Work, probe: Probe, batch_sizes: Sequence[float] = PREDICT_BATCHES,
          form: str = ADDITIVE, rate: str = BY_SIZE) -> tuple[np.ndarray, float]:
    """(latency at each batch, work scale): the model through the measured T(1).

    The probe's rate is for square GEMMs; a model also runs softmax, norms and copies, and its products
    are not square. So the work term is scaled to pass through the measurement: scale = (T(1) - H) /
    work_ms(1) under ADDITIVE. Under OVERLAP, T(1) = max(H, work(1)) pins the scale only when the work
    dominates at batch 1; otherwise the probe's own rate is used (scale 1).
    """
    b = np.asarray(batch_sizes, dtype=float)
    raw = np.array([work_ms(work, probe, x, rate) for x in b])
    raw1 = work_ms(work, probe, 1, rate)
    if form == ADDITIVE:
        scale = max(t1_ms - host_ms, 0.0) / raw1 if raw1 > 0 else 0.0
        return host_ms + scale * raw, scale
    if form == OVERLAP:
        scale = t1_ms / raw1 if raw1 > 0 and t1_ms > host_ms else 1.0
        return np.maximum(max(host_ms, 0.0), scale * raw), scale
    raise ValueError(f"unknown form {form!r}; allowed: {ADDITIVE}, {OVERLAP}")


def predict(t1_ms: float, host_ms: float, work: Work, probe: Probe, host_range_ms: tuple[float, float] | None = None,
            batch_sizes: Sequence[int] = PREDICT_BATCHES, form: str = ADDITIVE, inputs: dict | None = None,
            rate: str = BY_SIZE) -> Prediction:
    """The curve over `batch_sizes` (batch 1 first) and its inflection, with a band from `host_range_ms`.

    The band: the curve recomputed with H at each end of its range (the disagreement between independent
    estimates of H is the model's largest uncertainty). The regime and the inflection follow claim (a)'s
    rule (`ftax.analysis`) on the predicted T(b)/T(1): flat when T(4)/T(1) <= FLAT_MAX_RATIO, and the
    inflection is the first batch past it (`first_past_flat`); its interval runs from the first batch where
    the faster-rising end of the band leaves the flat regime to the first where the slower one does (None:
    not within the predicted range). A curve whose T(4)/T(1) exceeds the ratio has no framework-bound
    regime, and says so.
    """
    if not (t1_ms > 0 and math.isfinite(t1_ms)):
        raise ValueError(f"T(1) must be a positive latency, got {t1_ms!r}")
    sizes = tuple(int(b) for b in batch_sizes)
    if sizes[0] != 1:
        raise ValueError("batch_sizes must start at 1, the measured batch")
    low_h, high_h = sorted(host_range_ms) if host_range_ms else (host_ms, host_ms)
    host_ms = min(max(host_ms, 0.0), t1_ms)
    low_h, high_h = min(max(low_h, 0.0), t1_ms), min(max(high_h, 0.0), t1_ms)
    point, scale = curve(t1_ms, host_ms, work, probe, sizes, form, rate)
    ends = np.vstack([curve(t1_ms, h, work, probe, sizes, form, rate)[0] for h in (low_h, high_h)])
    return _prediction(sizes, point, ends, host_ms=host_ms, host_range_ms=(low_h, high_h), work_scale=scale,
                       form=form, inputs={**(inputs or {}), "rate": rate})


def _prediction(sizes: tuple[int, ...], point: np.ndarray, ends: np.ndarray, **fields) -> Prediction:
    """A Prediction of the curve `point` at `sizes` (batch 1 first), with `ends` (one curve per row) as its band,
    read by claim (a)'s rule: the regime from the point's T(4)/T(1), the inflection as the first batch past the
    flat ratio, and its interval from the band's fastest- and slowest-rising ends."""
    low, high = np.minimum(ends.min(axis=0), point), np.maximum(ends.max(axis=0), point)
    later = np.asarray(sizes[1:], dtype=float)
    ratio = point[1:] / point[0]
    band = ends[:, 1:] / ends[:, :1]
    at_probe = ratio[later == FLAT_PROBE_BATCH]
    regime = UNTESTED if not at_probe.size else FLAT if at_probe[0] <= FLAT_MAX_RATIO else NOT_FLAT
    inflection = first_past_flat(later, ratio) if regime == FLAT else None
    earliest, latest = first_past_flat(later, band.max(axis=0)), first_past_flat(later, band.min(axis=0))
    message = ("" if inflection is not None else
               f"no framework-bound regime: T({FLAT_PROBE_BATCH})/T(1) is predicted at {at_probe[0]:.2f} "
               f"(> {FLAT_MAX_RATIO:g})" if regime == NOT_FLAT else NO_REGIME if regime != FLAT else
               f"still flat at batch {sizes[-1]:g}: no inflection in the predicted range")
    return Prediction(batch_sizes=sizes, latency_ms=tuple(map(float, point)), low_ms=tuple(map(float, low)),
                      high_ms=tuple(map(float, high)), regime=regime, inflection_batch=inflection,
                      inflection_interval=(earliest, latest) if inflection else (None, None), message=message,
                      **{**fields, "inputs": dict(fields.get("inputs") or {})})


# The second measurement of the two-point form: batch 8, the middle of the batches the book sweeps on a CPU
# (1..64), so the line interpolates to 2 and 4 and extrapolates to 64. Page 08 scores it on every stored curve.
SECOND_BATCH = 8
TWO_POINT = "two-point"


def two_point(t1_ms: float, second_batch: int, second_ms: float, t1_range_ms: tuple[float, float] | None = None,
              second_range_ms: tuple[float, float] | None = None, batch_sizes: Sequence[int] = PREDICT_BATCHES
              ) -> Prediction:
    """The curve through two measurements: latency = H + slope x batch, through T(1) and T(`second_batch`).

    Work grows linearly with batch (FLOPs do, for every model ftax builds), so two batches fix the host cost H
    (the line's intercept at batch 0) and the cost per item without a probe, a profiler or a FLOP count: what
    the one-measurement model has to estimate, measured. What it assumes: the cost per item is the same at
    every batch (no rate that rises with size, no cache or allocator cost that appears at large batches); the
    validation page shows where that fails. The band is the line through each pair of interval ends (T(1)'s
    and T(B)'s), so it widens away from the two measured batches. A line whose T(B) is not above T(1) says so:
    its slope is noise, not a cost per item.
    """
    if not all(v > 0 and math.isfinite(v) for v in (t1_ms, second_ms)):
        raise ValueError(f"T(1) and T({second_batch}) must be positive latencies, got {t1_ms!r} and {second_ms!r}")
    if second_batch <= 1:
        raise ValueError(f"the second batch must be above 1, got {second_batch}")
    sizes = tuple(int(b) for b in batch_sizes)
    if sizes[0] != 1:
        raise ValueError("batch_sizes must start at 1, the measured batch")
    b = np.asarray(sizes, dtype=float)

    def line(t1: float, tb: float) -> np.ndarray:
        return t1 + (tb - t1) * (b - 1) / (second_batch - 1)
    point = line(t1_ms, second_ms)
    ends = np.vstack([line(a, c) for a in (t1_range_ms or (t1_ms,)) for c in (second_range_ms or (second_ms,))])
    slope = (second_ms - t1_ms) / (second_batch - 1)
    prediction = _prediction(sizes, point, ends, host_ms=t1_ms - slope, host_range_ms=(t1_ms - slope,) * 2,
                             work_scale=slope, form=TWO_POINT,
                             inputs={"second_batch": second_batch, "second_ms": second_ms})
    if slope <= 0:
        return replace(prediction, message=f"T({second_batch}) is not above T(1): no cost per item to extrapolate "
                                            f"(the two measurements differ by less than their noise)")
    return prediction


# The point's H, first available. Page 08 scores each source on every stored curve, and sets each beside the window
# of H that would fit the curve (`host_window`): on the 2-core CPU the probe's H falls in it most often.
HOST_PREFERENCE = ("probe", "smallest", "decomposition")


def preferred_host(hosts: dict[str, float]) -> str:
    """The source of H the model uses: the first of HOST_PREFERENCE with a positive estimate (then any other).

    An estimate of 0 is a clipped one: the probe's H is 0 when the probe's rate says batch 1's work alone takes
    longer than T(1), i.e. this model runs its products faster than the probe does (fp16 and bf16 on a CPU), so
    the probe does not describe it and the next estimate is used. Every call of a framework costs something."""
    usable = [k for k in (*HOST_PREFERENCE, *hosts) if hosts.get(k) is not None and math.isfinite(hosts[k])]
    if not usable:
        raise ValueError("no estimate of the host cost")
    return next((k for k in usable if hosts[k] > 0), usable[0])


def predict_from(t1_ms: float, hosts: dict[str, float], work: Work, probe: Probe, source: str | None = None,
                 form: str | None = None, batch_sizes: Sequence[int] = PREDICT_BATCHES, rate: str | None = None
                 ) -> Prediction:
    """`predict` with H from `hosts` (estimates by source): the point from `source` (default: `preferred_host`),
    the band over all of them; the form by the probe's device when not given
    (a GPU overlaps host and device work, a CPU does not), and the rate likewise (`default_rate`)."""
    usable = {k: v for k, v in hosts.items() if v is not None and math.isfinite(v)}
    source = source or preferred_host(usable)
    if source not in usable:
        raise ValueError(f"no {source!r} estimate of the host cost; have {', '.join(sorted(usable))}")
    form = form or (OVERLAP if probe.device.startswith("cuda") else ADDITIVE)
    values = list(usable.values())
    return predict(t1_ms, usable[source], work, probe, (min(values), max(values)), batch_sizes, form,
                   inputs={"host_source": source, "hosts_ms": usable}, rate=rate or default_rate(probe))


def host_from_probe(t1_ms: float, work: Work, probe: Probe) -> float:
    """H = T(1) - the probe's time for batch 1's FLOPs (0 when the probe says the math alone takes longer)."""
    return max(t1_ms - work_ms(work, probe, 1), 0.0)


def host_from_intercept(flops: Sequence[float], latency_ms: Sequence[float]) -> tuple[float, float, float]:
    """(H, low, high): the intercept of a Theil-Sen line of latency against FLOPs over a batch sweep, with the
    interval of the intercept implied by the slope's 95% interval (robust: one disturbed batch does not move
    it). NaN with fewer than three points."""
    x, y = np.asarray(flops, dtype=float), np.asarray(latency_ms, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        return math.nan, math.nan, math.nan
    slope, intercept, lo_slope, hi_slope = scistats.theilslopes(y, x, alpha=0.95)
    ends = [float(np.median(y - s * x)) for s in (lo_slope, hi_slope)]
    return float(intercept), min(ends), max(ends)


# --- validation against stored curves -------------------------------------------------------------

FRESH_RUNS = "tax-fresh"  # results/tax-fresh/<run>/: a study swept with its probes (benchmarks/tax_model_fresh.py)
# What names a curve (a decoder's prefill and decode step are two curves): `ftax.estimates.curve_columns`, on rows
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


def write_sizes_of(stored) -> tuple[tuple[float, int], ...]:
    """A record's `write_sizes` ([[bytes, count], ...]) as `Work.write_sizes`; () where absent or malformed."""
    try:
        return tuple((float(size), int(count)) for size, count in stored)
    except (TypeError, ValueError):
        return ()


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

    `configs` is one row per config (`ftax.estimates.per_config`); `probes` maps (machine_id, device, dtype)
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


def curve_span(rows: pd.DataFrame) -> tuple:
    """(first, last) time a curve's visits were taken (per_config's `first_timestamp`/`last_timestamp`, else each
    row's `timestamp`); None where the rows have none."""
    first = rows["first_timestamp"] if "first_timestamp" in rows else rows.get("timestamp")
    last = rows["last_timestamp"] if "last_timestamp" in rows else rows.get("timestamp")
    stamps = [pd.to_datetime(x, utc=True, errors="coerce") if x is not None else None for x in (first, last)]
    return (None if stamps[0] is None else stamps[0].min(), None if stamps[1] is None else stamps[1].max())


def predicted_inflections(configs: pd.DataFrame, probes: dict[tuple, Probe | Sequence[Probe]],
                          form: str = ADDITIVE) -> pd.DataFrame:
    """Per stored curve, what the model predicts from batch 1 over the curve's own batches: `regime`,
    `inflection_batch` and its interval, with the H it used (`host_source`), to set beside the inflection
    `ftax.analysis.framework_bound_regimes` reads from the measured visits."""
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


def stored_probes(results_dir: str | Path) -> dict[tuple, tuple[Probe, ...]]:
    """Every stored probe per (machine_id, device, dtype) in `results_dir`'s `probes/` store, in stored order."""
    found: dict[tuple, list[Probe]] = {}
    for data in results.iter_side(results_dir, "probes"):
        try:
            found.setdefault((data["machine_id"], data["device"], data["dtype"]), []).append(Probe.from_dict(data))
        except (KeyError, TypeError):
            continue
    return {key: tuple(probes) for key, probes in found.items()}


def probe_for(probes: dict[tuple, Probe | Sequence[Probe]], key: tuple, when=None, until=None) -> Probe | None:
    """The probe of `key` (machine_id, device, dtype) for a curve measured from `when` to `until` (timestamps):
    the probes that bracket that span (the last one taken at or before it, every one within it, the first at or
    after it) averaged (`probe.mean_of`); with `when` alone, or nothing on one side, the one nearest; with no
    time at all, the newest stored.

    A machine's speed drifts (a shared VM's by 2x between days), and the model's H is T(1) minus the probe's time
    for the work: a curve is read with the probes taken around it, not with whichever was taken last. A curve's
    estimate pools rounds spread over its whole sweep, so a probe before it and one after it describe it alike."""
    found = probes.get(key)
    if found is None or isinstance(found, Probe):
        return found
    if not found:
        return None
    timed = sorted((p for p in found if p.timestamp), key=lambda p: _utc(p.timestamp))
    start, end = _utc(when), _utc(until)
    if start is None or not timed:
        return found[-1]
    if end is not None:
        before = [p for p in timed if _utc(p.timestamp) <= start][-1:]
        after = [p for p in timed if _utc(p.timestamp) >= end][:1]
        within = [p for p in timed if start < _utc(p.timestamp) < end]
        if before and after:
            return mean_of([*before, *within, *after])
    return min(timed, key=lambda p: abs(_utc(p.timestamp) - start))


def _utc(when) -> pd.Timestamp | None:
    """`when` as a UTC timestamp (naive ones are taken as UTC), or None where it is missing."""
    if when is None or pd.isna(when):
        return None
    at = pd.Timestamp(when)
    return at.tz_localize("UTC") if at.tzinfo is None else at
