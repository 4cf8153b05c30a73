"""Studies: which grids each case study measures at each profile, and `open_study`, what a page calls.

Profiles (`smoke`, `quick`, `full`) only choose grids and stopping rules; the code path is the
same for all three.

- `smoke`: seconds, for tests (tiny models, two batch sizes, loose stopping).
- `quick`: the default `make book` on a 2-core CPU, about 10 minutes for the whole book.
  Models are chosen so that a CPU reaches both regimes: the tiny BERTs are framework-bound
  at batch 1, and BERT-base at sequence 32 turns compute-bound within a few items.
- `full`: the paper's grids (batch 1..512, sequence 16..512 where the model allows), meant
  for a GPU.

Studies share configs where they can (e.g. `hardware` reuses `framework-bound`'s batch
sweep), so a config is measured once and resumed everywhere else. A grid that shares configs with
`where-time-goes` decomposes them too (`paradigms`): otherwise the later page would measure their
round 0 again, alone, and a speedup would pair visits made minutes apart.

A notebook page makes one call, `open_study(...)`: it validates the page's parameters (papermill
passes list parameters as strings), measures what this machine has not stored yet, and loads
the study's records. A `ftax sweep --grid FILE` reads its YAML with `load_grid_file`.
"""
from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import yaml

import torch

from ftax import backends, measure_lock, models, results, sweep
from ftax.devices import resolve_device
from ftax.env import default_threads, fingerprint
from ftax.probe import PROBE_VERSION, Probe, run_probe
from ftax.errors import InvalidConfigError
from ftax.results import MeasureConfig
from ftax.runner import MeasureOptions
from ftax.timing import StopRule

STUDIES = ("framework-bound", "paradigms", "model-design", "hardware", "where-time-goes", "tax-model", "decode")
# Studies a run of their own measures (`ftax sweep --study NAME`), never the book's sweep (`measure_studies`,
# which takes STUDIES): the GPU reference run (`benchmarks/gpu_reference.sh`), planned and cut at a time budget
# by `ftax.plan`.
RUNS = ("gpu-reference",)
PROBES = "probes"  # results/probes/<machine_id>.jsonl: each machine's throughput probes (ftax.probe)
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
    phases: tuple[str, ...] = ("forward",)  # results.PHASES: decoders also time prefill and decode steps
    tier: str = ""  # priority tier (`ftax.plan`): a tiered run measures tiers in the order grids list them

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
            if phase not in results.PHASES:
                raise InvalidConfigError(f"unknown phase {phase!r}; allowed: {', '.join(results.PHASES)}")
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
    return tuple(2 ** i for i in range(low.bit_length() - 1, high.bit_length()) if low <= 2 ** i <= high)


def _width_depth(widths: Iterable[int], depths: Iterable[int]) -> tuple[Overrides, ...]:
    return tuple((("depth", d), ("width", w)) for w in widths for d in depths)


RULES = {
    "smoke": StopRule(name="smoke", warmup_iters=2, warmup_time_s=0.0, warmup_max_s=0.2, min_iters=5, min_time_s=0.02,
                      max_time_s=0.1, target_rel_ci=0.1, pipelined_calls=3, pipelined_rounds=2, pipelined_max_s=0.1),
    "quick": StopRule(name="quick", warmup_iters=3, warmup_time_s=0.05, warmup_max_s=1.0, min_iters=7, min_time_s=0.1,
                      max_time_s=0.6, target_rel_ci=0.03, pipelined_calls=5, pipelined_rounds=3, pipelined_max_s=0.3),
    "full": StopRule(name="full"),
}
# Rounds per profile: a sweep visits every config this many times, interleaved (see ftax.sweep), so
# an estimate's interval comes from the spread between rounds, where a shared machine's drift shows.
# Quick has 5: t_{0.975,4}/sqrt(5) is half of t_{0.975,2}/sqrt(3) (book/methodology.md; benchmarks/calibration.py).
ROUNDS = {"smoke": 1, "quick": 5, "full": 5}


def rounds_by_profile() -> str:
    """'smoke 1, quick 5, full 5': the rounds of each profile, as the pages' prose names them."""
    return ", ".join(f"{profile} {ROUNDS[profile]}" for profile in PROFILES)

