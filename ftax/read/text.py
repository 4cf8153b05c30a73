"""Text building blocks of every page: measured numbers, lists in prose, Markdown tables.

The lowest module of the read layer, so findings, captions and the validation appendix format
numbers one way (a figure's caption and the appendix's table print the same value alike).
"""
from __future__ import annotations

import math
from typing import Sequence


def sig(value: float | None, digits: int = 3) -> str:
    """A measured value to `digits` significant digits, never in exponent notation: 0.0123, 4.56, 1,230,
    0.000000161 (the validation appendix's empty callable takes a tenth of a microsecond, in ms)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 10 ** (digits - 1):
        return f"{rounded:,.0f}"
    if rounded == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")


def join(items: Sequence[str], empty: str = "none") -> str:
    """'a', 'a and b', 'a, b and c'; `empty` for no items."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def plural(n: int, noun: str) -> str:
    """'1 machine', '2 machines'."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: one header row, one row per item (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])
