"""Synthetic layer stacks: the same op repeated `depth` times at `width`, a floor for what one op costs.

Baselines for the model registry (`ftax.run.models`): with nothing but one kind of op, the cost per
op and its growth with width are easy to read off. Each builder takes the sizes dict
(width, depth, heads) and returns a module that maps (batch, seq, width) to the same shape.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class _Stack(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _Conv1dBlock(nn.Module):
    """Conv over the sequence axis of a (batch, seq, width) tensor."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class _MhaBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class _Lstm(nn.Module):
    def __init__(self, width: int, depth: int):
        super().__init__()
        self.lstm = nn.LSTM(width, width, num_layers=depth, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


SYNTHETIC_LAYERS: dict[str, Callable[[dict], nn.Module]] = {
    "synthetic-linear": lambda c: _Stack([nn.Linear(c["width"], c["width"]) for _ in range(c["depth"])]),
    "synthetic-conv": lambda c: _Stack([_Conv1dBlock(c["width"]) for _ in range(c["depth"])]),
    "synthetic-layernorm": lambda c: _Stack([nn.LayerNorm(c["width"]) for _ in range(c["depth"])]),
    "synthetic-mha": lambda c: _Stack([_MhaBlock(c["width"], c["heads"]) for _ in range(c["depth"])]),
    "synthetic-lstm": lambda c: _Lstm(c["width"], c["depth"]),
}
SYNTHETIC_DEFAULTS = {"width": 768, "depth": 12, "heads": 12}
