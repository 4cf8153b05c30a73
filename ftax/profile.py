"""Where the time goes: FLOPs of a forward and the profiler decomposition of wall time.

(Decomposition is filled in by the profiling issue; count_flops is complete.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

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


def decompose(call: Callable[[], object], device: str, steps: int = 5, trace_dir: Path | None = None,
              trace_name: str = "trace") -> dict:
    raise NotImplementedError("profile decomposition is not implemented yet")
