"""What one call of a model must read and compute: the weight and buffer bytes it reads, and each GEMM's FLOPs.

A roofline floors a call's latency at max(bytes / read rate, FLOPs / GEMM rate) (`ftax.read.roofline`). Its two
inputs are properties of a model and an input shape, so they are counted here once per shape, on the call itself,
under a dispatch mode that sees every aten op:

- bytes: each parameter and buffer whose storage an op takes as input, counted once per call (a tied weight read
  by the embedding and by the LM head is one storage), split into parameters (`weight_bytes`) and buffers
  (`buffer_bytes`: a decode step's static KV cache, which attention reads whole). A gather (an embedding lookup)
  reads only the rows it returns, so its table is not counted, its output is (`gathered_bytes`). Activations are
  not counted: a floor counts only what cannot be avoided, and at decode they are tiny next to the weights.
- FLOPs: per call of every op `torch.utils.flop_counter` has a formula for (matrix products, attention), by
  that formula, kept per call (`gemm_flops`): the probe's GEMM rate depends on the work per call
  (`ftax.measure.probe.Probe.gflops_at`), and a mean over a step's calls would hide its small ones.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import torch

_GATHERS = frozenset({"embedding", "index_select", "take"})  # ops that read only the rows of a table they return
_PRICED_AS = {"_scaled_dot_product_flash_attention_for_cpu": torch.ops.aten._scaled_dot_product_flash_attention}


@dataclass(frozen=True)
class StepWork:
    """One call's unavoidable traffic and work. `gemm_flops`: (FLOPs of one call, how many calls), by FLOPs."""

    weight_bytes: int
    buffer_bytes: int
    gathered_bytes: int
    gemm_flops: tuple[tuple[float, int], ...]

    @property
    def bytes_read(self) -> int:
        return self.weight_bytes + self.buffer_bytes + self.gathered_bytes

    @property
    def flops(self) -> float:
        return float(sum(f * n for f, n in self.gemm_flops))

    def to_dict(self) -> dict:
        return {"weight_bytes": self.weight_bytes, "buffer_bytes": self.buffer_bytes,
                "gathered_bytes": self.gathered_bytes, "gemm_flops": [list(x) for x in self.gemm_flops]}

    @classmethod
    def from_dict(cls, data: dict) -> "StepWork":
        return cls(int(data["weight_bytes"]), int(data["buffer_bytes"]), int(data["gathered_bytes"]),
                   tuple((float(f), int(n)) for f, n in data["gemm_flops"]))


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def step_work(module: torch.nn.Module, inputs: tuple) -> StepWork:
    """`StepWork` of one call `module(*inputs)`, counted under a dispatch mode (no_grad, as
    `ftax.measure.counting.count_ops`, so that linear reaches the mode decomposed into its matrix product)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
    from torch.utils.flop_counter import flop_registry

    params = {_storage(p): p.untyped_storage().nbytes() for p in module.parameters()}
    buffers = {_storage(b): b.untyped_storage().nbytes() for b in module.buffers()}

    class Reads(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.read: set[int] = set()
            self.gathered = 0
            self.gemms: collections.Counter[float] = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            if packet.__name__ in _GATHERS:
                self.gathered += sum(t.numel() * t.element_size() for t in tree_leaves(out)
                                     if isinstance(t, torch.Tensor))
                tensors = [t for t in tensors if not t.is_floating_point()]  # the indices, never the table
            self.read.update(s for s in map(_storage, tensors) if s in params or s in buffers)
            formula = flop_registry.get(_PRICED_AS.get(packet.__name__, packet))
            if formula is not None:
                self.gemms[float(formula(*args, **kwargs, out_val=out))] += 1
            return out

    reads = Reads()
    with torch.no_grad(), reads:
        module(*inputs)
    return StepWork(weight_bytes=sum(params[s] for s in reads.read if s in params),
                    buffer_bytes=sum(buffers[s] for s in reads.read if s in buffers and s not in params),
                    gathered_bytes=reads.gathered, gemm_flops=tuple(sorted(reads.gemms.items())))
