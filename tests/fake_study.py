"""A stand-in for what `ftax.studies.open_study` returns, as far as the pages read it (tests of the pages build
their records by hand; nothing is measured)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class FakeStudy:
    frame: pd.DataFrame
    grids: list
    profile: str = "quick"
    machine_id: str = "a"
    results_dir: str = "results"
    summary: object = None
    all: pd.DataFrame = field(default_factory=pd.DataFrame)
