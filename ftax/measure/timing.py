"""The measurement: warm-up, synchronized per-call latency samples, adaptive stopping, statistics.

What is timed: one call of `fn`, bracketed by `sync()` on both sides so that a device
that lags the host (CUDA) has finished before the clock is read. Every sample is kept.
What is not timed: the warm-up (its first call is reported separately), the stopping
checks between samples, and garbage collection (disabled while timing).

Pipelined time is also reported: `k` calls back to back with one sync at the end,
divided by `k` -- what `torch.utils.benchmark` and the paper's numbers measure, where
host work of call i+1 overlaps device work of call i.

This module knows nothing of models or torch; the caller passes `sync` and may pass a
fake `clock` (tests inject both).
"""
from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from time import perf_counter
from typing import Callable, Sequence

import numpy as np
from scipy import stats as scistats

Clock = Callable[[], float]


def _no_sync() -> None:
    return None


@dataclass(frozen=True)
class StopRule:
    """When to stop sampling: at least `min_iters` and `min_time_s`, then until the 95% CI of
    the median is narrower than `target_rel_ci` x median, or `max_time_s` (or `max_iters`) is hit.

    Warm-up runs `warmup_iters` calls and `warmup_time_s`, but starts no call after `warmup_max_s` (at
    least one call) so that a one-second forward does not spend minutes warming up. Pipelined
    time uses `pipelined_rounds` rounds of up to `pipelined_calls` calls, fewer when the rounds
    would take longer than `pipelined_max_s` (never fewer than one call a round).
    """

    warmup_iters: int = 5
    warmup_time_s: float = 0.1
    warmup_max_s: float = 2.0
    min_iters: int = 10
    min_time_s: float = 0.2
    target_rel_ci: float = 0.02
    max_time_s: float = 5.0
    max_iters: int = 100_000
    pipelined_calls: int = 10
    pipelined_rounds: int = 5
    pipelined_max_s: float = 1.0
    block_s: float = 0.03  # alternating blocks of compared callables (measure_alternating)
    name: str = "custom"  # the profile it belongs to: visits under different rules are never pooled

    def share(self, visits: int) -> "StopRule":
        """The rule for one of `visits` visits of a config: the same precision target, 1/visits of the
        time limits (sampling, warm-up and pipelined), of the minimum calls (at least 3), of the warm-up
        calls and of the pipelined rounds (at least 1 each), so a sweep in rounds takes about as long as
        one visit under this rule: a slow config's floors of calls, not its time limits, are what rounds
        would otherwise multiply. Its name says so (`quick/3`): visits of different budgets are never
        pooled into one estimate."""
        if visits <= 1:
            return self
        def ceil_share(n: int, floor: int) -> int:
            return max(floor, -(-n // visits))
        return replace(self, min_time_s=self.min_time_s / visits, max_time_s=self.max_time_s / visits,
                       min_iters=ceil_share(self.min_iters, 3), warmup_iters=ceil_share(self.warmup_iters, 1),
                       warmup_time_s=self.warmup_time_s / visits, warmup_max_s=self.warmup_max_s / visits,
                       pipelined_rounds=ceil_share(self.pipelined_rounds, 1),
                       pipelined_max_s=self.pipelined_max_s / visits, name=f"{self.name}/{visits}")

    def __post_init__(self) -> None:
        if self.min_iters < 1 or self.pipelined_calls < 1 or self.pipelined_rounds < 1:
            raise ValueError("min_iters, pipelined_calls and pipelined_rounds must be >= 1")
        if self.max_iters < self.min_iters:
            raise ValueError(f"max_iters ({self.max_iters}) is below min_iters ({self.min_iters})")
        if self.max_time_s < self.min_time_s:
            raise ValueError(f"max_time_s ({self.max_time_s}) is below min_time_s ({self.min_time_s})")
        if not 0 < self.target_rel_ci < 1:
            raise ValueError(f"target_rel_ci must be in (0, 1), got {self.target_rel_ci}")


@dataclass(frozen=True)
class Stats:
    """Robust summary of latency samples, in milliseconds. The CI is that of the median."""

    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    iqr_ms: float
    ci_low_ms: float
    ci_high_ms: float
    n: int

    @property
    def rel_ci_width(self) -> float:
        return (self.ci_high_ms - self.ci_low_ms) / self.median_ms if self.median_ms > 0 else math.inf

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Timing:
    """Everything one measurement produced; samples are all kept."""

    stats: Stats
    samples_ms: list[float] = field(repr=False)
    first_timed_call_ms: float  # the loop's first call, before its warm-up (not the cold call after building)
    warmup_iters: int
    pipelined_ms: float
    total_time_s: float
    target_met: bool
    stop_reason: str


def median_ci(sorted_samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (binomial, coverage >= confidence).

    For x_(1) <= ... <= x_(n), [x_(j), x_(n-j+1)] covers the median with probability
    1 - 2 P(B <= j-1), B ~ Binomial(n, 1/2); j is the largest index keeping that >= confidence.
    With too few samples for any such j, the CI is the full range.
    """
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("no samples")
    j = int(scistats.binom.ppf((1 - confidence) / 2, n, 0.5))
    j = max(j, 1)
    return float(sorted_samples[j - 1]), float(sorted_samples[n - j])


def summarize(samples_ms: Sequence[float]) -> Stats:
    """Median, tail percentiles, mean/std, IQR and the median's 95% CI of `samples_ms`."""
    arr = np.sort(np.asarray(samples_ms, dtype=float))
    if arr.size == 0:
        raise ValueError("no samples to summarize")
    q25, q50, q75, q90, q99 = np.percentile(arr, [25, 50, 75, 90, 99])
    ci_low, ci_high = median_ci(arr)
    return Stats(median_ms=float(q50), p90_ms=float(q90), p99_ms=float(q99), mean_ms=float(arr.mean()),
                 std_ms=float(arr.std(ddof=1)) if arr.size > 1 else 0.0, iqr_ms=float(q75 - q25),
                 ci_low_ms=ci_low, ci_high_ms=ci_high, n=int(arr.size))


def timed_call(fn: Callable[[], object], sync: Callable[[], None] = _no_sync, clock: Clock = perf_counter) -> float:
    """Seconds for one synchronized call: sync, read clock, call, sync, read clock.

    The one timed step of ftax: the samples here, a backend's cold first call and the unprofiled
    calls of the decomposition all go through it, with `sync` from `ftax.measure.devices.sync_for`.
    """
    sync()
    start = clock()
    fn()
    sync()
    return clock() - start


def timed_call_ms(fn: Callable[[], object], sync: Callable[[], None] = _no_sync, clock: Clock = perf_counter) -> float:
    """`timed_call` in milliseconds: a single timed call outside the sampling loop (a backend's cold call,
    the decomposition's unprofiled calls)."""
    return timed_call(fn, sync, clock) * 1e3


def _check_every(n: int) -> int:
    """Stopping checks sort the samples: check less often as n grows (amortized O(log n))."""
    return max(1, n // 10)


def _pipelined_calls(rule: StopRule, median_s: float) -> int:
    """Calls per pipelined round: `pipelined_calls`, fewer if the rounds would exceed their budget."""
    if median_s <= 0:
        return rule.pipelined_calls
    affordable = int(rule.pipelined_max_s / (median_s * rule.pipelined_rounds))
    return max(1, min(rule.pipelined_calls, affordable))


def _warm_up(fn: Callable[[], object], rule: StopRule, sync: Callable[[], None], clock: Clock) -> tuple[float, int]:
    """(seconds of the first call, calls made): `warmup_iters` calls and `warmup_time_s`, but no call starts
    after `warmup_max_s`. The first call counts toward both times, so a call slower than the warm-up budget
    is warmed once: the caller's cold call (ftax.run.backends' prepare) already ran before it."""
    warm_start = clock()
    first_call_s = timed_call(fn, sync, clock)
    warm_n = 1
    while (warm_n < rule.warmup_iters or clock() - warm_start < rule.warmup_time_s) \
            and clock() - warm_start < rule.warmup_max_s:
        timed_call(fn, sync, clock)
        warm_n += 1
    return first_call_s, warm_n


def _pipelined_ms(fn: Callable[[], object], rule: StopRule, median_s: float, sync: Callable[[], None],
                  clock: Clock) -> float:
    """Median over `pipelined_rounds` of the per-call time of calls back to back with one sync (ms)."""
    calls = _pipelined_calls(rule, median_s)
    rounds_ms = []
    for _ in range(rule.pipelined_rounds):
        sync()
        t0 = clock()
        for _ in range(calls):
            fn()
        sync()
        rounds_ms.append((clock() - t0) * 1e3 / calls)
    return float(np.median(rounds_ms))


def _timing(samples_s: list[float], rule: StopRule, first_call_s: float, warm_n: int, pipelined_ms: float,
            total_s: float, stop_reason: str) -> Timing:
    samples_ms = [x * 1e3 for x in samples_s]
    stats = summarize(samples_ms)
    return Timing(stats=stats, samples_ms=samples_ms, first_timed_call_ms=first_call_s * 1e3, warmup_iters=warm_n,
                  pipelined_ms=pipelined_ms, total_time_s=total_s,
                  target_met=stop_reason == "target_ci" or stats.rel_ci_width <= rule.target_rel_ci,
                  stop_reason=stop_reason)


@contextmanager
def _gc_off():
    """GC disabled (after one collection) for the duration: a collection inside a timed call is not the call.

    The collection before is of the young generations only: the garbage a visit leaves behind is young, while a
    full collection with torch and transformers loaded walks every object they hold (0.4 s each on the 2-core
    EPYC, 12% of a sweep's wall time when every timed shape paid it). The full collection happens where a sweep
    drops a model (`runner.free_memory`)."""
    gc.collect(1)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def measure(fn: Callable[[], object], rule: StopRule = StopRule(), sync: Callable[[], None] = _no_sync,
            clock: Clock = perf_counter) -> Timing:
    """Time `fn` under `rule`: warm-up, adaptive per-call samples, then pipelined rounds."""
    with _gc_off():
        first_call_s, warm_n = _warm_up(fn, rule, sync, clock)
        samples_s: list[float] = []
        start = clock()
        next_check = rule.min_iters
        stop_reason = "max_iters"
        while len(samples_s) < rule.max_iters:
            samples_s.append(timed_call(fn, sync, clock))
            n = len(samples_s)
            elapsed = clock() - start
            if n >= next_check and elapsed >= rule.min_time_s:
                if summarize(samples_s).rel_ci_width <= rule.target_rel_ci:
                    stop_reason = "target_ci"
                    break
                next_check = n + _check_every(n)
            if elapsed >= rule.max_time_s and n >= rule.min_iters:
                stop_reason = "max_time"
                break
        total_s = clock() - start
        pipelined = _pipelined_ms(fn, rule, float(np.median(samples_s)), sync, clock)
    return _timing(samples_s, rule, first_call_s, warm_n, pipelined, total_s, stop_reason)


def measure_alternating(fns: Sequence[Callable[[], object]], rule: StopRule = StopRule(),
                        sync: Callable[[], None] = _no_sync, clock: Clock = perf_counter) -> list[Timing]:
    """Time several callables that a page compares, alternating short blocks of each: one Timing per callable.

    Why: a shared machine drifts (+-20% between one-second blocks), so two configs measured one after
    the other can see different machines, and their ratio carries that drift. Alternating blocks of
    `rule.block_s` puts both sides of a comparison under the same drift; the first call of each block
    is dropped, because it pays for the other callable having evicted the caches (call-by-call
    alternation shifted a fast runtime's latency by 30% for that reason; benchmarks/interleave_granularity.py
    measures the three granularities). Each callable gets the rule as if alone: warm-up first, then
    samples until all have `min_iters` and `min_time_s` and either every CI meets the target or each
    has spent `max_time_s` (its stop reason says which). Pipelined time is taken per callable at the end.
    """
    fns = list(fns)
    if len(fns) == 1:
        return [measure(fns[0], rule, sync, clock)]
    with _gc_off():
        warm = [_warm_up(fn, rule, sync, clock) for fn in fns]
        samples: list[list[float]] = [[] for _ in fns]
        spent = [0.0] * len(fns)
        done = [""] * len(fns)  # stop reason, once a callable stops
        cycle = 0
        while not all(done):
            for offset in range(len(fns)):
                i = (cycle + offset) % len(fns)  # the first callable of a cycle rotates
                if done[i]:
                    continue
                timed_call(fns[i], sync, clock)  # dropped: it runs on the caches the other callable left
                block_start = clock()
                while True:
                    samples[i].append(timed_call(fns[i], sync, clock))
                    if clock() - block_start >= rule.block_s or len(samples[i]) >= rule.max_iters:
                        break
                spent[i] += clock() - block_start
                n = len(samples[i])
                if n >= rule.min_iters and spent[i] >= rule.min_time_s \
                        and summarize(samples[i]).rel_ci_width <= rule.target_rel_ci:
                    done[i] = "target_ci"
                elif n >= rule.min_iters and spent[i] >= rule.max_time_s:
                    done[i] = "max_time"
                elif n >= rule.max_iters:
                    done[i] = "max_iters"
            cycle += 1
        pipelined = [_pipelined_ms(fn, rule, float(np.median(x)), sync, clock) for fn, x in zip(fns, samples)]
    return [_timing(x, rule, first, warm_n, pipe, total, reason)
            for x, (first, warm_n), pipe, total, reason in zip(samples, warm, pipelined, spent, done)]
