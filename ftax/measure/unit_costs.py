"""Price the host's units of work on this machine: a module call, a torch call, an aten op replayed on meta.

The bottom-up model of the host time (`ftax.read.bottom_up`) multiplies each count of `ftax.measure.host_counts` by
one of these prices. Each is timed by `ftax.measure.timing.measure` (warm-up, adaptive stopping, the median and its
95% interval), under `torch.inference_mode()` as the forwards are, on one thread of the calling process. What each
prices:

- `module_call`: `m(x)` for an `nn.Module` whose forward returns its input, x a 1-element fp32 CPU tensor: the
  machinery of `nn.Module.__call__` (its hook checks, its Python frames) with nothing inside the forward.
- `torch_call`: `torch.add(x, 1)` on that tensor: the Python binding's argument parsing, the dispatcher, a kernel
  with one element of work and a 1-element output: one torch call where the work vanishes.
- an aten op: one captured (op, shapes) call (`host_counts.ReplayCall`) replayed on the `meta` device: the op's call
  from Python, the dispatcher and the op's shape logic (a meta output, no data, no kernel). A composite op that
  reaches the dispatcher whole (`linear`, `layer_norm` under inference mode) replays its decomposition, so its
  price covers its children's dispatch too. An op with no meta kernel, or one that needs data (`is_nonzero`,
  `item`), has no price: its error says why. Where an op's Meta kernel is a Python reference (`torch._refs`,
  `torch._meta_registrations`), the replay prices that Python too, which the same op on a CPU tensor never runs:
  `UnitCost.python_calls` counts the Python frames one replay enters, so a reader sees which prices carry it.
- an aten op on the CPU: the same call replayed on the forward's own CPU tensors: the dispatcher, the shape logic,
  the allocation of its output and its kernel. For a view or a reshape that is all host work; for a composite that
  the profiler counts as host (`linear`) it includes its children's kernels, so it bounds that op's host work above.
- the framework with no math (`meta_forward`): the whole forward with the module and its inputs on meta, timed as
  one call; where it fails the reason names the line of the model's code that needed data.

Why a sample is `CALLS_PER_SAMPLE` units back to back: a unit costs a few microseconds, and the clock reads and the
sync of `timing.timed_call` around one call cost a few tenths of one; the timing loop, warm-up, stopping and
statistics stay `timing.measure`'s, and the per-unit figures are the sample's divided by the calls in it.
"""
from __future__ import annotations

import sys
import traceback
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import torch

from ftax.measure.host_counts import ReplayCall
from ftax.measure.timing import StopRule, Timing, measure

CALLS_PER_SAMPLE = 20
UNIT_RULE = StopRule(name="unit-costs", warmup_iters=3, warmup_time_s=0.01, warmup_max_s=0.2, min_iters=20,
                     min_time_s=0.05, max_time_s=0.2, target_rel_ci=0.02, pipelined_calls=1, pipelined_rounds=1,
                     pipelined_max_s=0.01)
FORWARD_RULE = StopRule(name="meta-forward", warmup_iters=3, warmup_time_s=0.05, warmup_max_s=1.0, min_iters=10,
                        min_time_s=0.2, max_time_s=1.0, target_rel_ci=0.02, pipelined_calls=1, pipelined_rounds=1,
                        pipelined_max_s=0.01)


@dataclass(frozen=True)
class UnitCost:
    """One unit's price in ms per call: the median over samples and its 95% interval, `n` samples of `calls` units
    each; `error` (and no price) when the unit could not run."""

    name: str
    median_ms: float | None
    ci_low_ms: float | None
    ci_high_ms: float | None
    n: int
    calls: int
    error: str | None = None
    python_calls: int | None = None  # Python frames one unit runs (sys.setprofile): a meta kernel written in Python

    def to_dict(self) -> dict:
        return asdict(self)


class _Empty(torch.nn.Module):
    """A module whose forward does nothing: calling it costs `nn.Module.__call__` alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def failure_reason(error: BaseException) -> str:
    """One line: the error's type and first line, and the innermost frame outside torch (the model code that made
    the call), where there is one."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/torch/" not in f.filename]
    where = f" (at {frames[-1].filename.rsplit('/', 2)[-1]}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}{where}"


def python_calls(unit: Callable[[], Any]) -> int:
    """Python frames entered during one call of `unit` (its own frame and the caller's exit aside): zero for a
    unit that stays in C++ below its entry, tens for an op whose meta kernel is a Python reference
    (`torch._refs`, `torch._meta_registrations`)."""
    entered = [0]

    def profile(_frame: object, event: str, _arg: object) -> None:
        entered[0] += event == "call"

    sys.setprofile(profile)
    try:
        unit()
    finally:
        sys.setprofile(None)
    return max(0, entered[0] - 1)


def _cost(name: str, unit: Callable[[], Any], rule: StopRule, calls: int) -> UnitCost:
    """`unit` priced under `rule`, `calls` units per sample; an error in a first, untimed call gives no price."""
    try:
        with torch.inference_mode():
            unit()
            frames = python_calls(unit)
    except Exception as error:  # noqa: BLE001 -- a unit that cannot run is reported, not fatal
        return UnitCost(name, None, None, None, 0, calls, failure_reason(error))

    def batch() -> None:
        for _ in range(calls):
            unit()

    with torch.inference_mode():
        timing: Timing = measure(batch, rule)
    s = timing.stats
    return UnitCost(name, s.median_ms / calls, s.ci_low_ms / calls, s.ci_high_ms / calls, s.n, calls,
                    python_calls=frames)


def micro_costs(rule: StopRule = UNIT_RULE, calls: int = CALLS_PER_SAMPLE) -> list[UnitCost]:
    """The module-call and torch-call prices (see the module docstring for what each covers)."""
    module = _Empty()
    with torch.inference_mode():
        x = torch.ones(1)
    return [_cost("module_call", lambda: module(x), rule, calls),
            _cost("torch_call", lambda: torch.add(x, 1), rule, calls)]


def replay_costs(replays: Sequence[ReplayCall], names: Sequence[str], rule: StopRule = UNIT_RULE,
                 calls: int = CALLS_PER_SAMPLE) -> list[UnitCost]:
    """Each captured op replayed (on meta or on the CPU, as captured) and priced; `names[i]` labels `replays[i]`."""
    if len(replays) != len(names):
        raise ValueError(f"{len(replays)} replays but {len(names)} names")
    return [_cost(name, replay, rule, calls) for replay, name in zip(replays, names)]


def meta_forward(module: torch.nn.Module, variants: Sequence[tuple[str, tuple]],
                 rule: StopRule = FORWARD_RULE) -> list[UnitCost]:
    """The forward with no math: `module` moved to meta (in place: the caller's weights are gone after) and timed
    on each (label, inputs) variant, its inputs moved to meta too; a variant that fails says why (`error`)."""
    module.to("meta")
    costs = []
    for label, inputs in variants:
        on_meta = tuple(t.to("meta") if isinstance(t, torch.Tensor) else t for t in inputs)
        costs.append(_cost(label, lambda: module(*on_meta), rule, 1))
    return costs
