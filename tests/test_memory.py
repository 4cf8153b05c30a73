"""Memory and energy (ftax.measure.memory): the peak above the baseline on CPU for a model whose activation size is
known, the weights each backend holds, energy from a fake counter (wrap, too short), and the records."""
from __future__ import annotations

import sys

import pytest
import torch

from ftax.measure import memory
from ftax.run import backends, models
from ftax.store import dataframe, jsonl
from ftax.sweep.profiles import RULES
from ftax.store.schema import MeasureConfig
from ftax.run.runner import MeasureOptions, measure_config

LINUX = sys.platform.startswith("linux") and memory.CLEAR_REFS.exists()


@pytest.mark.skipif(not LINUX, reason="needs /proc/self/clear_refs (Linux)")
def test_cpu_peak_sees_an_allocation_of_known_size():
    size = 64 * 2 ** 20  # 64 MiB, written so its pages are resident
    baseline = memory.Baseline("cpu")
    block = torch.ones(size // 4, dtype=torch.float32)
    found = baseline.peak()
    del block
    assert found["method"] == "rss-hwm" and found["peak_bytes"] >= 0.9 * size


def test_weights_are_counted_from_what_each_backend_holds(tmp_path):
    spec = models.get_spec("bert-tiny")
    model = models.build_validated(spec, {}, torch.float32, "cpu")
    inputs = model.inputs(1, 8)
    params = sum(p.numel() for p in model.module.parameters()) * 4
    for name in ("eager", "torchscript", "onnxruntime"):
        prepared = backends.prepare(name, model, inputs, cache_dir=tmp_path)
        weights = prepared.count_weights()
        assert abs(weights / params - 1) <= 0.05, (name, weights, params)
    shared = torch.nn.Linear(4, 4)
    tied = torch.nn.Sequential(shared, shared)
    assert memory.module_weights_bytes(tied) == (16 + 4) * 4  # a tied weight counts once


class FakeCounter:
    """A cumulative energy counter stepping `watts` joules per second of the fake clock."""

    def __init__(self, clock, watts: float = 100.0, wrap_at: float | None = None):
        self.clock, self.watts, self.wrap_at = clock, watts, wrap_at

    def joules(self) -> float:
        value = self.watts * self.clock.now
        return value % self.wrap_at if self.wrap_at else value


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_energy_window_turns_counter_readings_into_joules_per_inference():
    clock = Clock()

    def call():
        clock.now += 0.01  # 10 ms per inference

    energy = memory.energy_window(call, lambda: None, FakeCounter(clock, watts=100.0), "fake", clock=clock)
    assert energy.status == "ok" and energy.calls >= 50
    assert energy.joules_per_inference == pytest.approx(1.0)  # 100 W x 10 ms
    assert energy.mean_watts == pytest.approx(100.0)


def test_energy_window_says_so_when_the_counter_wraps_or_the_window_is_too_short():
    clock = Clock()

    def call():
        clock.now += 0.01

    clock.now = 0.25  # the counter reads 25 J and wraps at 30 J during the window
    wrapped = memory.energy_window(call, lambda: None, FakeCounter(clock, watts=100.0, wrap_at=30.0), "fake",
                                   clock=clock)
    assert wrapped.status == "counter-wrapped" and wrapped.joules_per_inference is None and wrapped.reason
    short = memory.energy_window(call, lambda: None, FakeCounter(clock), "fake", min_window_s=0.0, clock=clock)
    assert short.status == "too-short" and "resolution" in short.reason


def test_records_carry_memory_and_energy_and_rounds_after_the_first_do_not(tmp_path):
    config = MeasureConfig("synthetic-linear", "eager", "fp32", "cpu", 4, 8, (("depth", 2), ("width", 64)))
    record = measure_config(config, MeasureOptions(rule=RULES["smoke"], count_flops=False))
    assert record.status == "ok"
    assert record.memory["weights_bytes"] > 0 and record.memory["method"] in ("rss-hwm", "unavailable")
    source, reason = memory.energy_source("cpu")
    assert record.energy["status"] == ("unavailable" if source is None else record.energy["status"])
    if source is None:
        assert record.energy["reason"] == reason and record.energy["joules_per_inference"] is None
    path = tmp_path / "r.jsonl"
    jsonl.append(path, record)
    frame = dataframe.load(path)
    assert "memory_weights_bytes" in frame and "energy_status" in frame
    quiet = measure_config(config, MeasureOptions(rule=RULES["smoke"], count_flops=False, resources=False))
    assert quiet.memory is None and quiet.energy is None