_EFFICIENT = ("bert-base", "distilbert", "squeezebert", "mobilebert")
_ENCODERS_FULL = ("bert-base", "roberta-base", "distilbert", "squeezebert", "mobilebert", "deberta-base",
                  "gpt2", "bert-tiny", "bert-mini", "bert-small", "bert-medium")
# aot-inductor compiles one package per shape with gcc (minutes on a 2-core CPU), so the book's grids leave it out;
# a study that names it (decode) or a sweep's --backends measures it.
_ALL_BACKENDS = tuple(b for b in backends.names() if b != "aot-inductor")


def _grids(profile: str, study: str) -> list[Grid]:
    """The profile's grids for one study, before user overrides; the tax model's include the smallest shape
    of every other study's text-model curve."""
    if study == "gpu-reference":
        return _gpu_reference()
    return _listed_grids(profile, study) + (_smallest_shapes(profile) if study == "tax-model" else [])


def _listed_grids(profile: str, study: str) -> list[Grid]:
    """The grids each study names, per profile."""
    if profile == "smoke":
        tiny = dict(models=("bert-tiny",), batch_sizes=(1, 4), seq_lens=(16,))
        return {
            "framework-bound": [Grid("batch", **tiny)],
            "paradigms": [Grid("paradigms", backends=("eager", "torchscript", "onnxruntime"), decompose=True, **tiny)],
            "model-design": [Grid("width-depth", models=("bert-base",), batch_sizes=(1, 4), seq_lens=(16,),
                                  overrides=_width_depth((64, 128), (1, 2))),
                             Grid("efficient", models=("bert-tiny", "synthetic-linear"), batch_sizes=(1,),
                                  seq_lens=(16,))],
            "hardware": [Grid("batch", **tiny)],
            "where-time-goes": [Grid("decompose", backends=("eager", "torchscript"), decompose=True, **tiny)],
            "tax-model": [Grid("tax", backends=("eager", "torchscript"), decompose=True, **tiny),
                          Grid("tax-smallest", models=("bert-tiny",), backends=("eager", "torchscript"),
                               batch_sizes=(1,), seq_lens=(1,))],
            "decode": _decode_grids(models=("llama-small",), backends=("eager",), batch_sizes=(1, 2), seq_lens=(16,),
                                    forward=("eager", "torchscript")),
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
                               seq_lens=(128,), decompose=True)],
            "model-design": [
                Grid("width-depth", models=("bert-base",), batch_sizes=(1, 16), seq_lens=(32,),
                     overrides=_width_depth((128, 256, 512), (2, 4, 8))),
                Grid("efficient", models=_EFFICIENT, batch_sizes=(1, 8), seq_lens=(32,)),
            ],
            "hardware": [Grid("batch", dtypes=("fp32",), **tiny_batch),
                         Grid("batch-base", models=("bert-base",), batch_sizes=pow2(1, 8), seq_lens=(32,))],
            "where-time-goes": [Grid("decompose", backends=("eager", "torchscript", "compile"), models=("bert-tiny",),
                                     batch_sizes=pow2(1, 64), seq_lens=(128,), decompose=True)],
            "tax-model": [
                Grid("tax", models=("bert-tiny", "bert-mini"), backends=("eager", "torchscript"), batch_sizes=pow2(1, 64),
                     seq_lens=(128,), decompose=True),
                Grid("tax-base", models=("bert-base",), backends=("eager", "torchscript"), batch_sizes=pow2(1, 8),
                     seq_lens=(32,), decompose=True),
            ],
            "decode": _decode_grids(models=("llama-small", "gpt2"), backends=("eager", "compile", "aot-inductor"),
                                    batch_sizes=(1, 4, 16), seq_lens=(128,),
                                    forward=("eager", "torchscript", "onnxruntime", "aot-inductor")),
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
                           dtypes=("fp32", "fp16"), batch_sizes=batches, seq_lens=(128,), decompose=True)],
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
        "tax-model": [Grid("tax", models=("bert-tiny", "bert-mini", "bert-base"),
                           backends=("eager", "torchscript", "cudagraph"), batch_sizes=batches, seq_lens=(128,),
                           decompose=True)],
        "decode": _decode_grids(models=("llama-small", "gpt2"),
                                backends=("eager", "compile", "compile-reduce-overhead", "cudagraph", "aot-inductor"),
                                batch_sizes=pow2(1, 64), seq_lens=(128, 512),
                                forward=("eager", "torchscript", "onnxruntime", "aot-inductor")),
    }[study]


