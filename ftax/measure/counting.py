"""Count the work of one eager forward: its FLOPs, its GEMM calls, and the writes it makes and their sizes.

These counts are properties of a model and an input shape, not of a backend or a run, so the runner counts
once per shape and stores them with each record, and `ftax predict` counts one config at batch 2. The model
of the tax (`ftax.read.tax_model`) prices them with a machine's probed rates (`ftax.measure.probe`): GEMMs by
FLOPs per call, writes by their sizes. FLOPs come from `torch.utils.flop_counter`; the other counts from a
dispatch mode that sees every aten op of the forward.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import torch


def count_flops(module: torch.nn.Module, inputs: tuple) -> float | None:
    """FLOPs of one eager forward, counted by torch.utils.flop_counter (None if it cannot count)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(*inputs)
    except Exception:  # noqa: BLE001 -- a model the counter cannot trace simply has no FLOP count
        return None
    return float(counter.get_total_flops())


@dataclass(frozen=True)
class OpCounts:
    """What one eager forward's ops do besides FLOPs. `gemm_calls`: calls of ops that torch.utils.flop_counter has
    a FLOP formula for (matrix products, convolutions, attention), so FLOPs / calls is the work per call that
    `ftax.measure.probe` rates GEMMs by. `writes` and `written_bytes`: calls of ops that produce new data (every op but a
    view or a bare allocation) and the bytes of their outputs: what the probe's write rate prices, since writing a
    fresh output is a cost of its own on a CPU (a large one once outputs outgrow what the allocator keeps).
    `write_sizes`: (bytes one write produced, how many writes produced that many), by size: the rate depends on
    each output's size, and a mean size hides the few large outputs (attention scores) that fall off the cliff."""

    gemm_calls: int
    writes: int
    written_bytes: int
    write_sizes: tuple[tuple[int, int], ...] = ()


_NOT_WRITES = frozenset({"_unsafe_view", "empty", "empty_strided", "lift_fresh"})  # views in all but name


def count_ops(module: torch.nn.Module, inputs: tuple) -> OpCounts | None:
    """`OpCounts` of one eager forward under a dispatch mode. None if the forward cannot run under one."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.gemm_calls = self.writes = self.written_bytes = 0
            self.sizes: collections.Counter[int] = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.gemm_calls += func._overloadpacket in flop_registry
            if not func.is_view and func._overloadpacket.__name__ not in _NOT_WRITES:
                size = sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
                self.writes += 1
                self.written_bytes += size
                self.sizes[size] += 1
            return out

    counter = Counter()
    try:  # no_grad, not inference_mode: under inference_mode, linear reaches a dispatch mode undecomposed
        with torch.no_grad(), counter:
            module(*inputs)
    except Exception:  # noqa: BLE001 -- as count_flops: no count rather than no record
        return None
    return OpCounts(counter.gemm_calls, counter.writes, counter.written_bytes, tuple(sorted(counter.sizes.items())))
