"""Split one call's wall time into busy time and overhead with the profiler: where the time goes.

`decompose` splits one call's wall latency into *busy* time (the hardware doing the
math) and *overhead* (everything else: Python, dispatch, allocation, kernel launches).

- CUDA: busy = union of the device's kernel, memcpy and memset intervals. A union, not
  a sum, because kernels on several streams overlap; each step is synchronized, so the
  steps' intervals never overlap each other. The tax is wall - busy (DESIGN.md).
- CPU: there is no device timeline, so busy = self CPU time of the aten ops that do
  arithmetic or move tensor data (`CPU_COMPUTE_OPS`), and every other op's self time
  (views, reshapes, allocation, composite wrappers' dispatch) counts as host work.

The profiled run is separate from the timed run: the profiler costs ~1-3 us per op, which
lands mostly in parents and Python, little in a leaf op's self time. So busy comes from
profiled steps, and each is paired with an unprofiled synchronized call made just before
it, whose wall time the overhead is taken from; `profiled_wall_ms` (and `host_ms`, which
includes the profiler's cost) keep that perturbation visible. Medians over steps, not
means, because a shared machine's other processes hit single steps.

Known blind spots: onnxruntime runs outside the torch dispatcher (method "unavailable" on
CPU; on CUDA its kernels are still seen). Inductor's C++ kernels (torch.compile, AOTInductor)
emit a profiler event only when compiled with `torch._inductor.config.cpp.enable_kernel_profile`
(AOTInductor's packages are: `ftax.run.backends`); a CPU split that saw such kernels is named
`INDUCTOR_METHOD`, and one of an Inductor runtime that saw none counts only its aten ops as busy,
so its overhead is an upper bound.

Event parsing lives in small pure functions over plain tuples so tests feed hand-built events.
"""
from __future__ import annotations

import bisect
import math
import re
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

import torch

from ftax.measure.devices import sync_for
from ftax.store.redirect import stderr_fd_to
from ftax.measure.timing import timed_call_ms

# Self time of these aten ops is CPU "busy" time: they read or write tensor data.
# Composites that only dispatch (linear, matmul, conv2d, layer_norm, dropout, to,
# scaled_dot_product_attention, ...) and metadata ops (view, t, as_strided, empty, ...)
# are host work; their children are listed here when they do the work.
CPU_COMPUTE_OPS: frozenset[str] = frozenset({
    # matrix products
    "addmm", "mm", "bmm", "baddbmm", "addbmm", "addmv", "mv", "dot", "_addmm_activation",
    # convolutions and recurrent kernels (leaf kernels, not the conv2d/_convolution wrappers)
    "mkldnn_convolution", "_slow_conv2d_forward", "_nnpack_spatial_convolution", "slow_conv3d_forward",
    "slow_conv_dilated2d", "slow_conv_dilated3d", "slow_conv_transpose2d", "mkldnn_rnn_layer",
    "_convolution_depthwise2d", "conv_depthwise3d", "miopen_convolution", "cudnn_convolution",
    # attention kernels
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_flash_attention_forward", "_efficient_attention_forward",
    # normalization, softmax, activations
    "native_layer_norm", "native_batch_norm", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit", "native_group_norm", "_fused_rms_norm", "_softmax", "_log_softmax",
    "gelu", "relu", "relu_", "tanh", "tanh_", "sigmoid", "silu", "silu_", "hardtanh", "hardtanh_",
    "hardswish", "hardswish_", "hardsigmoid", "leaky_relu", "elu", "softplus", "mish", "glu", "erf", "exp",
    "clamp", "clamp_", "clamp_min", "clamp_min_",
    # elementwise arithmetic and comparisons
    "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "pow", "sqrt", "rsqrt", "neg",
    "abs", "where", "masked_fill", "masked_fill_", "addcmul", "addcdiv", "lerp", "maximum", "minimum",
    "eq", "ne", "lt", "le", "gt", "ge", "bitwise_not", "bitwise_and", "bitwise_or", "log", "cos", "sin",
    # reductions and pooling
    "sum", "mean", "amax", "amin", "max", "min", "var_mean", "var", "std", "norm", "linalg_vector_norm",
    "cumsum", "argmax", "all", "any", "max_pool2d_with_indices", "_adaptive_avg_pool2d",
    "adaptive_max_pool2d", "avg_pool2d", "mkldnn_max_pool2d", "mkldnn_adaptive_avg_pool2d",
    # data movement (on a GPU these are kernels or memcpys, so they count as busy here too)
    "copy_", "cat", "index_select", "gather", "index", "scatter", "scatter_add", "fill_", "zero_",
    "tril", "triu", "flip", "roll", "_embedding_bag",
})

