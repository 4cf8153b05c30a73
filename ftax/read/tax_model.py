"""A model of the tax: a config's latency curve over batch size from one batch-1 measurement.

latency(b) = host + work(b), where
- host (H, ms) is the fixed per-call cost of the framework: Python, dispatch, allocation, launches;
- work(b) (ms) is the arithmetic at the machine's achieved rate: FLOPs(b) / rate(FLOPs / calls),
  with `calls` the number of ops that do the FLOPs (matrix products, convolutions, attention) and
  rate(size) the GEMM rate a `ftax.measure.probe.Probe` measured at that work per call: at each batch's size
  (`BY_SIZE`: small products run far below peak, so doubling the batch less than doubles the time of
  the math) or at batch 1's for every batch (`HELD`: the work grows as the FLOPs, what the CPU's
  curves show; `default_rate`), plus the bytes its ops write at the probe's write rate for that many
  bytes per write (`write_ms`: outputs that outgrow what the allocator keeps are written far slower).

On a CPU the host and the math run on the same cores one after the other: latency = H + work
(`ADDITIVE`). On a GPU the host queues kernels while earlier ones run: latency ~ max(H, work)
(`OVERLAP`), plus launch and sync terms that H absorbs. Which one a machine follows is a question
for its data (page 08 scores both forms on every stored curve), not an assumption.

H can come from four places, kept apart because they fail differently:
- `decomposition`: the profiler's overhead at batch 1 (`ftax.measure.decompose`); on a CPU its busy time is
  a list of aten ops, so work it does not list counts as host;
- `intercept`: the latency at zero FLOPs of a robust line through a measured batch sweep (needs a curve);
- `smallest`: the latency at the smallest shape the model takes (batch 1, shortest sequence), where
  the work is nearly nothing (needs a second measurement, no profiler);
- `probe`: T(1) minus the probe's time for batch 1's FLOPs (needs nothing but the probe, and is only
  as good as the probe's rate is for this model's ops).

With a second measurement the model needs no estimate at all: `two_point` draws the line through T(1) and
T(B), whose intercept is H and whose slope is the cost per item (`ftax.read.tax_model_validation.host_window` says how
close to that H a one-measurement estimate must come).

Pure functions: nothing here measures, and nothing here reads the store. `ftax predict` (ftax.cli) measures the
inputs and calls `predict_from` (and `two_point` with `--second-batch`); `ftax.read.tax_model_validation` scores the model
on every stored curve, each read with the probes stored around it (`ftax.read.curve_probes`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from scipy import stats as scistats

from ftax.read.analysis import FLAT, FLAT_MAX_RATIO, FLAT_PROBE_BATCH, NO_REGIME, NOT_FLAT, UNTESTED, first_past_flat
from ftax.measure.probe import Probe

ADDITIVE, OVERLAP = "additive", "overlap"
HOST_SOURCES = ("decomposition", "intercept", "smallest", "probe")
PREDICT_BATCHES = tuple(2 ** k for k in range(10))  # 1..512, the paper's batch range


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


def write_sizes_of(stored) -> tuple[tuple[float, int], ...]:
    """A record's `write_sizes` ([[bytes, count], ...]) as `Work.write_sizes`; () where absent or malformed."""
    try:
        return tuple((float(size), int(count)) for size, count in stored)
    except (TypeError, ValueError):
        return ()


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
    that rate falls off a cliff where outputs outgrow what the allocator keeps (`ftax.measure.probe._write_ladder`),
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
    and where it leaves the flat regime, by `ftax.read.analysis`'s one rule (T(b)/T(1) > FLAT_MAX_RATIO)."""

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
    rule (`ftax.read.analysis`) on the predicted T(b)/T(1): flat when T(4)/T(1) <= FLAT_MAX_RATIO, and the
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