def _decode_grids(models: tuple[str, ...], backends: tuple[str, ...], batch_sizes: tuple[int, ...],
                  seq_lens: tuple[int, ...], forward: tuple[str, ...]) -> list[Grid]:
    """Page 09's grids (RQ5): one decode step per token over a KV cache of seq_len tokens in every runtime that can
    run it; the eager and torch.compile steps decomposed (where a generation's time goes); the prompt pass
    (prefill) in eager; and AOTInductor's forward next to the other runtimes at bert-tiny batch 1 (the floor of the
    tax with no Python in the call), all in one sweep so each comparison is timed together."""
    split = tuple(b for b in backends if b in ("eager", "compile"))
    return [Grid("decode", models=models, backends=backends, batch_sizes=batch_sizes, seq_lens=seq_lens,
                 phases=("decode",)),
            Grid("decode-split", models=models, backends=split, batch_sizes=batch_sizes, seq_lens=seq_lens,
                 phases=("decode",), decompose=True),
            Grid("prefill", models=models, backends=("eager",), batch_sizes=batch_sizes, seq_lens=seq_lens,
                 phases=("prefill",)),
            Grid("aot-forward", models=("bert-tiny",), backends=forward, batch_sizes=(1,), seq_lens=(16,))]


def _gpu_reference() -> list[Grid]:
    """What the claims page needs from a GPU, in priority tiers; the same grids at every profile (the profile picks
    the stop rule). A tiered run (`ftax.plan`) measures each tier in one sweep under one deadline, cutting the first
    tier that does not fit in priority order, so a run cut short has stored the must-have records; configs an
    earlier tier measured are skipped later.

    Sequence lengths are the book's CPU records' (bert-base and the efficient models at 32, bert-tiny and the decode
    steps at 128): claims (f) and (g) compare one curve (model, sequence length, overrides) across machines, so a
    GPU curve at another length would leave them untestable.

    must-have: bert-base's batch curve in eager and CUDA graphs over batch 1..256 (claims a, f; b by CUDA graphs'
    paired speedups), decomposed at batch 1, 8 and 64 (g: the tax as wall minus device-busy time; CUDA graphs,
    timed with eager, are decomposed too), and one decode step per token in eager and CUDA graphs at batch 1, 4
    and 16 (h; page 09). Left out of it: TorchScript and torch.compile (b is tested with CUDA graphs alone, and
    torch.compile's graphs are the cost model's largest guess, a minute or more each on CUDA), and the width x
    depth grid (c), the efficient models (d) and fp16 (e): claims about one machine's model shapes and precisions,
    not about how the tax moves on a GPU. They follow in this order: the claims tier (c, d and TorchScript, each
    cheap), fp16, the other runtimes' decompositions, torch.compile (a graph per shape: a tier that does not fit
    stops the run, so the guess-heavy one comes after the cheap ones), every runtime, the efficient models in
    every runtime, and the compiled decode steps last.
    Memory and energy are taken in round 0 of every visit (ftax.memory).
    """
    base, tiny, efficient = ("bert-base",), ("bert-tiny",), ("distilbert", "mobilebert", "squeezebert")
    short, long_, every, few = (32,), (128,), _ALL_BACKENDS, (1, 8, 64)
    decoders = ("llama-small", "gpt2")

    def both(name: str, tier: str, **fields) -> list[Grid]:  # bert-base and bert-tiny, each at its CPU length
        return [Grid(name, models=base, seq_lens=short, tier=tier, **fields),
                Grid(name, models=tiny, seq_lens=long_, tier=tier, **fields)]

    return [
        Grid("ref-curve", models=base, backends=("eager", "cudagraph"), batch_sizes=pow2(1, 256), seq_lens=short,
             tier="must-have"),
        Grid("ref-curve-split", models=base, batch_sizes=few, seq_lens=short, decompose=True, tier="must-have"),
        Grid("ref-decode", models=decoders, backends=("eager", "cudagraph"), batch_sizes=(1, 4, 16), seq_lens=long_,
             phases=("decode",), tier="must-have"),
        Grid("ref-efficient", models=efficient, batch_sizes=(1,), seq_lens=short, tier="claims"),
        Grid("ref-width-depth", models=base, batch_sizes=(1,), seq_lens=short,
             overrides=_width_depth((128, 256, 512), (2, 4, 8)), tier="claims"),
        Grid("ref-torchscript", models=base, backends=("eager", "torchscript"), batch_sizes=few, seq_lens=short,
             tier="claims"),
        Grid("ref-curve-fp16", models=base, backends=("eager", "cudagraph"), dtypes=("fp16",),
             batch_sizes=pow2(1, 256), seq_lens=short, tier="fp16"),
        Grid("ref-torchscript-fp16", models=base, backends=("eager", "torchscript"), dtypes=("fp16",),
             batch_sizes=few, seq_lens=short, tier="fp16"),
        *both("ref-decompose", "decompose", backends=("eager", "torchscript", "cudagraph"), batch_sizes=(1, 64),
              decompose=True),
        Grid("ref-compile", models=base, backends=("eager", "compile"), dtypes=("fp32", "fp16"), batch_sizes=few,
             seq_lens=short, tier="compile"),
        Grid("ref-compile-split", models=base, backends=("eager", "compile"), batch_sizes=(1, 64), seq_lens=short,
             decompose=True, tier="compile"),
        *both("ref-backends", "backends", backends=every, dtypes=("fp32", "fp16"), batch_sizes=few),
        Grid("ref-efficient-all", models=efficient, backends=every, dtypes=("fp32", "fp16"), batch_sizes=few,
             seq_lens=short, tier="efficient"),
        Grid("ref-decode-compiled", models=decoders, backends=("compile", "aot-inductor"), batch_sizes=(1, 4, 16),
             seq_lens=long_, phases=("decode",), tier="decode-compiled"),
    ]


