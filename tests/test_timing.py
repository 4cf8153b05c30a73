"""The timing engine on fixed samples and a fake clock: statistics, stopping rules, what is timed."""
from __future__ import annotations

import gc
from fractions import Fraction
from math import comb
from typing import Callable

import numpy as np
import pytest

from ftax.measure.timing import StopRule, Stats, measure, median_ci, summarize

TICK_S = 2.0 ** -10  # ~0.98 ms; a power of two keeps fake-clock sums exact


class FakeClock:
    """A clock that only moves when the timed function says so; logs every sync/clock/call."""

    def __init__(self, duration_s: Callable[[int], float]):
        self.now = 0.0
        self.duration_s = duration_s
        self.calls = 0
        self.syncs = 0
        self.log: list[str] = []
        self.gc_enabled_during_calls: list[bool] = []

    def clock(self) -> float:
        self.log.append("clock")
        return self.now

    def sync(self) -> None:
        self.syncs += 1
        self.log.append("sync")

    def fn(self) -> None:
        self.log.append("call")
        self.gc_enabled_during_calls.append(gc.isenabled())
        self.now += self.duration_s(self.calls)
        self.calls += 1

    def run(self, rule: StopRule):
        return measure(self.fn, rule, sync=self.sync, clock=self.clock)


def _rule(**kw) -> StopRule:
    base = dict(warmup_iters=3, warmup_time_s=0.0, min_iters=10, min_time_s=0.0, target_rel_ci=0.02,
                max_time_s=10.0, pipelined_calls=4, pipelined_rounds=3)
    return StopRule(**{**base, **kw})


def _noisy(seed: int = 0) -> Callable[[int], float]:
    """Log-normal durations (sigma 1.5) around 1 ms: the median's CI never gets within 0.1%."""
    rng = np.random.default_rng(seed)
    draws = TICK_S * rng.lognormal(0.0, 1.5, size=200_000)
    return lambda i: float(draws[i])


# --- statistics --------------------------------------------------------------------------

