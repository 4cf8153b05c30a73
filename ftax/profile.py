"""Where the time goes: FLOPs of a forward and the profiler decomposition of wall time.

`decompose` splits one call's wall latency into *busy* time (the hardware doing the
math) and *overhead* (everything else: Python, dispatch, allocation, kernel launches).

- CUDA: busy = union of the device's kernel, memcpy and memset intervals. A union, not
  a sum, because kernels on several streams overlap; each step is synchronized, so the
  steps' intervals never overlap each other. This is the paper's definition.
- CPU: there is no device timeline, so busy = self CPU time of the aten ops that do
  arithmetic or move tensor data (`CPU_COMPUTE_OPS`), and every other op's self time
  (views, reshapes, allocation, composite wrappers' dispatch) counts as host work.

The profiled run is separate from the timed run (the profiler slows every op down), and
`wall_ms` comes from unprofiled synchronized calls made just before it; the profiled
wall is reported as `profiled_wall_ms` so the profiler's own cost stays visible.

Known blind spots: onnxruntime runs outside the torch dispatcher (method "unavailable");
torch.compile on CPU runs its fused C++ kernels without aten events, so only its extern
kernels (addmm, mm, sdpa...) count as busy and its overhead is an upper bound.

Event parsing lives in small pure functions over plain tuples so tests feed hand-built events.
"""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Callable, Iterable

import torch

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
    "tril", "triu", "flip", "roll", "embedding_dense_backward", "_embedding_bag",
})

DEVICE_ACTIVITIES = ("kernel", "gpu_memcpy", "gpu_memset")
LAUNCH_EVENTS = frozenset({"cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx",
                           "cudaLaunchCooperativeKernel", "cudaGraphLaunch"})
WARM_CALLS = 2
RESULT_KEYS = ("method", "wall_ms", "profiled_wall_ms", "busy_ms", "host_ms", "overhead_ms", "overhead_share",
               "ops", "launches")


def count_flops(module: torch.nn.Module, inputs: tuple) -> float | None:
    """FLOPs of one eager forward, counted by torch.utils.flop_counter (None if it cannot count)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(*inputs)
    except Exception:  # noqa: BLE001 -- a model the counter cannot trace simply has no FLOP count
        return None
    return float(counter.get_total_flops())


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


def is_cpu_compute(name: str) -> bool:
    """True for an op whose self time is compute: an aten op in CPU_COMPUTE_OPS (`aten::addmm`), or
    an inductor C++ kernel (`graph_0_cpp_fused_...`, named only when compiled with
    TORCHINDUCTOR_CPP_ENABLE_KERNEL_PROFILE=1)."""
    namespace, _, op = name.partition("::")
    if namespace == "aten":
        return op.split(".")[0] in CPU_COMPUTE_OPS
    return "cpp_fused" in name


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


def summarize(method: str, wall_ms: float, busy_ms: float, host_ms: float, ops: int, launches: int,
              steps: int, profiled_wall_ms: float) -> dict:
    """Per-step dict from totals over `steps` profiled steps (`wall_ms` is already per step).

    Overhead is clamped at 0: profiled busy time can exceed an unprofiled wall by noise.
    """
    busy, host = busy_ms / steps, host_ms / steps
    overhead = max(wall_ms - busy, 0.0)
    return {"method": method, "wall_ms": wall_ms, "profiled_wall_ms": profiled_wall_ms, "busy_ms": busy,
            "host_ms": host, "overhead_ms": overhead, "overhead_share": overhead / wall_ms if wall_ms > 0 else math.nan,
            "ops": _per_step(ops, steps), "launches": _per_step(launches, steps), "steps": steps}


def _per_step(count: int, steps: int) -> float | int:
    """Counts per step stay integers when every step did the same (the usual case)."""
    return count // steps if count % steps == 0 else count / steps


def not_measured(method: str, message: str, **known: float) -> dict:
    """A result without a decomposition: every key present (NaN where unknown) so tables and the CLI still work."""
    result: dict = {key: math.nan for key in RESULT_KEYS}
    result.update(known, method=method, message=message)
    return result


# --- the profiled run ---------------------------------------------------------------------

def _sync_for(device: str) -> Callable[[], None]:
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


def _unprofiled_wall_ms(call: Callable[[], object], sync: Callable[[], None], steps: int) -> float:
    """Median of `steps` synchronized calls without the profiler: the wall that overhead is taken from."""
    samples = []
    for _ in range(max(steps, 5)):
        sync()
        start = time.perf_counter()
        call()
        sync()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def _profiled_run(call: Callable[[], object], sync: Callable[[], None], cuda: bool, steps: int):
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    walls = []
    with profile(activities=activities) as prof:
        for _ in range(steps):
            sync()
            start = time.perf_counter()
            with record_function("ftax_step"):
                call()
                sync()
            walls.append((time.perf_counter() - start) * 1e3)
    return prof, sum(walls) / len(walls)


def decompose(call: Callable[[], object], device: str, steps: int = 5, trace_dir: Path | None = None,
              trace_name: str = "trace") -> dict:
    """Profile `steps` warm calls of `call` on `device` and split wall time into busy and overhead.

    Returns per-call averages: method, wall_ms (unprofiled median), profiled_wall_ms, busy_ms,
    host_ms (self time of all aten ops), overhead_ms = wall - busy, overhead_share, ops (aten
    calls), launches (CUDA kernel/graph launches; 0 on CPU). Never raises: a failure returns
    {"method": "failed", "message": ...} so it cannot kill the measurement it decorates.
    Runs under inference_mode, like the timed run (the runner calls it outside that block).
    """
    wall_ms = math.nan
    try:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        cuda = device.startswith("cuda")
        sync = _sync_for(device)
        with torch.inference_mode():
            for _ in range(WARM_CALLS):
                call()
            sync()
            wall_ms = _unprofiled_wall_ms(call, sync, steps)
            prof, profiled_wall_ms = _profiled_run(call, sync, cuda, steps)
        if trace_dir is not None:
            Path(trace_dir).mkdir(parents=True, exist_ok=True)
            prof.export_chrome_trace(str(Path(trace_dir) / f"{trace_name}.json"))
        events = prof.events()
        cpu_events = [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]
        _, host_us, ops = split_cpu_ops((e.name, e.self_cpu_time_total) for e in cpu_events)
        if cuda:
            intervals = [(e.time_range.start, e.time_range.end) for e in events
                         if e.device_type != torch.autograd.DeviceType.CPU and e.activity_type in DEVICE_ACTIVITIES]
            busy_us = union_ms(intervals)
            launches = count_launches(e.name for e in cpu_events)
            method = "cuda-busy"
        else:
            busy_us, _, _ = split_cpu_ops((e.name, e.self_cpu_time_total) for e in cpu_events)
            launches, method = 0, "cpu-compute-ops"
        if ops == 0 and not (cuda and busy_us > 0):
            return not_measured("unavailable", "the profiler saw no aten ops (the callable runs outside the "
                                "torch dispatcher, e.g. onnxruntime)", wall_ms=wall_ms,
                                profiled_wall_ms=profiled_wall_ms, ops=0, launches=launches)
        return summarize(method, wall_ms, busy_us / 1e3, host_us / 1e3, ops, launches, steps, profiled_wall_ms)
    except Exception as exc:  # noqa: BLE001 -- a decomposition failure must not kill the measurement
        return not_measured("failed", f"{type(exc).__name__}: {str(exc).strip()[:300]}", wall_ms=wall_ms)