def _smallest_shapes(profile: str) -> list[Grid]:
    """Batch 1 at the shortest sequence, for every text model's batch curve in the profile's studies: the
    latency with almost no work, one of `ftax.tax_model`'s estimates of the host cost, measured per curve
    (model, runtime, precision, overrides) so every curve on the model's validation page has one."""
    curves: dict[tuple, None] = {}
    for study in STUDIES:
        for grid in (_listed_grids(profile, study) if study != "tax-model" else ()):
            if len(grid.batch_sizes) < 2 or grid.phases != ("forward",):
                continue
            for model, backend, dtype, over in itertools.product(grid.models, grid.backends, grid.dtypes,
                                                                 grid.overrides):
                if models.get_spec(model).modality == "text":
                    curves[(model, backend, dtype, over)] = None
    curves.update({(m, b, "fp32", ()): None for m in ("bert-tiny", "bert-mini", "bert-base")
                   for b in ("eager", "torchscript")})
    return [Grid("tax-smallest", models=(m,), backends=(b,), dtypes=(d,), overrides=(o,), batch_sizes=(1,),
                 seq_lens=(models.get_spec(m).min_seq_len,)) for m, b, d, o in curves]


# What a page parameter may change (the one rule; book/methodology.md, "A page's parameters"): an axis
# parameter replaces the values of the grids that sweep that axis, a member parameter narrows each grid to
# the members it already has.
AXES = ("batch_sizes", "seq_lens")
MEMBERS = ("models", "backends", "dtypes", "phases")


