"""A stand-in for what `ftax.study.studies.open_study` returns, as far as the pages read it (tests of the pages build
their records by hand; nothing is measured)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ftax.study.studies import grid_rows


@dataclass
class FakeStudy:
    """`grid_rows` is computed from `grids` as `open_study` computes it; `device` is the resolved one."""

    frame: pd.DataFrame
    grids: list
    profile: str = "quick"
    machine_id: str = "a"
    results_dir: str = "results"
    summary: object = None
    all: pd.DataFrame = field(default_factory=pd.DataFrame)
    device: str = "cpu"
    grid_rows: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.grid_rows = grid_rows(self.grids)


def store_visits(path, visits: pd.DataFrame) -> None:
    """Append each row of a hand-built visits frame (model, backend, dtype, device, batch_size, seq_len,
    overrides, machine_id, status, median_ms, ci_low_ms, ci_high_ms, round, rule, timestamp) to the store at
    `path` as the record a sweep would write, so a test reads it back through `ftax.store.dataframe.load`."""
    import json

    from ftax.store import jsonl, schema

    for row in visits.to_dict("records"):
        config = schema.MeasureConfig.make(row["model"], row["backend"], row["dtype"], row["device"],
                                           int(row["batch_size"]), int(row["seq_len"]),
                                           json.loads(row.get("overrides") or "{}"))
        env = {"machine_id": row["machine_id"], "cpu_model": "Test CPU", "cpu_count": 2,
               "torch_version": row.get("env_torch_version", "2.0")}
        stats = {k: float(row[k]) for k in ("median_ms", "ci_low_ms", "ci_high_ms")}
        stamp = pd.Timestamp(row["timestamp"]).isoformat()
        round_, rule = row.get("round"), row.get("rule")
        jsonl.append(path, schema.Record(config=config, status=row["status"], message="", env=env, stats=stats,
                                         round=None if pd.isna(round_) else int(round_),
                                         rule=None if pd.isna(rule) else rule, timestamp=stamp))


def evaluate_every_claim(frame):
    """Every claim judged on one visits frame, as its input and as the premise's (the book instead gives each
    claim its own study's visits: `ftax.pages.claims.table`)."""
    from ftax.claims.table import CLAIM_FUNCTIONS, evaluate_claims

    return evaluate_claims(dict.fromkeys(CLAIM_FUNCTIONS, frame), frame)
