"""What a machine can do without a framework in the way: GEMM throughput by size, write and read rates by size.

The model of the tax (`ftax.read.tax_model`) splits a config's latency into a fixed host cost and work
done at the machine's achieved rate. That rate is not one number: a small matrix product runs far
below peak (too little work to fill the cores or hide memory latency), a large one near it. So the
probe times square GEMMs over a ladder of sizes, from a few thousand FLOPs to where the rate levels
off, one large copy for bandwidth, a write ladder (fresh outputs by size) and a read ladder (a reduction over a
kept buffer by size: what a decode step's weights stream at, once they outgrow the last-level cache). Each point is one `torch.mm` (or a copy) timed by
`ftax.measure.timing.measure` under a short rule: a few seconds per machine and dtype, measured once and
stored (`ftax.store.jsonl.append_side`), then reused by every prediction on that machine.

What it assumes: the model's heavy ops behave like square GEMMs of the same FLOP count. Tall-skinny
products (tokens x hidden) and attention's batched products are not square, so the curve indexes
efficiency by work per call, not by shape; the validation page shows how far that carries.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
import torch

from ftax.measure.devices import resolve_device, sync_for
from ftax.measure.timing import StopRule, measure

PROBE_VERSION = 3  # bump when what the probe measures changes: stored probes of another version are not reused
# 2: the write ladder (`write_bytes`, `write_gbs`): how fast fresh outputs of elementwise ops are written, by size.
# 3: the read ladder (`read_bytes`, `read_gbs`): how fast a kept buffer is read (summed), by size.
PROBE_RULE = StopRule(name="probe", warmup_iters=2, warmup_time_s=0.02, warmup_max_s=0.3, min_iters=5,
                      min_time_s=0.05, max_time_s=0.3, target_rel_ci=0.05, pipelined_calls=1, pipelined_rounds=1,
                      pipelined_max_s=0.01)
LEVEL_OFF = 1.05  # stop climbing the ladder once doubling n gains less than 5% in rate, twice in a row
MAX_CALL_S = 0.15  # ... or once one product takes this long (fp16 on a CPU crawls: the top of the ladder would take minutes)


@dataclass(frozen=True)
class Probe:
    """A machine's achieved GEMM rate by size (`gemm_flops[i]` FLOPs per call ran at `gemm_gflops[i]`
    GFLOP/s) and its copy bandwidth (GB/s, bytes read plus written), for one device and dtype."""

    device: str
    dtype: str
    gemm_n: tuple[int, ...]
    gemm_flops: tuple[float, ...]
    gemm_gflops: tuple[float, ...]
    bandwidth_gbs: float
    threads: int
    version: int = PROBE_VERSION
    timestamp: str | None = None  # when it was measured (UTC, ISO 8601): a model pairs a curve with the probe nearest it
    write_bytes: tuple[float, ...] = ()  # bytes of one fresh output, and the GB/s it was written at (version 2 on)
    write_gbs: tuple[float, ...] = ()
    read_bytes: tuple[float, ...] = ()  # bytes of one buffer read whole, and the GB/s it was read at (version 3 on)
    read_gbs: tuple[float, ...] = ()

    def gflops_at(self, flops_per_call: float) -> float:
        """Achieved GFLOP/s for a GEMM of `flops_per_call` FLOPs: log-log interpolation between probe points,
        the end points' rates beyond them (a rate never rises past the largest measured, nor falls below the
        smallest)."""
        x = np.log(np.asarray(self.gemm_flops, dtype=float))
        y = np.log(np.asarray(self.gemm_gflops, dtype=float))
        return float(math.exp(np.interp(math.log(max(flops_per_call, 1.0)), x, y)))

    def write_gbs_at(self, bytes_per_write: float) -> float | None:
        """Achieved GB/s writing fresh outputs of `bytes_per_write` bytes each, interpolated as `gflops_at` does;
        None for a probe without the write ladder (version 1)."""
        return _interpolated(self.write_bytes, self.write_gbs, bytes_per_write)

    def read_gbs_at(self, bytes_read: float) -> float | None:
        """Achieved GB/s reading a kept working set of `bytes_read` bytes again and again, interpolated as
        `gflops_at` does: a set that fits the last-level cache reads at the cache's rate, a larger one at memory's;
        None for a probe without the read ladder (versions 1 and 2)."""
        return _interpolated(self.read_bytes, self.read_gbs, bytes_read)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("gemm_n", "gemm_flops", "gemm_gflops", "write_bytes", "write_gbs", "read_bytes", "read_gbs"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Probe":
        fields = {k: data[k] for k in ("device", "dtype", "bandwidth_gbs", "threads", "version")}
        return cls(gemm_n=tuple(data["gemm_n"]), gemm_flops=tuple(data["gemm_flops"]),
                   gemm_gflops=tuple(data["gemm_gflops"]), timestamp=data.get("timestamp"),
                   write_bytes=tuple(data.get("write_bytes") or ()), write_gbs=tuple(data.get("write_gbs") or ()),
                   read_bytes=tuple(data.get("read_bytes") or ()), read_gbs=tuple(data.get("read_gbs") or ()),
                   **fields)


def mean_of(probes: Sequence[Probe]) -> Probe:
    """One probe from several of one device and dtype: at the sizes of the longest ladder, the geometric mean of
    each probe's rate there (interpolated, `gflops_at`), and the write and read ladders likewise over those that
    have one;
    no timestamp (it was not taken at one time: whoever averages keeps the probes' own times).

    Why: two probes minutes apart on the 2-core VM read small products' rates up to 1.6x apart, and the write cliff
    at 16 or at 32 MiB (glibc's mmap threshold moves with what the process freed before), so a curve swept
    between several probes is read with all of them rather than with whichever happened to be nearest."""
    if not probes:
        raise ValueError("no probe to average")
    if len(probes) == 1:
        return probes[0]
    base = max(probes, key=lambda p: len(p.gemm_flops))
    gemm = tuple(_geomean([p.gflops_at(f) for p in probes]) for f in base.gemm_flops)
    write_sizes, writes = _mean_ladder(probes, "write_bytes", Probe.write_gbs_at)
    read_sizes, reads = _mean_ladder(probes, "read_bytes", Probe.read_gbs_at)
    return replace(base, gemm_gflops=gemm, bandwidth_gbs=_geomean([p.bandwidth_gbs for p in probes]),
                   write_bytes=write_sizes, write_gbs=writes, read_bytes=read_sizes, read_gbs=reads,
                   version=min(p.version for p in probes), timestamp=None)


def _mean_ladder(probes: Sequence[Probe], sizes_field: str, rate_at) -> tuple[tuple, tuple]:
    """(sizes, rates): at the sizes of the longest ladder named `sizes_field`, the geometric mean of the rates of the
    probes that have that ladder."""
    laddered = [p for p in probes if getattr(p, sizes_field)]
    sizes = max((getattr(p, sizes_field) for p in laddered), key=len, default=())
    return sizes, tuple(_geomean([rate_at(p, b) for p in laddered]) for b in sizes)


def _interpolated(sizes: Sequence[float], rates: Sequence[float], at: float) -> float | None:
    """The rate at `at` bytes, log-log interpolated between a ladder's rungs (its end rungs' rates beyond them);
    None for an empty ladder."""
    if not sizes:
        return None
    x, y = np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(rates, dtype=float))
    return float(math.exp(np.interp(math.log(max(at, 1.0)), x, y)))


def _geomean(values: Sequence[float]) -> float:
    return float(math.exp(np.mean(np.log(values))))


def _ladder(device: str) -> tuple[int, ...]:
    """Square sizes to try, smallest first; a GPU needs larger products to fill it."""
    top = 8192 if device.startswith("cuda") else 2048
    return tuple(2 ** k for k in range(4, int(math.log2(top)) + 1))


def run_probe(device: str = "auto", dtype: str = "fp32", torch_dtype: torch.dtype = torch.float32,
              rule: StopRule = PROBE_RULE) -> Probe:
    """Time square GEMMs up the ladder until the rate levels off (`LEVEL_OFF`, `MAX_CALL_S`), then a 256 MiB copy,
    the write ladder and the read ladder.

    `dtype` is ftax's name for `torch_dtype` (ftax.run.backends.dtype_of maps one to the other; the caller does,
    so that this module stays in the measure layer, below the backends)."""
    device = resolve_device(device)
    sync = sync_for(device)
    sizes, flops, rates = [], [], []
    flat_steps = 0
    with torch.inference_mode():
        for n in _ladder(device):
            a = torch.randn(n, n, device=device).to(torch_dtype)
            b = torch.randn(n, n, device=device).to(torch_dtype)
            seconds = measure(lambda: torch.mm(a, b), rule, sync=sync).stats.median_ms / 1e3
            sizes.append(n)
            flops.append(2.0 * n ** 3)
            rates.append(flops[-1] / seconds / 1e9)
            flat_steps = flat_steps + 1 if len(rates) > 1 and rates[-1] < rates[-2] * LEVEL_OFF else 0
            if flat_steps >= 2 or seconds > MAX_CALL_S:
                break
        source = torch.empty(64 * 2 ** 20, dtype=torch.float32, device=device)
        target = torch.empty_like(source)
        copy_s = measure(lambda: target.copy_(source), rule, sync=sync).stats.median_ms / 1e3
        write_bytes, write_gbs = _write_ladder(device, torch_dtype, rule, sync)
        read_bytes, read_gbs = _read_ladder(device, torch_dtype, rule, sync)
    bandwidth = 2 * source.numel() * source.element_size() / copy_s / 1e9
    return Probe(device=device, dtype=dtype, gemm_n=tuple(sizes), gemm_flops=tuple(flops), gemm_gflops=tuple(rates),
                 bandwidth_gbs=bandwidth, threads=torch.get_num_threads(),
                 timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 write_bytes=write_bytes, write_gbs=write_gbs, read_bytes=read_bytes, read_gbs=read_gbs)


WRITE_OPS = (torch.nn.functional.gelu, lambda x: torch.softmax(x, -1),
             lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:]), lambda x: x + x)
WRITE_LADDER = (2 ** 16, 2 ** 18, 2 ** 20, 2 ** 22, 2 ** 23, 2 ** 24, 2 ** 25, 2 ** 26, 2 ** 27)  # bytes per output


def _write_ladder(device: str, torch_dtype: torch.dtype, rule: StopRule, sync) -> tuple[tuple, tuple]:
    """(bytes per output, GB/s): the elementwise ops a transformer runs between its products (GELU, softmax, layer
    norm, an add), each writing a fresh output of that size, timed up a ladder of sizes.

    Why fresh outputs: a model's forward allocates every activation anew, and on Linux glibc hands an allocation
    above its mmap threshold (at most 32 MiB) back to the kernel when it is freed, so the next one faults its pages
    in again: on a 2-core EPYC writing a 64 MiB fp32 output runs 4-8x slower per byte than a 16 MiB one (the write
    ladders of the probes stored in results/tax-fresh/ show it, some from 32 MiB on).
    A copy into a kept buffer (`bandwidth_gbs`) never sees that cost."""
    sizes, rates = [], []
    for nbytes in WRITE_LADDER:
        x = torch.randn(max(nbytes // 4 // 128, 1), 128, device=device).to(torch_dtype)
        out_bytes = x.numel() * x.element_size()
        ms = float(np.mean([measure(lambda f=f: f(x), rule, sync=sync).stats.median_ms for f in WRITE_OPS]))
        sizes.append(float(out_bytes))
        rates.append(out_bytes / ms / 1e6)
        if ms / 1e3 > MAX_CALL_S:
            break
    return tuple(sizes), tuple(rates)


READ_LADDER = tuple(2 ** k for k in range(20, 31, 2))  # bytes per buffer: 1 MiB to 1 GiB, past any last-level cache


def _read_ladder(device: str, torch_dtype: torch.dtype, rule: StopRule, sync) -> tuple[tuple, tuple]:
    """(bytes per buffer, GB/s): one kept buffer summed whole (`x.sum()`), timed up a ladder of sizes.

    Why a reduction: it reads every byte once and writes one number, so its rate is the read rate a decode step's
    weights and KV cache can stream at (a copy, `bandwidth_gbs`, writes as much as it reads). The buffer is kept
    and re-read, as a step re-reads the same weights: one that fits the last-level cache reads at the cache's
    rate, one past it at memory's. Filled with ones, not random numbers: what is read does not change the rate,
    and drawing a GiB of random numbers takes seconds."""
    sizes, rates = [], []
    element = torch.empty((), dtype=torch_dtype).element_size()
    for nbytes in READ_LADDER:
        x = torch.ones(nbytes // element, dtype=torch_dtype, device=device)
        ms = measure(lambda buffer=x: buffer.sum(), rule, sync=sync).stats.median_ms
        sizes.append(float(x.numel() * element))
        rates.append(sizes[-1] / ms / 1e6)
        del x
        if ms / 1e3 > MAX_CALL_S:
            break
    return tuple(sizes), tuple(rates)
