"""Which runtimes the CPU profiler cannot see: a table of reasons and its lookup, with no torch.

The runner asks before it profiles (a blind runtime's CPU decomposition is not taken) and the read layer asks
before it shows a stored one, so both read this one table, and the read layer does so without importing the
profiler (`ftax.measure.decompose`) or torch.
"""
from __future__ import annotations

# Runtimes whose compute a CPU profile cannot see although it records some aten ops, so "busy" would read near
# zero and overhead near 100%: their stored CPU decompositions are not shown, unless taken under the method
# that saw their kernels (`SEEN_BY`).
CPU_PROFILER_BLIND: dict[str, str] = {
    "aot-inductor": "AOTInductor's generated C++ kernels emit no profiler events on a CPU unless the package is "
                    "compiled with kernel profiling: only the wrapper's few aten ops are seen, so busy time would "
                    "read near zero",
}
# The decomposition method under which a runtime of the table is seen after all: AOTInductor's packages are
# compiled with `enable_kernel_profile` (`ftax.run.backends`), and a split that saw Inductor's kernels is named so
# (`ftax.measure.decompose.INDUCTOR_METHOD`); records of packages compiled without it keep the plain CPU method.
SEEN_BY: dict[str, str] = {"aot-inductor": "cpu-compute-ops+inductor-kernels"}


def blind_reason(backend: str, device: str, method: str | None = None) -> str | None:
    """Why the profiler cannot split `backend`'s time on `device` (CPU_PROFILER_BLIND), or None.

    `method`: a stored decomposition's method (the read side asks about a record); None asks whether a profile taken
    now sees the runtime (the runner), which it does for every runtime with a `SEEN_BY` method."""
    if device.split(":")[0] != "cpu" or backend not in CPU_PROFILER_BLIND:
        return None
    seen_by = SEEN_BY.get(backend)
    if seen_by is not None and (method is None or method == seen_by):
        return None
    return CPU_PROFILER_BLIND[backend]