def study_grids(study: str, profile: str = "quick", device: str = "auto", models: Sequence[str] | None = None,
                backends: Sequence[str] | None = None, dtypes: Sequence[str] | None = None,
                batch_sizes: Sequence[int] | None = None, seq_lens: Sequence[int] | None = None,
                phases: Sequence[str] | None = None) -> list[Grid]:
    """The grids of `study` at `profile`, changed by the page's parameters (None keeps the profile's).

    A grid is made for one question (a batch curve at one sequence length, a sequence curve at batch 1, a CNN
    at its image size), so a parameter changes only the grids it names. `batch_sizes` and `seq_lens` replace
    the values of the grids that sweep that axis (more than one value); a grid that holds one value there
    keeps it, so a sequence curve stays at its batch size. `models`, `backends`, `dtypes` and `phases` narrow
    each grid to the members it has (never adding, say, a text model to the CNN grid); a grid left with none
    is dropped. A value no grid of the study can take is an error naming what the grids hold, as is a
    combination that leaves no grid. Every name and size is validated here, so a bad notebook parameter
    fails before measuring.
    """
    if study not in STUDIES + RUNS:
        raise InvalidConfigError(f"unknown study {study!r}; allowed: {', '.join(STUDIES + RUNS)}")
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    given = {"models": models, "backends": backends, "dtypes": dtypes, "batch_sizes": batch_sizes,
             "seq_lens": seq_lens, "phases": phases}
    changes = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InvalidConfigError(f"{key} must be a list, got {value!r}")
        changes[key] = tuple(value)
    grids = [replace(g, device=device, rule=RULES[profile]) for g in _grids(profile, study)]
    grids = _changed(grids, changes, f"study {study!r} at profile {profile!r}")
    for grid in grids:
        grid.validate()
    return grids


def _changed(grids: list[Grid], changes: dict[str, tuple], where: str, strict: bool = True) -> list[Grid]:
    """`grids` with the page's parameters applied by the rule of `study_grids`; names are checked first, so a
    misspelled model says so rather than that no grid holds it. Not `strict`: a value these grids cannot take
    is passed over rather than refused, and they may all be dropped (one study among several, `open_studies`)."""
    _check_names(changes)
    for key in MEMBERS:
        if key not in changes:
            continue
        held = list(dict.fromkeys(v for g in grids for v in getattr(g, key)))
        stray = [v for v in changes[key] if v not in held]
        if stray and strict:
            raise InvalidConfigError(f"{key} {stray} is in no grid of {where}, whose grids hold {key} {held}; a "
                                     f"parameter narrows a grid to members it has and never adds one")
        grids = [replace(g, **{key: kept}) for g in grids
                 if (kept := tuple(v for v in getattr(g, key) if v in changes[key]))]
        if not grids and strict:
            raise InvalidConfigError(f"no grid of {where} holds every parameter given "
                                     f"({', '.join(f'{k}={list(v)}' for k, v in changes.items() if k in MEMBERS)})")
    for key in AXES:
        if key not in changes:
            continue
        if strict and not any(len(getattr(g, key)) > 1 for g in grids):
            raise InvalidConfigError(f"{key} changes only the grids that sweep it, and no grid of {where} does "
                                     f"(each holds one value: {sorted({v for g in grids for v in getattr(g, key)})})")
        grids = [replace(g, **{key: changes[key]}) if len(getattr(g, key)) > 1 else g for g in grids]
    return grids


def _check_names(changes: dict[str, tuple]) -> None:
    """Each model, backend, dtype and phase named must exist (the message lists what is allowed)."""
    for model in changes.get("models", ()):
        models.get_spec(model)
    for backend in changes.get("backends", ()):
        backends.check_name(backend)
    for dtype in changes.get("dtypes", ()):
        backends.dtype_of(dtype)
    for phase in changes.get("phases", ()):
        if phase not in results.PHASES:
            raise InvalidConfigError(f"unknown phase {phase!r}; allowed: {', '.join(results.PHASES)}")


def study_configs(grids: Iterable[Grid]) -> list[MeasureConfig]:
    """All configs of `grids` without duplicates, in grid order."""
    return list(dict.fromkeys(c for g in grids for c in g.configs()))


# --- what a page calls ----------------------------------------------------------------------

GRID_FIELDS = ("models", "backends", "dtypes", "batch_sizes", "seq_lens", "phases")


def stored_probe(out_dir: str | Path, device: str, dtype: str, threads: int) -> Probe | None:
    """The newest stored probe of this machine for `device`, `dtype` and `threads`, measured with this software."""
    found = _probes_of_this_machine(out_dir, device, dtype, threads)
    return found[-1] if found else None


def recent_probes(out_dir: str | Path, device: str, dtype: str, threads: int, max_age_s: float) -> list[Probe]:
    """Every probe `stored_probe` could return that is at most `max_age_s` old, oldest first: `ftax predict`
    averages them (`probe.mean_of`), since two readings minutes apart differ by up to 1.6x at small products."""
    return [p for p in _probes_of_this_machine(out_dir, device, dtype, threads) if _age_s(p) <= max_age_s]


