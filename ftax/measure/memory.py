"""Memory and energy of inference, taken around the same calls as latency.

Memory. `weights_bytes` is what a prepared backend holds (ftax.run.backends counts it from the tensors the
backend itself keeps). `peak_bytes` is how far memory rises above a baseline taken before the backend's
first forward, over that forward and one more call:
- CPU (Linux): the process's resident set. Writing 5 to `/proc/self/clear_refs` resets the high-water mark
  (`VmHWM` in `/proc/self/status`) to the current RSS, so the peak is read without a sampling thread, and
  it sees torch's and ONNX Runtime's allocations alike. Method `rss-hwm`.
- CUDA: the torch allocator's peak (`max_memory_allocated` after `reset_peak_memory_stats`), method
  `torch-allocator`; it does not see ONNX Runtime's or a CUDA graph pool's own allocator.
Elsewhere the record says `unavailable` and why. The baseline is per backend and taken right before its
preparation, so a backend's figure is what it added: its activations and workspace, plus its own copy of
the weights where it makes one (ONNX Runtime, a frozen TorchScript module); eager shares the built model.

Energy. Joules per inference over a pipelined window (calls back to back, as a server runs them) from a
cumulative energy counter: NVML's, through `zeus` (`ZeusMonitor`), on CUDA; RAPL through zeus on a CPU that
exposes it. A machine without a counter gets `unavailable` with the reason, never an estimate. The
counter's resolution sets a minimum window (`MIN_ENERGY_WINDOW_S`); a shorter window, or a counter that
went backwards (wrapped), gives a status instead of a number.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
POWERCAP = Path("/sys/class/powercap")
MIN_ENERGY_WINDOW_S = 0.5  # NVML's energy counter updates every ~100 ms on recent GPUs: five updates at least


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """This process's resident set size now (Linux), None elsewhere."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_rss_peak() -> bool:
    """Reset the resident-set high-water mark to the current RSS; False where the OS does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def rss_peak_bytes() -> int | None:
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


class Baseline:
    """Memory before a backend's first forward; `peak_after(fn)` runs `fn` and says how far memory rose."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        if self.cuda:
            torch.cuda.synchronize(device)
            self.base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.method, self.why = "torch-allocator", ""
        else:
            self.base = rss_bytes()
            ok = self.base is not None and reset_rss_peak()
            self.method = "rss-hwm" if ok else "unavailable"
            self.why = "" if ok else "no /proc/self/clear_refs and VmHWM (not Linux?): the peak cannot be reset and read"

    def peak(self) -> dict:
        """{"peak_bytes", "method"} (or the reason it is unavailable), relative to the baseline."""
        if self.method == "unavailable":
            return {"peak_bytes": None, "method": "unavailable", "reason": self.why}
        if self.cuda:
            torch.cuda.synchronize(self.device)
            top = torch.cuda.max_memory_allocated(self.device)
        else:
            top = rss_peak_bytes()
        return {"peak_bytes": max(int(top - self.base), 0) if top is not None else None, "method": self.method}


def tensor_bytes(tensors) -> int:
    """Bytes of distinct tensors' storage (a tied weight counts once)."""
    seen, total = set(), 0
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        key = (t.untyped_storage().data_ptr(), t.device) if t.device.type != "meta" else id(t)
        if key in seen:
            continue
        seen.add(key)
        total += t.untyped_storage().nbytes()
    return total


def module_weights_bytes(module: torch.nn.Module) -> int:
    """Parameters and buffers a torch module holds."""
    return tensor_bytes([*module.parameters(), *module.buffers()])


def script_weights_bytes(module: torch.jit.ScriptModule) -> int:
    """A (frozen) TorchScript module's tensors: freezing folds parameters into graph constants, so count both."""
    constants = []
    for graph in (getattr(module, "graph", None),):
        for node in (graph.nodes() if graph is not None else ()):
            if node.kind() == "prim::Constant" and node.output().type().kind() == "TensorType":
                constants.append(node.output().toIValue())
    return tensor_bytes([*module.parameters(), *module.buffers(), *constants])


