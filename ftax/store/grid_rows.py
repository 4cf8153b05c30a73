"""What a page selects a grid's rows by: the grid's name, the fields it sweeps, and its configs, as plain data.

The study layer expands its grids into configs once (`ftax.study.studies.grid_rows`) and hands the read layer
this, so a page selects a grid's rows with pandas alone (`ftax.store.dataframe.rows_matching`, which matches the
config columns on any machine and device): no grid type, no device resolved through torch, no grid expanded
twice. A `config_key` would not do as the key: it hashes the machine, and a study shows every machine's records
of the same configs.
"""
from __future__ import annotations

from dataclasses import dataclass

from ftax.store.schema import MeasureConfig


@dataclass(frozen=True)
class GridRows:
    """One grid as a page selects rows by it: its `name`, the fields it `sweeps` (those holding more than one
    value, e.g. "batch_sizes"), and its `configs` (the device as this machine resolved it, which the rows it
    selects need not share)."""

    name: str
    sweeps: frozenset[str]
    configs: tuple[MeasureConfig, ...]
