"""Counting one eager forward: FLOPs, GEMM calls, writes and their sizes, on tiny hand-built modules."""
from __future__ import annotations

import torch

from ftax.measure import counting


def test_gemm_calls_count_the_ops_that_do_the_flops():
    stack = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    assert counting.count_ops(stack, (torch.randn(2, 8),)).gemm_calls == 2


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    layer = torch.nn.Linear(8, 4)
    assert counting.count_flops(layer, (torch.randn(2, 8),)) == 2 * 2 * 8 * 4


class _Fails(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("cannot run")


def test_a_forward_that_cannot_run_has_no_counts():
    assert counting.count_flops(_Fails(), (torch.randn(1),)) is None
    assert counting.count_ops(_Fails(), (torch.randn(1),)) is None
