"""Count the host work of one eager forward: its module calls, its torch calls and its aten ops by shape.

These are the counts the bottom-up model of the host time (`ftax.read.bottom_up`) prices with the unit costs of
`ftax.measure.unit_costs`. Each comes from the hook torch offers for its level, under `torch.inference_mode()` as the
timed forward runs (the mode changes what reaches the dispatcher: under it `linear` arrives whole, not as `t` and
`addmm`):

- module calls: a global forward hook (`torch.nn.modules.module.register_module_forward_hook`), one per finished
  `nn.Module.__call__`, the wrapper around the model included;
- torch calls: a `torch.overrides.TorchFunctionMode`, one per call of the torch API from Python (functions, Tensor
  methods and operators, `torch.nn.functional`); torch turns the mode off inside its handler, so a torch call made
  by another (F.layer_norm calling torch.layer_norm) is not counted twice;
- aten ops: a `torch.utils._python_dispatch.TorchDispatchMode`, one per op that reaches the dispatcher, grouped by
  (op, the shapes, dtypes and strides of its tensor arguments, its other arguments). For each distinct group one
  call is kept twice: with its tensors remade on the `meta` device, so `ftax.measure.unit_costs` can replay it with
  the dispatcher and the shape logic but no kernel, and with the forward's own CPU tensors, to replay it whole.

Each op also says whether the CPU profiler's split (`ftax.measure.decompose.is_cpu_compute`) counts its self time as
busy time: a bottom-up model compared with the ledger's host time (wall - busy) leaves those ops' pricing out.
"""
from __future__ import annotations

import collections
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode, resolve_name
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from ftax.measure.decompose import is_cpu_compute

_DTYPE_SHORT = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.float64: "f64",
                torch.int64: "i64", torch.int32: "i32", torch.bool: "b8", torch.uint8: "u8", torch.int8: "i8"}


@dataclass(frozen=True)
class OpShape:
    """One distinct aten op of a forward: `op` (`aten.addmm.default`), `signature` (its arguments, each tensor as
    dtype[shape] with its strides when not contiguous), how many times one forward calls it, and `busy`: whether
    the CPU profiler's split counts its self time as busy time rather than host time."""

    op: str
    signature: str
    count: int
    busy: bool


@dataclass(frozen=True)
class ReplayCall:
    """One captured call of an op with its tensors remade on `meta` (same shapes, strides and dtypes, no data) and
    any `device` argument set to `meta`, so calling it runs the dispatcher and the op's shape logic only."""

    func: Callable[..., Any]
    args: tuple
    kwargs: dict

    def __call__(self) -> Any:
        return self.func(*self.args, **self.kwargs)


@dataclass(frozen=True)
class HostCounts:
    """What one eager forward does on the host that can be counted: `module_calls`, `torch_calls` (by name in
    `torch_call_names`, most frequent first), `aten_ops` (the total) and `ops`, the distinct (op, signature) with
    their counts. `replays[i]` replays `ops[i]` on meta, `cpu_replays[i]` on the forward's own CPU tensors (it holds
    them); both are kept in memory only (`to_dict` leaves them out)."""

    module_calls: int
    torch_calls: int
    aten_ops: int
    ops: tuple[OpShape, ...]
    torch_call_names: tuple[tuple[str, int], ...] = ()
    replays: tuple[ReplayCall, ...] = field(default=(), repr=False, compare=False)
    cpu_replays: tuple[ReplayCall, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("replays")
        data.pop("cpu_replays")
        data["ops"] = [asdict(o) for o in self.ops]
        data["torch_call_names"] = [list(pair) for pair in self.torch_call_names]
        return data


def _tensor_text(t: torch.Tensor) -> str:
    dtype = _DTYPE_SHORT.get(t.dtype, str(t.dtype).removeprefix("torch."))
    text = f"{dtype}[{','.join(map(str, t.shape))}]"
    return text if t.is_contiguous() else f"{text}/s({','.join(map(str, t.stride()))})"


def signature(args: tuple, kwargs: dict) -> str:
    """An op's arguments as text: tensors by dtype, shape (and strides when not contiguous), the rest by repr."""
    def describe(a: object) -> object:
        return _Text(_tensor_text(a)) if isinstance(a, torch.Tensor) else a
    shown = tree_map(describe, (list(args), kwargs))
    text = ", ".join(map(repr, shown[0]))
    return text + ("".join(f", {k}={v!r}" for k, v in shown[1].items()) if shown[1] else "")


class _Text(str):
    """A string whose repr is itself, so a tensor's description reads `f32[2,4]`, not `'f32[2,4]'`."""

    def __repr__(self) -> str:
        return str(self)


def to_meta(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The arguments with each tensor remade on meta (`empty_strided`: shape, strides, dtype; no storage offset)
    and every `torch.device` set to meta."""
    def move(a: object) -> object:
        if isinstance(a, torch.Tensor):
            return torch.empty_strided(tuple(a.shape), tuple(a.stride()), dtype=a.dtype, device="meta")
        if isinstance(a, torch.device):
            return torch.device("meta")
        return a
    moved_args, moved_kwargs = tree_map(move, (list(args), dict(kwargs)))
    if "device" in moved_kwargs and moved_kwargs["device"] is not None:
        moved_kwargs["device"] = torch.device("meta")
    return tuple(moved_args), moved_kwargs


class _TorchCalls(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.names: collections.Counter[str] = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names[resolve_name(func) or getattr(func, "__name__", repr(func))] += 1
        return func(*args, **(kwargs or {}))


class _AtenOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.busy: dict[tuple[str, str], bool] = {}
        self.replays: dict[tuple[str, str], ReplayCall] = {}
        self.cpu_replays: dict[tuple[str, str], ReplayCall] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        key = (str(func), signature(args, kwargs))
        if key not in self.counts:
            self.busy[key] = is_cpu_compute(func._schema.name)
            self.replays[key] = ReplayCall(func, *to_meta(args, kwargs))
            self.cpu_replays[key] = ReplayCall(func, tuple(args), dict(kwargs))
        self.counts[key] += 1
        return func(*args, **kwargs)


def count_host(module: torch.nn.Module, inputs: tuple) -> HostCounts:
    """`HostCounts` of one forward of `module(*inputs)` under `torch.inference_mode()`. The forward runs once, with
    the hook and both modes on; an error in it propagates (a model that cannot run has nothing to count)."""
    module_calls = [0]

    def hook(_module: torch.nn.Module, _inputs: object, _output: object) -> None:
        module_calls[0] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    calls, ops = _TorchCalls(), _AtenOps()
    try:
        with torch.inference_mode(), calls, ops:
            module(*inputs)
    finally:
        handle.remove()
    keys = list(ops.counts)
    return HostCounts(module_calls=module_calls[0], torch_calls=sum(calls.names.values()),
                      aten_ops=sum(ops.counts.values()),
                      ops=tuple(OpShape(op, sig, ops.counts[(op, sig)], ops.busy[(op, sig)]) for op, sig in keys),
                      torch_call_names=tuple(calls.names.most_common()),
                      replays=tuple(ops.replays[k] for k in keys),
                      cpu_replays=tuple(ops.cpu_replays[k] for k in keys))