def _probes_of_this_machine(out_dir: str | Path, device: str, dtype: str, threads: int) -> list[Probe]:
    """This machine's stored probes for `device`, `dtype` and `threads`, of this probe version and software."""
    env = fingerprint()
    now = tuple(results.software(env))
    return [Probe.from_dict(data) for data in results.iter_side(out_dir, PROBES)
            if data.get("machine_id") == env["machine_id"] and data.get("device") == device
            and data.get("dtype") == dtype and data.get("threads") == threads
            and data.get("version") == PROBE_VERSION and tuple(data.get("software") or ()) == now]


def ensure_probe(out_dir: str | Path, device: str, dtype: str, max_age_s: float | None = None
                 ) -> tuple[Probe, bool]:
    """(probe, reused): the stored probe if there is one for this machine (measured at most `max_age_s` ago, when
    given), else a new one, stored.

    Why an age: a shared VM's speed drifts between days, and the model reads H as T(1) minus the probe's time
    for the work, so a probe from another day moves H with the drift (on the 2-core EPYC, bert-base seq 32's
    predicted T(8) moved from within 15% of the measured one with a probe taken minutes before to 46% above it
    with a 5-day-old probe; measured once, not stored). A probe costs seconds; `ftax predict` takes a fresh one
    each hour."""
    torch.set_num_threads(default_threads())
    found = stored_probe(out_dir, device, dtype, torch.get_num_threads())
    if found is not None and (max_age_s is None or _age_s(found) <= max_age_s):
        return found, True
    measured = run_probe(device, dtype, backends.dtype_of(dtype))
    env = fingerprint()
    results.append_side(out_dir, PROBES, env["machine_id"], {**measured.to_dict(), "machine_id": env["machine_id"],
                                                            "software": list(results.software(env)), "env": env})
    return measured, False


def _any_probe_stored(out_dir: str | Path, device: str, dtype: str) -> bool:
    """Whether this machine has any probe stored for `device` and `dtype`, whatever its version or software."""
    machine_id = fingerprint()["machine_id"]
    return any(data.get("machine_id") == machine_id and data.get("device") == device and data.get("dtype") == dtype
               for data in results.iter_side(out_dir, PROBES))


def _age_s(probe: Probe) -> float:
    """Seconds since `probe` was measured (infinite for a probe stored without its time)."""
    if not probe.timestamp:
        return math.inf
    return (datetime.now(timezone.utc) - datetime.fromisoformat(probe.timestamp)).total_seconds()


@measure_lock.holding  # the probes too: no other process measures between a sweep's rounds and its probes
def measure_grids(grids: Sequence[Grid], results_dir: str | Path = "results", rounds: int = 1,
                  options: MeasureOptions | None = None, progress: bool = False, probes: bool = False,
                  **sweep_args) -> sweep.SweepSummary:
    """Sweep `grids` as one (`sweep.run_sweep`), under their rule (they share one: a profile's) and `rounds`,
    decomposing the configs of the grids that ask for it: one sweep, not one per grid, so the backends of a
    shape that two grids name are timed together, and a config two grids share is measured once. With
    `probes`, the throughput probe of each device and dtype swept, measured before each round that measures
    anything and after the last, so new curves are read with probes taken between their rounds
    (`curve_probes.probe_for` averages those around a curve); when nothing was measured, only where none is stored
    at all (of any version), so a build from stored records reads them with the probes stored beside them."""
    rules = {grid.rule for grid in grids}
    if len(rules) != 1:
        raise InvalidConfigError(f"grids swept together must share one stop rule, got {sorted(r.name for r in rules)}")
    options = replace(options or MeasureOptions(), rule=rules.pop())
    configs = study_configs(grids)
    profiled = configs if options.decompose else study_configs(g for g in grids if g.decompose)
    swept = list(dict.fromkeys((c.device, c.dtype) for c in configs)) if probes else []

    def probe_each(_round: int = 0) -> None:
        for device, dtype in swept:
            ensure_probe(results_dir, device, dtype, max_age_s=0.0)

    summary = sweep.run_sweep(configs, results_dir, replace(options, decompose=False), progress=progress,
                              rounds=rounds, decompose=profiled, before_round=probe_each if swept else None,
                              **sweep_args)
    if sum(summary.counts.values()) > 0:
        probe_each()
    for device, dtype in swept:
        if not _any_probe_stored(results_dir, device, dtype):
            ensure_probe(results_dir, device, dtype, max_age_s=0.0)
    return summary


