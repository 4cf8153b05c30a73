"""Check a backend's output against fp32 eager's on the same input, within the dtype's tolerance.

A fast but wrong backend must not read as a speedup: the runner compares each prepared backend's output with
fp32 eager's on the same input (a twin with the same weights, for half precision), stores the verdict with the
record (`parity`), and names a failure in the record's message.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Parity tolerance on max |backend - eager|, relative to max |eager| (the output's own scale, so a
# tiny output cannot hide a 100% error): reduced-precision formats reorder and fuse differently,
# so they get room proportional to their epsilon.
PARITY_TOLERANCE: dict[str, float] = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 1e-1}


@dataclass(frozen=True)
class Parity:
    """How far a backend's output is from the reference, the tolerance it was held to, and the verdict."""

    max_abs_diff: float
    tolerance: float
    ok: bool


def check_parity(output: torch.Tensor, reference: torch.Tensor, dtype: str) -> Parity:
    """Compare a backend's output with eager's on the same input, within the dtype's tolerance."""
    out, ref = output.detach().float().cpu(), reference.detach().float().cpu()
    if out.shape != ref.shape:
        return Parity(max_abs_diff=float("inf"), tolerance=PARITY_TOLERANCE[dtype], ok=False)
    diff = (out - ref).abs().max().item() if ref.numel() else 0.0
    scale = ref.abs().max().item() if ref.numel() else 0.0
    tolerance = PARITY_TOLERANCE[dtype] * (scale if scale > 0 else 1.0)
    return Parity(max_abs_diff=diff, tolerance=tolerance, ok=bool(diff <= tolerance))