def onnx_weights_bytes(path: str | Path) -> int:
    """Bytes of the initializers in an ONNX file (what ONNX Runtime loads as weights)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=True)
    return int(sum(numpy_helper.to_array(init).nbytes for init in model.graph.initializer))


# --- energy ---------------------------------------------------------------------------------

class EnergyCounter(Protocol):
    """A cumulative energy counter (joules since some origin): zeus' monitor in production, a fake in tests."""

    def joules(self) -> float: ...


@dataclass(frozen=True)
class Energy:
    status: str  # "ok", "unavailable", "too-short", "counter-wrapped"
    joules_per_inference: float | None = None
    mean_watts: float | None = None
    window_s: float | None = None
    calls: int | None = None
    source: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def energy_source(device: str) -> tuple[str | None, str]:
    """(source, reason): the counter this machine offers for `device`, or None and why not."""
    try:
        import zeus  # noqa: F401 -- only whether it is there
    except ImportError:
        return None, "the zeus package is not installed (pip install zeus; on a GPU machine carry it as a wheel)"
    if device.startswith("cuda"):
        return "nvml (zeus)", ""
    if not POWERCAP.exists():
        return None, "no RAPL: /sys/class/powercap is absent on this machine"
    return "rapl (zeus)", ""


def energy_window(fn: Callable[[], object], sync: Callable[[], None], counter: EnergyCounter, source: str,
                  min_window_s: float = MIN_ENERGY_WINDOW_S, clock: Callable[[], float] = time.perf_counter) -> Energy:
    """Joules per call over calls back to back for at least `min_window_s`: read the counter, run, sync, read."""
    sync()
    start_j, start_s, calls = counter.joules(), clock(), 0
    while clock() - start_s < min_window_s:
        fn()
        calls += 1
    sync()
    end_j, window = counter.joules(), clock() - start_s
    if end_j < start_j:
        return Energy("counter-wrapped", window_s=window, calls=calls, source=source,
                      reason="the energy counter went backwards during the window (it wrapped or was reset)")
    if window < min_window_s or calls == 0:
        return Energy("too-short", window_s=window, calls=calls, source=source,
                      reason=f"a window under {min_window_s} s is below the counter's resolution")
    joules = end_j - start_j
    return Energy("ok", joules_per_inference=joules / calls, mean_watts=joules / window, window_s=window, calls=calls,
                  source=source)


class _ZeusCounter:
    """zeus' ZeusMonitor as a cumulative counter for one device (NVML on a GPU, RAPL on a CPU)."""

    def __init__(self, device: str) -> None:
        from zeus.monitor import ZeusMonitor

        if device.startswith("cuda"):
            index = torch.device(device).index or 0
            self.monitor, self.key = ZeusMonitor(gpu_indices=[index], cpu_indices=[]), ("gpu", index)
        else:
            self.monitor, self.key = ZeusMonitor(gpu_indices=[], cpu_indices=[0]), ("cpu", 0)
        self.monitor.begin_window("ftax", sync_execution=False)

    def joules(self) -> float:
        measurement = self.monitor.end_window("ftax", sync_execution=False)
        self.monitor.begin_window("ftax", sync_execution=False)
        self.total = getattr(self, "total", 0.0) + (measurement.gpu_energy.get(self.key[1], 0.0) if self.key[0] == "gpu"
                                                    else sum(e.cpu_mj for e in measurement.cpu_energy.values()) / 1e3)
        return self.total


def measure_energy(fn: Callable[[], object], sync: Callable[[], None], device: str) -> Energy:
    """Energy per inference on `device`, or `unavailable` with the reason (ftax.run.runner calls it after timing)."""
    source, reason = energy_source(device)
    if source is None:
        return Energy("unavailable", reason=reason)
    try:
        counter = _ZeusCounter(device)
    except Exception as exc:  # noqa: BLE001 -- a monitor that cannot start is a reason, not a crash
        return Energy("unavailable", source=source, reason=f"{type(exc).__name__}: {exc}")
    return energy_window(fn, sync, counter, source)