def batch_curve_grids(profile: str = "quick", device: str = "auto", among: Sequence[str] = STUDIES) -> list[Grid]:
    """Every batch curve the studies `among` sweep (their grids of two or more batch sizes: forward passes, and a
    decoder's prompt pass and decode step) with the smallest shape of each forward curve: what page 08 validates
    the tax model on, so that `benchmarks/tax_model_fresh.py --studies` can measure it afresh between probes."""
    curves = [grid for study in among for grid in study_grids(study, profile, device) if len(grid.batch_sizes) > 1]
    shown = {(c.model, c.backend, c.dtype, c.overrides) for c in study_configs(curves)}
    smallest = [grid for grid in study_grids("tax-model", profile, device) if grid.name == "tax-smallest"
                and any(key in shown for key in itertools.product(grid.models, grid.backends, grid.dtypes,
                                                                   grid.overrides))]
    return curves + smallest


def measure_studies(studies: Sequence[str] = STUDIES, profile: str = "quick", device: str = "auto",
                    results_dir: str | Path = "results", progress: bool = True) -> sweep.SweepSummary:
    """Everything the case studies of `profile` measure, in one sweep: what `ftax book` runs before its pages,
    so a page's comparisons include configs another page measures (page 02's eager is page 01's)."""
    grids = [grid for study in studies for grid in study_grids(study, profile, device)]
    return measure_grids(grids, results_dir, ROUNDS[profile], progress=progress, probes=True)


@dataclass
class StudyData:
    """A case study's records, one row per visit (every round): `frame` (the study's configs, on every
    machine) and `all` (every record). The read layer turns visits into estimates (`ftax.estimates`).

    `profile` is the grid profile (smoke/quick/full) the page asked for; `summary` says what this
    call measured (None when it only read).
    """

    study: str
    profile: str
    grids: list[Grid]
    machine_id: str
    frame: pd.DataFrame
    all: pd.DataFrame
    summary: sweep.SweepSummary | None
    results_dir: str