# The method of a CPU split whose busy time includes Inductor's own kernels (made visible at compile time);
# `ftax.measure.profiler_blind` trusts an AOTInductor split only under this name.
CPU_METHOD, INDUCTOR_METHOD = "cpu-compute-ops", "cpu-compute-ops+inductor-kernels"
DEVICE_ACTIVITIES = ("kernel", "gpu_memcpy", "gpu_memset")
LAUNCH_EVENTS = frozenset({"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx",
                           "cudaLaunchCooperativeKernel", "cudaGraphLaunch"})
WARM_CALLS = 2
SETTLE_BELOW_MS, SETTLE_CALLS = 20.0, 3
STEP_NAME = "ftax_step"
RESULT_KEYS = ("method", "wall_ms", "profiled_wall_ms", "busy_ms", "host_ms", "overhead_ms", "overhead_share",
               "profiled_overhead_share", "ops", "launches", "steps")


# --- pure parsing -------------------------------------------------------------------------

def union_ms(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of [start, end] intervals (same unit in and out).

    Overlapping and nested intervals count once, gaps not at all; empty or reversed
    intervals contribute nothing.
    """
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def is_inductor_kernel(name: str) -> bool:
    """True for an event of a kernel Inductor generated or called: a fused C++ kernel (`graph_0_cpp_fused_...`,
    `cpp_fused_...`) or an AOTInductor extern kernel call through its C shim (`aoti_torch_cpu_addmm_out`), both
    named only when compiled with `enable_kernel_profile`. A shim call runs the ATen kernel directly, outside the
    dispatcher, so it has no `aten::` event of its own: its self time is the kernel's."""
    return "cpp_fused" in name or name.startswith("aoti_torch_")


def is_cpu_compute(name: str) -> bool:
    """True for an op whose self time is compute: an aten op in CPU_COMPUTE_OPS (`aten::addmm`), or
    an Inductor kernel (`is_inductor_kernel`)."""
    namespace, _, op = name.partition("::")
    if namespace == "aten":
        return op.split(".")[0] in CPU_COMPUTE_OPS
    return is_inductor_kernel(name)


def split_cpu_ops(ops: Iterable[tuple[str, float]]) -> tuple[float, float, int]:
    """(busy, host, aten op count) from (name, self time) pairs.

    busy sums compute ops; host sums every aten op and inductor kernel (compute included);
    annotations, Python frames and compiler wrappers count in neither.
    """
    busy = host = 0.0
    count = 0
    for name, self_time in ops:
        compute, aten = is_cpu_compute(name), name.startswith("aten::")
        count += aten
        if compute or aten:
            host += self_time
        if compute:
            busy += self_time
    return busy, host, count


def count_launches(runtime_names: Iterable[str]) -> int:
    """Kernel and graph launches among CUDA runtime/driver event names."""
    return sum(1 for name in runtime_names if name in LAUNCH_EVENTS)


class Event(NamedTuple):
    """The few fields of a profiler event that the decomposition reads (times in microseconds)."""

    name: str
    start_us: float
    end_us: float
    self_us: float = 0.0
    on_device: bool = False
    activity: str = "cpu_op"


class StepParts(NamedTuple):
    """One profiled step, in microseconds and counts."""

    wall_us: float
    busy_us: float
    host_us: float
    ops: int
    launches: int
    kernels: int = 0  # Inductor kernel events (`is_inductor_kernel`)


def step_parts(events: Sequence[Event], cuda: bool, step_name: str = STEP_NAME) -> list[StepParts]:
    """Split events into the steps marked by host annotations named `step_name` and decompose each.

    An event belongs to the step whose window contains its start (device kernels of a step
    start inside it because every step ends with a synchronize). CUDA: busy is the union of
    the step's kernel/memcpy/memset intervals. CPU: busy is the self time of compute ops.
    """
    windows = sorted((e.start_us, e.end_us) for e in events if e.name == step_name and not e.on_device)
    starts = [w[0] for w in windows]
    members: list[list[Event]] = [[] for _ in windows]
    for event in events:
        if event.name == step_name:
            continue
        i = bisect.bisect_right(starts, event.start_us) - 1
        if i >= 0 and event.start_us <= windows[i][1]:
            members[i].append(event)
    parts = []
    for (start, end), step in zip(windows, members):
        host_events = [e for e in step if not e.on_device]
        cpu_busy, host, ops = split_cpu_ops((e.name, e.self_us) for e in host_events)
        if cuda:
            busy = union_ms((e.start_us, e.end_us) for e in step if e.on_device and e.activity in DEVICE_ACTIVITIES)
            launches = count_launches(e.name for e in host_events)
        else:
            busy, launches = cpu_busy, 0
        kernels = sum(1 for e in host_events if is_inductor_kernel(e.name))
        parts.append(StepParts(end - start, busy, host, ops, launches, kernels))
    return parts


def summarize(method: str, walls_ms: Sequence[float], parts: Sequence[StepParts]) -> dict:
    """Per-call result from paired steps: `walls_ms[i]` is an unprofiled call made right before profiled step i.

    Every quantity is a median over steps (robust to a step hit by another process); overhead
    is paired, wall_i - busy_i, clamped at 0 because a profiled busy time can exceed an
    unprofiled wall by noise. The profiler's cost inflates busy a little (children's callbacks
    land in a compute op's self time), so `overhead_share` leans low; `profiled_overhead_share`
    (all from the profiled steps) counts the profiler's cost as overhead and leans high.
    """
    def med(values: Iterable[float]) -> float:
        return float(statistics.median(values))

    overheads = [max(w - p.busy_us / 1e3, 0.0) for w, p in zip(walls_ms, parts)]
    return {"method": method, "wall_ms": med(walls_ms), "profiled_wall_ms": med(p.wall_us / 1e3 for p in parts),
            "busy_ms": med(p.busy_us / 1e3 for p in parts), "host_ms": med(p.host_us / 1e3 for p in parts),
            "overhead_ms": med(overheads),
            "overhead_share": med(o / w if w > 0 else math.nan for o, w in zip(overheads, walls_ms)),
            "profiled_overhead_share": med(max(p.wall_us - p.busy_us, 0.0) / p.wall_us if p.wall_us > 0 else math.nan
                                           for p in parts),
            "ops": statistics.median_low(p.ops for p in parts),
            "launches": statistics.median_low(p.launches for p in parts), "steps": len(parts)}


def not_measured(method: str, message: str, **known: float) -> dict:
    """A result without a decomposition: every key present (NaN where unknown) so tables and the CLI still work."""
    result: dict = {key: math.nan for key in RESULT_KEYS}
    result.update(known, method=method, message=message)
    return result


# --- the profiled run ---------------------------------------------------------------------

_KINETO_CHATTER = re.compile(r"^(USDT|STAGE):\S+ \S+ \d+:\d+ \S+\.cpp:\d+\] ")


@contextmanager
def _without_kineto_chatter():
    """Drop the line libkineto writes to fd 2 at every profiler start and stop.

    (`USDT:... profiler_start`, `STAGE:... Completed Stage: Warm Up`; KINETO_LOG_LEVEL does not
    silence them in torch 2.13.) A sweep with --decompose would print dozens between its progress
    lines. fd 2 goes to a temporary file meanwhile; every other line is passed on afterwards.
    """
    with tempfile.TemporaryFile() as captured:
        try:
            with stderr_fd_to(captured):
                yield
        finally:
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not _KINETO_CHATTER.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def _profiled_step(call: Callable[[], object], sync: Callable[[], None], cuda: bool,
                   trace: Path | None) -> list[Event]:
    """One synchronized call under its own profiler, annotated as a step; plain events out."""
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    sync()
    with profile(activities=activities) as prof:
        with record_function(STEP_NAME):
            call()
            sync()
    if trace is not None:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    cpu = torch.autograd.DeviceType.CPU
    return [Event(e.name, e.time_range.start, e.time_range.end, e.self_cpu_time_total, e.device_type != cpu,
                  e.activity_type or "") for e in prof.events()]


def decompose(call: Callable[[], object], device: str, steps: int = 5, trace_dir: Path | None = None,
              trace_name: str = "trace") -> dict:
    """Profile `steps` warm calls of `call` on `device` and split wall time into busy and overhead.

    Each profiled step is paired with an unprofiled synchronized call made just before it,
    so a burst of load from another process hits both alike. A call right after a profiler
    session runs on caches the event parsing flushed (a 0.8 ms model measured 1.3-1.5 ms
    there), so calls shorter than SETTLE_BELOW_MS are repeated up to SETTLE_CALLS times and
    the last one is kept. Returns medians over the steps:
    method, wall_ms (unprofiled), profiled_wall_ms, busy_ms, host_ms (self time of aten ops),
    overhead_ms = wall - busy, overhead_share, profiled_overhead_share, ops (aten calls),
    launches (CUDA kernel/graph launches; 0 on CPU). The Chrome trace of the last step goes to
    `trace_dir/<trace_name>.json`. Runs under inference_mode like the timed run (the runner
    calls this outside that block). Never raises: a failure returns method "failed" with a
    message, so it cannot kill the measurement it decorates.
    """
    walls: list[float] = []
    try:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        cuda = device.startswith("cuda")
        sync = sync_for(device)
        trace = Path(trace_dir) / f"{trace_name}.json" if trace_dir is not None else None
        parts: list[StepParts] = []
        with torch.inference_mode(), _without_kineto_chatter():
            for _ in range(WARM_CALLS):
                timed_call_ms(call, sync)
            for i in range(steps):
                wall, settle = timed_call_ms(call, sync), SETTLE_CALLS
                while wall < SETTLE_BELOW_MS and settle > 0:
                    wall, settle = timed_call_ms(call, sync), settle - 1
                walls.append(wall)
                events = _profiled_step(call, sync, cuda, trace if i == steps - 1 else None)
                parts += step_parts(events, cuda)
        if len(parts) != steps:
            return not_measured("failed", f"the profiler recorded {len(parts)} of {steps} steps",
                                wall_ms=statistics.median(walls))
        inductor = any(p.kernels for p in parts)
        result = summarize("cuda-busy" if cuda else INDUCTOR_METHOD if inductor else CPU_METHOD, walls, parts)
        if cuda and result["busy_ms"] == 0:
            reason = "the profiler recorded no device kernels (is CUPTI available to torch.profiler?)"
        elif not cuda and result["ops"] == 0:
            reason = "the profiler saw no aten ops: the callable runs outside the torch dispatcher (e.g. onnxruntime)"
        else:
            return result
        return not_measured("unavailable", reason, wall_ms=result["wall_ms"], profiled_wall_ms=result["profiled_wall_ms"],
                            ops=result["ops"], launches=result["launches"])
    except Exception as exc:  # noqa: BLE001 -- a decomposition failure must not kill the measurement
        return not_measured("failed", f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                            wall_ms=statistics.median(walls) if walls else math.nan)
