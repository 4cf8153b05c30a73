"""The catalogue: which grids each case study measures at each profile, before a page's parameters.

Models are chosen so that a CPU reaches both regimes at `quick`: the tiny BERTs are framework-bound
at batch 1, and BERT-base at sequence 32 turns compute-bound within a few items. `full` holds the
paper's grids (batch 1..512, sequence 16..512 where the model allows), meant for a GPU.

Studies share configs where they can (e.g. `hardware` reuses `framework-bound`'s batch
sweep), so a config is measured once and resumed everywhere else. A grid that shares configs with
`where-time-goes` decomposes them too (`paradigms`): otherwise the later page would measure their
round 0 again, alone, and a speedup would pair visits made minutes apart.
"""
from __future__ import annotations

import itertools
from typing import Iterable

from ftax.run import backends, models
from ftax.sweep.grids import Grid, Overrides, pow2

STUDIES = ("framework-bound", "paradigms", "model-design", "hardware", "where-time-goes", "tax-model", "decode")
# Studies a run of their own measures (`ftax sweep --study NAME`), never the book's sweep (`measure_studies`,
# which takes STUDIES): the GPU reference run (`benchmarks/gpu_reference.sh`), planned and cut at a time budget
# by `ftax.plan.schedule`.
RUNS = ("gpu-reference",)


def _width_depth(widths: Iterable[int], depths: Iterable[int]) -> tuple[Overrides, ...]:
    return tuple((("depth", d), ("width", w)) for w in widths for d in depths)


_EFFICIENT = ("bert-base", "distilbert", "squeezebert", "mobilebert")
_ENCODERS_FULL = ("bert-base", "roberta-base", "distilbert", "squeezebert", "mobilebert", "deberta-base",
                  "gpt2", "bert-tiny", "bert-mini", "bert-small", "bert-medium")
# aot-inductor compiles one package per shape with gcc (minutes on a 2-core CPU), so the book's grids leave it out;
# a study that names it (decode) or a sweep's --backends measures it.
_ALL_BACKENDS = tuple(b for b in backends.names() if b != "aot-inductor")


def profile_grids(profile: str, study: str) -> list[Grid]:
    """The profile's grids for one study (or run), before a page's parameters; the tax model's include the
    smallest shape of every other study's text-model curve."""
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
    the stop rule). A tiered run (`ftax.study.tiered_run`) measures each tier in one sweep under one deadline, cutting the first
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
    Memory and energy are taken in round 0 of every visit (ftax.measure.memory).
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
    latency with almost no work, one of `ftax.read.tax_model`'s estimates of the host cost, measured per curve
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

