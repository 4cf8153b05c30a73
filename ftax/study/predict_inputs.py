"""What `ftax predict` measures: the machine's throughput probe (once, then stored) and two visits of one config.

1. The probe (`ftax.measure.probe`): stored under `<results>/probes/<machine_id>.jsonl` per device, dtype, torch
   threads and software, and reused while those match and it is under an hour old (a new torch version or
   thread count, or a probe from another hour, measures anew: a VM's speed drifts, and H moves with it); every
   such probe of the last hour is averaged (`probe.mean_of`), as page 08 averages those around a curve.
2. The config at batch 1 with the profiler's decomposition, its FLOPs and bytes written, plus the same counts
   at batch 2 (counted, not timed), which give them per item; with `--second-batch B`, batch B too, timed in
   alternation with batch 1 (the two-point form's second measurement).
3. The same prepared model at its smallest shape (batch 1, shortest sequence or image it accepts): its
   latency is the host cost with almost no work, an estimate of H that needs no profiler.

The two visits are not stored with the records: they are a prediction's inputs, kept in the prediction's
own record (`<results>/predictions/`), so they never become a series on the case-study pages.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ftax.measure import counting, measure_lock, probe
from ftax.store.env import default_threads
from ftax.store.errors import InvalidConfigError
from ftax.study.probe_store import ensure_probe, recent_probes
from ftax.sweep.profiles import RULES
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions, ModelCache, check, measure_compared, measure_config
from ftax.measure.timing import StopRule

PREDICTIONS = "predictions"
PROBE_FRESH_S = 3600.0  # an older stored probe is measured anew: the machine's speed drifts (`probe_store.ensure_probe`)


@dataclass(frozen=True)
class Inputs:
    """A prediction's measured inputs: the batch-1 visit (with decomposition), the smallest-shape visit, FLOPs
    at batch 2, the probe, and the second batch's visit when one was asked for (timed together with batch 1)."""

    config: MeasureConfig
    batch1: Record
    smallest: Record
    flops_batch2: float | None
    probe: probe.Probe
    probe_reused: bool
    second: Record | None = None
    counts_batch2: counting.OpCounts | None = None  # GEMM calls, writes and bytes written at batch 2
    probe_times: tuple[str | None, ...] = ()  # when each probe averaged into `probe` was taken


@measure_lock.holding  # one measuring process per machine; the stored probe is read once it is held
def measure_inputs(config: MeasureConfig, out_dir: str | Path = "results", rule: StopRule | None = None,
                   second_batch: int | None = None) -> Inputs:
    """Measure what a prediction of `config`'s batch curve needs (module docstring). `config.batch_size` is
    ignored: the one-measurement model sees batch 1 only; with `second_batch`, that batch is timed too, in
    alternation with batch 1 (`runner.measure_compared`), for the two-point form. Raises InvalidConfigError for
    a size the model cannot take or a backend this machine cannot run, as `ftax measure` does."""
    checked = check(replace(config, batch_size=1))
    if checked.problem:
        raise InvalidConfigError(checked.problem)
    config = checked.config
    second = None
    if second_batch is not None:
        second = check(replace(config, batch_size=second_batch))
        if second_batch <= 1 or second.problem:
            raise InvalidConfigError(second.problem or f"--second-batch must be above 1, got {second_batch}")
    rule = rule or RULES["quick"]
    options = MeasureOptions(rule=rule, threads=default_threads(), decompose=True)
    cache = ModelCache()
    batch1, *rest = measure_compared([checked, *([second] if second else [])], options, cache)
    for visit in (batch1, *rest):
        if visit.status != "ok":
            raise InvalidConfigError(f"{visit.config.label()} could not be measured: {visit.status}: {visit.message}")
    model = cache.get(checked)
    inputs2 = model.inputs(2, config.seq_len)
    flops_batch2 = counting.count_flops(model.module, inputs2)
    counts_batch2 = counting.count_ops(model.module, inputs2)
    smallest = measure_config(replace(config, seq_len=checked.spec.min_seq_len),
                              replace(options, decompose=False, count_flops=False), cache)
    found, reused = ensure_probe(out_dir, config.device, config.dtype, max_age_s=PROBE_FRESH_S)
    recent = recent_probes(out_dir, config.device, config.dtype, found.threads, PROBE_FRESH_S) or [found]
    return Inputs(config=config, batch1=batch1, smallest=smallest, flops_batch2=flops_batch2,
                  probe=probe.mean_of(recent), probe_reused=reused, second=rest[0] if rest else None,
                  counts_batch2=counts_batch2, probe_times=tuple(p.timestamp for p in recent))
