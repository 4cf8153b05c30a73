"""The grid type: a cartesian product of configs (`Grid`), its validation, and the configs of several grids.

Every study, grid file and `ftax sweep` flag set ends as a list of `Grid`s, so what a config may be is
checked in one place (`Grid.validate`, before anything runs) and a config two grids share is measured
once (`study_configs`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable

from ftax.run import backends, models
from ftax.store import schema
from ftax.measure.devices import resolve_device
from ftax.store.errors import InvalidConfigError
from ftax.store.schema import MeasureConfig
from ftax.measure.timing import StopRule

Overrides = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Grid:
    """A cartesian product of configs, in a stable order that keeps one model's configs together
    (model, overrides, dtype outermost) so a sweep builds each model once."""

    name: str
    models: tuple[str, ...]
    backends: tuple[str, ...] = ("eager",)
    dtypes: tuple[str, ...] = ("fp32",)
    batch_sizes: tuple[int, ...] = (1,)
    seq_lens: tuple[int, ...] = (128,)
    overrides: tuple[Overrides, ...] = ((),)
    device: str = "auto"
    rule: StopRule = field(default_factory=StopRule)
    decompose: bool = False
    phases: tuple[str, ...] = ("forward",)  # schema.PHASES: decoders also time prefill and decode steps
    tier: str = ""  # priority tier (`ftax.plan.schedule`): `ftax.study.tiered_run` measures tiers in the order grids list them

    def configs(self) -> list[MeasureConfig]:
        device = resolve_device(self.device)
        return [MeasureConfig(m, b, d, device, bs, s, o, p)
                for m, o, d, p, b, s, bs in itertools.product(self.models, self.overrides, self.dtypes, self.phases,
                                                              self.backends, self.seq_lens, self.batch_sizes)]

    def validate(self) -> None:
        """Names must exist and values must be positive integers; raised before anything runs."""
        for model in self.models:
            spec = models.get_spec(model)
            for over in self.overrides:
                models.validate_overrides(spec, dict(over))
        for backend in self.backends:
            backends.check_name(backend)
        for dtype in self.dtypes:
            backends.dtype_of(dtype)
        for phase in self.phases:
            if phase not in schema.PHASES:
                raise InvalidConfigError(f"unknown phase {phase!r}; allowed: {', '.join(schema.PHASES)}")
        resolve_device(self.device)
        for label, values in (("batch_sizes", self.batch_sizes), ("seq_lens", self.seq_lens)):
            if not values:
                raise InvalidConfigError(f"{label} is empty")
            for value in values:
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise InvalidConfigError(f"{label} must hold positive integers, got {value!r}")
        if not self.models or not self.backends or not self.dtypes:
            raise InvalidConfigError(f"grid {self.name!r} needs at least one model, backend and dtype")


def pow2(low: int, high: int) -> tuple[int, ...]:
    """The powers of two from `low` to `high`, both included when they are powers: the grids' batch and
    sequence axes, which the paper sweeps in doublings."""
    return tuple(2 ** i for i in range(low.bit_length() - 1, high.bit_length()) if low <= 2 ** i <= high)


def study_configs(grids: Iterable[Grid]) -> list[MeasureConfig]:
    """All configs of `grids` without duplicates, in grid order."""
    return list(dict.fromkeys(c for g in grids for c in g.configs()))