def _brute_force_ci_indices(n: int, confidence: float) -> tuple[int, int]:
    """1-based (j, n-j+1): the largest j whose order-statistic interval covers the median with
    probability 1 - 2 P(B <= j-1) >= confidence, B ~ Binomial(n, 1/2); j = 1 if none does."""
    best, below = 1, 0
    target = Fraction(confidence).limit_denominator(1000)
    for j in range(1, n // 2 + 2):
        below += comb(n, j - 1)  # now 2^n P(B <= j-1)
        if 1 - 2 * Fraction(below, 2 ** n) >= target:
            best = j
    return best, n - best + 1


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_median_ci_indices_match_the_binomial(confidence):
    for n in list(range(1, 120)) + [200, 333, 1000]:
        samples = list(range(1, n + 1))  # value == 1-based rank, so the CI bounds are the indices
        assert median_ci(samples, confidence) == _brute_force_ci_indices(n, confidence), n


def test_median_ci_known_small_cases():
    assert median_ci([1, 2, 3, 4, 5]) == (1, 5)  # too few samples: the full range
    assert median_ci(list(range(1, 10))) == (2, 8)  # n=9: P(B<=1)=10/512, coverage 0.961
    assert median_ci(list(range(1, 101))) == (40, 61)  # n=100: the textbook j=40
    with pytest.raises(ValueError):
        median_ci([])


def test_median_ci_narrows_with_more_samples():
    widths = [np.subtract(*median_ci(np.sort(np.random.default_rng(1).normal(size=n)))[::-1])
              for n in (20, 200, 2000, 20000)]
    assert all(a > b for a, b in zip(widths, widths[1:]))


@pytest.mark.parametrize("samples", [
    [3.0, 1.0, 2.0, 10.0, 4.0, 5.0, 4.5, 3.3],
    list(np.random.default_rng(0).lognormal(0, 1, size=101)),
    list(np.random.default_rng(1).normal(5, 0.1, size=1000)),
])
def test_summarize_matches_numpy(samples):
    arr = np.asarray(samples)
    stats = summarize(samples)
    assert stats.n == arr.size
    assert stats.median_ms == pytest.approx(np.median(arr))
    assert stats.p90_ms == pytest.approx(np.percentile(arr, 90))
    assert stats.p99_ms == pytest.approx(np.percentile(arr, 99))
    assert stats.mean_ms == pytest.approx(arr.mean())
    assert stats.std_ms == pytest.approx(arr.std(ddof=1))
    assert stats.iqr_ms == pytest.approx(np.percentile(arr, 75) - np.percentile(arr, 25))
    assert (stats.ci_low_ms, stats.ci_high_ms) == median_ci(np.sort(arr))
    assert stats.ci_low_ms <= stats.median_ms <= stats.ci_high_ms
    assert stats.median_ms <= stats.p90_ms <= stats.p99_ms <= arr.max()


def test_summarize_edge_cases():
    one = summarize([2.5])
    assert (one.median_ms, one.std_ms, one.iqr_ms, one.ci_low_ms, one.ci_high_ms, one.n) == (2.5, 0.0, 0.0, 2.5, 2.5, 1)
    constant = summarize([1.0] * 50)
    assert constant.rel_ci_width == 0.0
    assert Stats(0.0, 0, 0, 0, 0, 0, 0, 0, 1).rel_ci_width == float("inf")
    with pytest.raises(ValueError):
        summarize([])
    assert set(constant.to_dict()) == {"median_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "iqr_ms",
                                       "ci_low_ms", "ci_high_ms", "n"}


@pytest.mark.parametrize("kw,says", [({"min_iters": 0}, "min_iters"), ({"min_time_s": 2.0, "max_time_s": 1.0}, "max_time_s"),
                                     ({"target_rel_ci": 0.0}, "target_rel_ci"), ({"target_rel_ci": 1.0}, "target_rel_ci"),
                                     ({"pipelined_calls": 0}, "pipelined_calls")])
def test_stop_rule_rejects_impossible_rules(kw, says):
    with pytest.raises(ValueError, match=says):
        StopRule(**kw)


# --- stopping rules on a fake clock --------------------------------------------------------

def test_constant_samples_stop_at_min_iters():
    fake = FakeClock(lambda i: TICK_S)
    timing = fake.run(_rule(min_iters=25, min_time_s=0.0))
    assert timing.stop_reason == "target_ci" and timing.target_met
    assert timing.stats.n == 25
    assert timing.stats.median_ms == pytest.approx(TICK_S * 1e3)


def test_constant_samples_stop_at_min_time():
    fake = FakeClock(lambda i: TICK_S)
    timing = fake.run(_rule(min_iters=10, min_time_s=50 * TICK_S))
    assert timing.stop_reason == "target_ci" and timing.target_met
    assert timing.stats.n == 50
    assert timing.total_time_s == pytest.approx(50 * TICK_S)


def test_noisy_samples_run_to_max_time_and_say_so():
    fake = FakeClock(_noisy())
    rule = _rule(min_iters=10, min_time_s=0.05, max_time_s=0.3, target_rel_ci=0.001)
    timing = fake.run(rule)
    assert timing.stop_reason == "max_time"
    assert timing.target_met is False
    assert timing.stats.rel_ci_width > rule.target_rel_ci
    assert timing.total_time_s >= rule.max_time_s
    assert timing.total_time_s - max(timing.samples_ms) / 1e3 < rule.max_time_s  # stopped at the first chance


def test_max_time_never_stops_before_min_iters():
    fake = FakeClock(_noisy(seed=3))
    rule = _rule(min_iters=40, min_time_s=0.001, max_time_s=0.002, target_rel_ci=0.001)
    timing = fake.run(rule)
    assert timing.stop_reason == "max_time" and timing.stats.n == 40


def test_max_iters_caps_the_samples():
    fake = FakeClock(_noisy(seed=4))
    timing = fake.run(_rule(min_iters=10, max_iters=15, target_rel_ci=0.001))
    assert timing.stop_reason == "max_iters" and timing.stats.n == 15 and not timing.target_met


# --- what is and is not timed ---------------------------------------------------------

def test_sync_brackets_every_timed_call():
    fake = FakeClock(lambda i: TICK_S)
    rule = _rule(min_iters=12)
    timing = fake.run(rule)
    timed_calls = timing.warmup_iters + timing.stats.n
    assert fake.syncs == 2 * timed_calls + 2 * rule.pipelined_rounds
    assert fake.calls == timed_calls + rule.pipelined_rounds * rule.pipelined_calls
    # Reading the clock right after a call, without a sync in between, would time a lagging device wrong.
    log = fake.log
    for i, event in enumerate(log):
        if event == "call":
            assert log[i + 1] in ("call", "sync"), log[max(0, i - 3):i + 3]
            if log[i - 1] != "call":
                assert log[i - 2:i] == ["sync", "clock"], log[max(0, i - 3):i + 3]


def test_warmup_is_not_in_the_samples_and_first_call_is_reported():
    cold_s, warm_s = 0.5, 7 * TICK_S
    rule = _rule(warmup_iters=4, min_iters=20)
    fake = FakeClock(lambda i: cold_s if i == 0 else warm_s if i < rule.warmup_iters else TICK_S)
    timing = fake.run(rule)
    assert timing.first_timed_call_ms == pytest.approx(cold_s * 1e3)
    assert timing.warmup_iters == rule.warmup_iters
    assert len(timing.samples_ms) == timing.stats.n == 20
    assert all(s == pytest.approx(TICK_S * 1e3) for s in timing.samples_ms)
    assert timing.pipelined_ms == pytest.approx(TICK_S * 1e3)


def test_warmup_runs_for_its_minimum_time():
    rule = _rule(warmup_iters=2, warmup_time_s=20 * TICK_S)
    fake = FakeClock(lambda i: TICK_S)
    timing = fake.run(rule)
    assert timing.warmup_iters >= 20
    assert fake.calls - timing.warmup_iters - timing.stats.n == rule.pipelined_rounds * rule.pipelined_calls


def test_warmup_starts_no_call_past_its_budget_and_a_slow_call_is_warmed_once():
    slow = FakeClock(lambda i: 0.5)
    assert slow.run(_rule(warmup_iters=3, warmup_max_s=0.4, min_iters=3)).warmup_iters == 1
    fast = FakeClock(lambda i: TICK_S)
    assert fast.run(_rule(warmup_iters=3, warmup_max_s=0.4)).warmup_iters == 3


def test_pipelined_time_is_per_call():
    fake = FakeClock(lambda i: 3 * TICK_S)
    timing = fake.run(_rule())
    assert timing.pipelined_ms == pytest.approx(3 * TICK_S * 1e3)


def test_gc_is_off_while_timing_and_restored_after():
    assert gc.isenabled()
    fake = FakeClock(lambda i: TICK_S)
    fake.run(_rule())
    assert fake.gc_enabled_during_calls and not any(fake.gc_enabled_during_calls)
    assert gc.isenabled()


def test_gc_state_is_restored_after_an_error_and_when_it_was_off():
    def boom() -> None:
        raise RuntimeError("forward failed")

    with pytest.raises(RuntimeError):
        measure(boom, _rule())
    assert gc.isenabled()
    gc.disable()
    try:
        FakeClock(lambda i: TICK_S).run(_rule())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_real_clock_gives_positive_samples():
    """With the real clock and no sync, samples are positive and the first call is reported separately."""
    timing = measure(lambda: sum(range(200)), _rule(min_iters=20, max_time_s=0.5))
    assert timing.stats.n >= 20 and min(timing.samples_ms) > 0 and timing.first_timed_call_ms > 0
    assert timing.stats.ci_low_ms <= timing.stats.median_ms <= timing.stats.ci_high_ms


def test_stop_rule_refuses_max_iters_below_min_iters():
    from ftax.measure.timing import StopRule

    with pytest.raises(ValueError, match="max_iters"):
        StopRule(min_iters=10, max_iters=5)


# --- alternating blocks of compared callables ----------------------------------------------

def test_alternating_blocks_share_the_drift_and_drop_each_blocks_first_call():
    """Two callables on one fake machine whose speed halves midway: alternating blocks put both under both
    states, so their ratio is the true one (2x), while measuring one after the other would not be."""
    from ftax.measure.timing import measure_alternating

    now, log = [0.0], []

    def clock() -> float:
        return now[0]

    def slowdown() -> float:
        return 1.0 if now[0] < 0.2 else 2.0  # the machine state changes at 0.2 s

    def make(name: str, cost_ticks: int):
        def fn() -> None:
            log.append(name)
            now[0] += cost_ticks * TICK_S * slowdown()
        return fn

    rule = _rule(min_iters=5, min_time_s=0.3, max_time_s=0.3, target_rel_ci=0.001, block_s=8 * TICK_S,
                 pipelined_rounds=1, pipelined_calls=1)
    fast, slow = measure_alternating([make("a", 1), make("b", 2)], rule, clock=clock)
    assert fast.total_time_s >= 0.3 and slow.total_time_s >= 0.3  # both sides ran through the change of state
    ratio = slow.stats.median_ms / fast.stats.median_ms
    assert ratio == pytest.approx(2.0, rel=0.05)
    timed = log[2 * rule.warmup_iters:]  # after both warm-ups
    runs = [name for i, name in enumerate(timed) if i == 0 or timed[i - 1] != name]
    assert len(runs) > 10  # blocks alternate many times (a cycle's first callable rotates: b's blocks may touch)
    # every block's first call is dropped: fewer samples than calls
    assert fast.stats.n < timed.count("a") and slow.stats.n < timed.count("b")


def test_alternating_one_callable_is_plain_measure():
    from ftax.measure.timing import measure_alternating

    clock = FakeClock(lambda i: TICK_S)
    [alone] = measure_alternating([clock.fn], _rule(max_time_s=0.05), sync=clock.sync, clock=clock.clock)
    again = FakeClock(lambda i: TICK_S).run(_rule(max_time_s=0.05))
    assert alone.stats == again.stats and alone.stop_reason == again.stop_reason
