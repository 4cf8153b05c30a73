"""Which rows of a loaded frame a grid holds: each grid's configs as the frame's config columns, on any machine.

The study layer expands its grids into configs once (`ftax.study.studies`) and hands the read layer this plain
data, so a page selects a grid's rows with pandas alone: no grid type, no device resolved (torch), no config
expanded twice. A config is named by its columns without machine or device (a grid's `auto` device resolves
differently per machine, and a study shows every machine's records of the same configs), which is why a
`config_key`, which hashes the machine, is not the key here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from ftax.store.results import MeasureConfig, overrides_json

# A config as the frame's columns name it: model, backend, dtype, batch_size, seq_len, overrides (JSON), phase.
ConfigColumns = tuple[str, str, str, int, int, str, str]


def config_columns(config: MeasureConfig) -> ConfigColumns:
    """`config` as the loaded frame's columns hold it, machine and device left out."""
    return (config.model, config.backend, config.dtype, config.batch_size, config.seq_len,
            overrides_json(dict(config.overrides)), config.phase)


@dataclass(frozen=True)
class GridRows:
    """One grid as a page selects rows by it: its `name`, the fields it `sweeps` (those holding more than one
    value, e.g. "batch_sizes"), and its `configs` as `config_columns`."""

    name: str
    sweeps: frozenset[str]
    configs: frozenset[ConfigColumns]


def rows_with(frame: pd.DataFrame, configs: Iterable[ConfigColumns]) -> pd.DataFrame:
    """Rows of a loaded frame whose config is one of `configs` (`config_columns`), on any machine and device, in
    the frame's order; a frame without a `phase` column holds forward passes."""
    wanted = set(configs)
    if frame.empty or not wanted:
        return frame.iloc[0:0]
    phases = frame["phase"] if "phase" in frame else ["forward"] * len(frame)
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"], phases)
    return frame[[key in wanted for key in keys]].reset_index(drop=True)
