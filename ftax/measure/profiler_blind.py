"""Which runtimes the CPU profiler cannot see: a table of reasons and its lookup, with no torch.

The runner asks before it profiles (a blind runtime's CPU decomposition is not taken) and the read layer asks
before it shows a stored one (records made before the rule may carry one), so both read this one table, and the
read layer does so without importing the profiler (`ftax.measure.decompose`) or torch.
"""
from __future__ import annotations

# Runtimes whose compute a CPU profile cannot see although it records some aten ops, so "busy" would read near
# zero and overhead near 100%: their CPU decompositions are not taken, and stored ones are not shown.
CPU_PROFILER_BLIND: dict[str, str] = {
    "aot-inductor": "AOTInductor's generated C++ kernels emit no profiler events on a CPU: only the wrapper's few "
                    "aten ops are seen, so busy time would read near zero",
}


def blind_reason(backend: str, device: str) -> str | None:
    """Why the profiler cannot split `backend`'s time on `device` (CPU_PROFILER_BLIND), or None."""
    return CPU_PROFILER_BLIND.get(backend) if device.split(":")[0] == "cpu" else None