def list_param(name: str, value) -> list | None:
    """A papermill list parameter: a list, None, or the string `-p` passes ("[1, 3]", "1,3", "bert-tiny")."""
    if value is None or isinstance(value, (list, tuple)):
        return None if value is None else list(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = [item.strip().strip("'\"") for item in text.strip("[]()").split(",") if item.strip()]
        if isinstance(parsed, (list, tuple)):
            return list(parsed)
        if isinstance(parsed, (int, str)):
            return [parsed]
    raise InvalidConfigError(f"parameter {name} must be a list such as [1, 4] or None, got {value!r}")


def open_study(study: str, profile: str = "quick", device: str = "auto", results_dir: str | Path = "results",
               measure: bool = True, progress: bool = False, **grid_values) -> StudyData:
    """Validate the study's grids, measure what is missing on this machine (if `measure`), load.

    Measuring runs the profile's rounds (`ROUNDS`), interleaved, with torch threads fixed.

    `grid_values` are the page's list parameters (`models`, `backends`, `dtypes`, `batch_sizes`,
    `seq_lens`, `phases`); None keeps the profile's value, anything else changes the grids it names
    (`study_grids`: an axis is replaced where a grid sweeps it, members narrow each grid).
    """
    grids = study_grids(study, profile, device, **_page_values(grid_values))
    summary = (measure_grids(grids, results_dir, ROUNDS[profile], progress=progress, probes=study == "tax-model")
               if measure else None)
    return _study_data(study, profile, grids, results.load(results_dir), summary, results_dir)


def open_studies(studies: Sequence[str] = STUDIES, profile: str = "quick", device: str = "auto",
                 results_dir: str | Path = "results", **grid_values) -> dict[str, StudyData]:
    """Several studies' stored records under one set of page parameters (the pages that summarize every study:
    the intro and the claims page), loaded once; nothing is measured.

    The parameters follow `study_grids`' rule over the studies' grids taken together: a value that no grid of
    any of them can take is refused, while a study whose grids hold none of the members named is opened with no
    grids (a page then says it has nothing for it), and an axis changes only the grids that sweep it."""
    chosen = _page_values(grid_values)
    base = {s: study_grids(s, profile, device) for s in studies}
    _changed([g for grids in base.values() for g in grids], {k: tuple(v) for k, v in chosen.items()},
             f"the studies {', '.join(studies)} at profile {profile!r}")
    changed = {s: _changed(grids, {k: tuple(v) for k, v in chosen.items()}, s, strict=False)
               for s, grids in base.items()}
    for grid in (g for grids in changed.values() for g in grids):
        grid.validate()
    everything = results.load(results_dir)
    return {s: _study_data(s, profile, grids, everything, None, results_dir) for s, grids in changed.items()}


def _page_values(grid_values: dict) -> dict[str, list]:
    """The page's list parameters that are set, parsed (`list_param`); an unknown name is an error."""
    unknown = sorted(set(grid_values) - set(GRID_FIELDS))
    if unknown:
        raise InvalidConfigError(f"unknown grid parameter(s) {unknown}; allowed: {', '.join(GRID_FIELDS)}")
    return {k: v for k, v in ((k, list_param(k, v)) for k, v in grid_values.items()) if v is not None}


def _study_data(study: str, profile: str, grids: list[Grid], everything: pd.DataFrame,
                summary: sweep.SweepSummary | None, results_dir: str | Path) -> StudyData:
    return StudyData(study=study, profile=profile, grids=grids, machine_id=fingerprint()["machine_id"],
                     frame=results.rows_matching(everything, study_configs(grids)), all=everything,
                     summary=summary, results_dir=str(results_dir))


# --- grid files (`ftax sweep --grid FILE`) ----------------------------------------------------

GRID_KEYS = {"models": str, "backends": str, "dtypes": str, "batch_sizes": int, "seq_lens": int, "phases": str}
GRID_OPTIONAL = {"device": str, "profile": str, "overrides": list, "decompose": bool, "study": str}


def load_grid_file(path: str | Path) -> dict:
    """Read a YAML grid (same keys as the CLI flags); unknown keys and wrong types are errors."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidConfigError(f"cannot read grid file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"grid file {path} must hold a mapping of keys to lists")
    allowed = {**GRID_KEYS, **GRID_OPTIONAL}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidConfigError(f"grid file {path}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")
    for key, kind in GRID_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise InvalidConfigError(f"grid file {path}: {key} must be a list of {kind.__name__}, got {value!r}")
    for key, kind in GRID_OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            raise InvalidConfigError(f"grid file {path}: {key} must be a {kind.__name__}, got {data[key]!r}")
    if "overrides" in data and not all(isinstance(o, dict) for o in data["overrides"]):
        raise InvalidConfigError(f"grid file {path}: overrides must be a list of mappings like {{width: 256}}")
    return data


def grids_from_spec(spec: dict, profile: str | None = None, device: str | None = None,
                    study: str | None = None) -> list[Grid]:
    """The grids a sweep asks for: a study's, or one grid from `spec` (a grid file's keys, flags merged in).

    Explicit `profile`/`device`/`study` win over the spec's; the defaults are quick and auto.
    """
    profile = profile or spec.get("profile") or "quick"
    device = device or spec.get("device") or "auto"
    study = study or spec.get("study")
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if study:
        return study_grids(study, profile, device, **{k: spec[k] for k in GRID_KEYS if k in spec})
    if "models" not in spec:
        raise InvalidConfigError("say what to sweep: --models (or a grid file with models:), or --study NAME")
    overrides = tuple(tuple(sorted(o.items())) for o in spec.get("overrides", [{}]))
    grid = Grid(name="cli", models=tuple(spec["models"]), backends=tuple(spec.get("backends", ["eager"])),
                dtypes=tuple(spec.get("dtypes", ["fp32"])), batch_sizes=tuple(spec.get("batch_sizes", [1])),
                seq_lens=tuple(spec.get("seq_lens", [128])), overrides=overrides, device=device,
                phases=tuple(spec.get("phases", ["forward"])),
                rule=RULES[profile], decompose=bool(spec.get("decompose", False)))
    grid.validate()
    return [grid]
