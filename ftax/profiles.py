"""Profiles: which grids each case study measures at `smoke`, `quick` and `full`.

Profiles only choose grids and stopping rules; the code path is the same for all three.
- `smoke`: seconds, for tests (tiny models, two batch sizes, loose stopping).
- `quick`: the default `make book` on a 2-core CPU, about 10 minutes for the whole book.
  Models are chosen so that a CPU reaches both regimes: the tiny BERTs are framework-bound
  at batch 1, and BERT-base at sequence 32 turns compute-bound within a few items.
- `full`: the paper's grids (batch 1..512, sequence 16..512 where the model allows), meant
  for a GPU.

Studies share configs where they can (e.g. `hardware` reuses `framework-bound`'s batch
sweep), so a config is measured once and resumed everywhere else.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from ftax import backends, models
from ftax.errors import InvalidConfigError
from ftax.results import MeasureConfig
from ftax.timing import StopRule

STUDIES = ("framework-bound", "paradigms", "model-design", "hardware", "where-time-goes")
PROFILES = ("smoke", "quick", "full")
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

    def configs(self) -> list[MeasureConfig]:
        device = backends.resolve_device(self.device)
        return [MeasureConfig(m, b, d, device, bs, s, o)
                for m, o, d, b, s, bs in itertools.product(self.models, self.overrides, self.dtypes,
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
        backends.resolve_device(self.device)
        for label, values in (("batch_sizes", self.batch_sizes), ("seq_lens", self.seq_lens)):
            if not values:
                raise InvalidConfigError(f"{label} is empty")
            for value in values:
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise InvalidConfigError(f"{label} must hold positive integers, got {value!r}")
        if not self.models or not self.backends or not self.dtypes:
            raise InvalidConfigError(f"grid {self.name!r} needs at least one model, backend and dtype")


def pow2(low: int, high: int) -> tuple[int, ...]:
    return tuple(2 ** i for i in range(low.bit_length() - 1, high.bit_length()) if low <= 2 ** i <= high)


def _width_depth(widths: Iterable[int], depths: Iterable[int]) -> tuple[Overrides, ...]:
    return tuple((("depth", d), ("width", w)) for w in widths for d in depths)


RULES = {
    "smoke": StopRule(warmup_iters=2, warmup_time_s=0.0, warmup_max_s=0.2, min_iters=5, min_time_s=0.02,
                      max_time_s=0.1, target_rel_ci=0.1, pipelined_calls=3, pipelined_rounds=2, pipelined_max_s=0.1),
    "quick": StopRule(warmup_iters=3, warmup_time_s=0.05, warmup_max_s=1.0, min_iters=7, min_time_s=0.1,
                      max_time_s=0.6, target_rel_ci=0.03, pipelined_calls=5, pipelined_rounds=3, pipelined_max_s=0.3),
    "full": StopRule(),
}

_EFFICIENT = ("bert-base", "distilbert", "squeezebert", "mobilebert")
_ENCODERS_FULL = ("bert-base", "roberta-base", "distilbert", "squeezebert", "mobilebert", "deberta-base",
                  "gpt2", "bert-tiny", "bert-mini", "bert-small", "bert-medium")
_ALL_BACKENDS = tuple(backends.names())


def _grids(profile: str, study: str) -> list[Grid]:
    """The profile's grids for one study, before user overrides."""
    if profile == "smoke":
        tiny = dict(models=("bert-tiny",), batch_sizes=(1, 4), seq_lens=(16,))
        return {
            "framework-bound": [Grid("batch", **tiny)],
            "paradigms": [Grid("paradigms", backends=("eager", "torchscript", "onnxruntime"), **tiny)],
            "model-design": [Grid("width-depth", models=("bert-base",), batch_sizes=(1, 4), seq_lens=(16,),
                                  overrides=_width_depth((64, 128), (1, 2))),
                             Grid("efficient", models=("bert-tiny", "synthetic-linear"), batch_sizes=(1,),
                                  seq_lens=(16,))],
            "hardware": [Grid("batch", **tiny)],
            "where-time-goes": [Grid("decompose", backends=("eager", "torchscript"), decompose=True, **tiny)],
        }[study]
    if profile == "quick":
        tiny_batch = dict(models=("bert-tiny", "bert-mini"), batch_sizes=pow2(1, 64), seq_lens=(128,))
        return {
            "framework-bound": [
                Grid("batch", dtypes=("fp32",), **tiny_batch),
                Grid("batch-fp16", models=("bert-tiny",), dtypes=("fp16", "bf16"), batch_sizes=pow2(1, 64),
                     seq_lens=(128,)),
                Grid("batch-base", models=("bert-base",), batch_sizes=pow2(1, 8), seq_lens=(32,)),
                Grid("seq", models=("bert-tiny", "bert-mini"), batch_sizes=(1,), seq_lens=pow2(16, 512)),
                Grid("cnn", models=("mobilenet-v2",), batch_sizes=pow2(1, 16), seq_lens=(224,)),
                Grid("speech", models=("wav2vec2-base",), batch_sizes=pow2(1, 4), seq_lens=(50,)),
            ],
            "paradigms": [Grid("paradigms", backends=_ALL_BACKENDS, models=("bert-tiny",), batch_sizes=pow2(1, 64),
                               seq_lens=(128,))],
            "model-design": [
                Grid("width-depth", models=("bert-base",), batch_sizes=(1, 16), seq_lens=(32,),
                     overrides=_width_depth((128, 256, 512), (2, 4, 8))),
                Grid("efficient", models=_EFFICIENT, batch_sizes=(1, 8), seq_lens=(32,)),
            ],
            "hardware": [Grid("batch", dtypes=("fp32",), **tiny_batch),
                         Grid("batch-base", models=("bert-base",), batch_sizes=pow2(1, 8), seq_lens=(32,))],
            "where-time-goes": [Grid("decompose", backends=("eager", "torchscript", "compile"), models=("bert-tiny",),
                                     batch_sizes=pow2(1, 64), seq_lens=(128,), decompose=True)],
        }[study]
    batches = pow2(1, 512)
    return {
        "framework-bound": [
            Grid("batch", models=_ENCODERS_FULL, dtypes=("fp32", "fp16"), batch_sizes=batches, seq_lens=(128,)),
            Grid("seq", models=_ENCODERS_FULL, dtypes=("fp32", "fp16"), batch_sizes=(1,), seq_lens=pow2(16, 512)),
            Grid("cnn", models=("resnet-50", "mobilenet-v2", "vit-base"), dtypes=("fp32", "fp16"),
                 batch_sizes=batches, seq_lens=(224,)),
            Grid("speech", models=("wav2vec2-base",), dtypes=("fp32", "fp16"), batch_sizes=pow2(1, 64),
                 seq_lens=(50,)),
        ],
        "paradigms": [Grid("paradigms", backends=_ALL_BACKENDS, models=("bert-base", "bert-tiny"),
                           dtypes=("fp32", "fp16"), batch_sizes=batches, seq_lens=(128,))],
        "model-design": [
            Grid("width-depth", models=("bert-base",), batch_sizes=(1, 64), seq_lens=(128,),
                 overrides=_width_depth((128, 256, 512, 768, 1024), (1, 2, 4, 8, 12, 24))),
            Grid("efficient", models=_EFFICIENT + ("longformer-base", "reformer", "ibert"),
                 batch_sizes=(1, 64), seq_lens=(128,)),
        ],
        "hardware": [Grid("batch", models=("bert-base", "bert-tiny"), dtypes=("fp32", "fp16"), batch_sizes=batches,
                          seq_lens=(128,))],
        "where-time-goes": [Grid("decompose", backends=("eager", "torchscript", "compile", "cudagraph"),
                                 models=("bert-base", "bert-tiny"), batch_sizes=batches, seq_lens=(128,),
                                 decompose=True)],
    }[study]


def study_grids(study: str, profile: str = "quick", device: str = "auto", models: Sequence[str] | None = None,
                backends: Sequence[str] | None = None, dtypes: Sequence[str] | None = None,
                batch_sizes: Sequence[int] | None = None, seq_lens: Sequence[int] | None = None) -> list[Grid]:
    """The grids of `study` at `profile`, with any given value replacing the profile's everywhere.

    Every name and size is validated here, so a bad notebook parameter fails before measuring.
    """
    if study not in STUDIES:
        raise InvalidConfigError(f"unknown study {study!r}; allowed: {', '.join(STUDIES)}")
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    given = {"models": models, "backends": backends, "dtypes": dtypes, "batch_sizes": batch_sizes,
             "seq_lens": seq_lens}
    changes = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InvalidConfigError(f"{key} must be a list, got {value!r}")
        changes[key] = tuple(value)
    grids = [replace(g, device=device, rule=RULES[profile], **changes) for g in _grids(profile, study)]
    for grid in grids:
        grid.validate()
    return grids


def study_configs(grids: Iterable[Grid]) -> list[MeasureConfig]:
    """All configs of `grids` without duplicates, in grid order."""
    return list(dict.fromkeys(c for g in grids for c in g.configs()))
