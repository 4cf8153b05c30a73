"""What the validation appendix measures, and the shape of its result.

It is shared by the measuring (`ftax.study.validation`, study layer) and the reading
(`ftax.appendix.validation_report`, `ftax.appendix.validation_plots`), so the read layer never imports the
module that measures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ftax.measure.timing import StopRule

SLEEP_S = 0.001
TOLERANCE = 0.05  # a method "disagrees" with ftax when its ratio to ftax's median is off 1 by more
METHODS = ("ftax", "torch-benchmark", "timeit-loop", "subprocess")
BACK_TO_BACK = ("torch-benchmark", "timeit-loop")  # time blocks of calls and report a per-call mean
KNOWN = ("empty", "sleep-1ms")  # the callables whose answer is known; the others run a model


@dataclass(frozen=True)
class Target:
    """A callable to validate on: a name and how to build it (also inside a fresh process)."""

    name: str
    model: str | None = None  # None: a plain Python callable (empty / sleep)
    backend: str = "eager"
    batch_size: int = 1
    seq_len: int = 16
    device: str = "cpu"


TARGETS = (
    Target("empty"),
    Target("sleep-1ms"),
    Target("bert-tiny eager", "bert-tiny"),
    Target("bert-tiny onnxruntime", "bert-tiny", "onnxruntime"),
    Target("bert-base eager", "bert-base"),
)
# Profiles choose sizes only: smoke leaves out bert-base (seconds to build and to call on a 2-core CPU).
PROFILE_TARGETS = {"smoke": TARGETS[:4], "quick": TARGETS, "full": TARGETS}
SENSITIVITY_TARGET = TARGETS[2]
CUDA_BATCH_SIZES = {"smoke": (1, 8), "quick": (1, 64), "full": (1, 8, 64, 256)}


@dataclass(frozen=True)
class ValidationPlan:
    """What `run` measures: the profile's targets and stopping rule on one device, `rounds` times."""

    profile: str
    device: str
    rounds: int
    rule: StopRule
    targets: tuple[Target, ...]



@dataclass
class ValidationRun:
    """Everything `validation.run_validation` measured (empty frames when it measured nothing)."""

    plan: ValidationPlan
    measured: bool
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    cuda: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    load_1m: tuple[float, float] = (float("nan"), float("nan"))  # at start and at end
    machine_label: str = ""  # the machine that measured it; "" for a run not stored yet (this machine)
    provenance: dict = field(default_factory=dict)  # machine_id, timestamp, host, torch, ftax, commit, stored
