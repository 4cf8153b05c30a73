"""Model registry: a name -> a model with random weights built from its config, and its inputs.

Nothing here touches a model hub: every model is built from a `transformers` config
(or a small `torch.nn` stack) with a fixed seed, because latency does not depend on
the weights. Each built model is wrapped so that it takes positional tensors and
returns one tensor; that one calling convention serves every backend (TorchScript
tracing, ONNX export, CUDA graph capture, parity checks).

`seq_len` means what a sequence length means for the modality:
tokens for text, the image side in pixels for vision, and feature frames (20 ms of
16 kHz audio each; `320 * seq_len + 80` samples) for speech.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
from torch import nn

from ftax.store.errors import InvalidConfigError
from ftax.run.synthetic import SYNTHETIC_DEFAULTS, SYNTHETIC_LAYERS

OVERRIDE_KEYS = ("width", "depth", "heads", "intermediate")
AUDIO_SAMPLES_PER_FRAME = 320
AUDIO_RECEPTIVE_FIELD = 400


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model and feed it.

    `config_fields` maps ftax's override names (width, depth, heads, intermediate) to
    the attribute names of this model's transformers config; a model without the
    mapping takes no overrides.
    """

    name: str
    modality: str  # "text" | "vision" | "audio" | "synthetic"
    build_config: Callable[[], object] | None
    max_seq_len: int
    min_seq_len: int = 1
    default_seq_len: int = 128
    config_fields: Mapping[str, str] = field(default_factory=dict)
    build_module: Callable[[dict], nn.Module] | None = None  # synthetic stacks
    pass_attention_mask: bool = True
    forward_kwargs: Mapping[str, object] = field(default_factory=dict)
    post_build: Callable[[nn.Module], None] | None = None  # fix-ups of the random init
    decoder: bool = False  # a causal LM: takes phase prefill/decode (ftax.run.decoding) besides forward


@dataclass
class BuiltModel:
    """A ready model: `module(*inputs)` returns one tensor."""

    spec: ModelSpec
    module: nn.Module
    overrides: dict[str, int]
    dtype: torch.dtype
    device: torch.device
    info: dict  # effective sizes: params, hidden_size, num_layers
    weights_id: str = ""  # what determines the weights: config and seed (keys export caches)
    causal_lm: bool = False  # `module` is the transformers causal LM itself (with its LM head), for ftax.run.decoding

    def inputs(self, batch_size: int, seq_len: int) -> tuple[torch.Tensor, ...]:
        return make_inputs(self, batch_size, seq_len)


class _FirstTensor(nn.Module):
    """Positional tensors in, the model's first output tensor out (last_hidden_state)."""

    def __init__(self, model: nn.Module, input_names: tuple[str, ...], extra_kwargs: dict | None = None):
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.extra_kwargs = extra_kwargs or {}

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.input_names, inputs)), **self.extra_kwargs)
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, (tuple, list)):
            return out[0]
        return out[0] if not hasattr(out, "last_hidden_state") else out.last_hidden_state


# --- transformers configs (imported lazily so `ftax env` stays fast) -------------------

def _tf(cls_name: str, **kwargs) -> Callable[[], object]:
    def build() -> object:
        import transformers

        return getattr(transformers, cls_name)(**kwargs)

    return build


_BERT_FIELDS = {"width": "hidden_size", "depth": "num_hidden_layers", "heads": "num_attention_heads",
                "intermediate": "intermediate_size"}
_DISTIL_FIELDS = {"width": "dim", "depth": "n_layers", "heads": "n_heads", "intermediate": "hidden_dim"}
_GPT2_FIELDS = {"width": "n_embd", "depth": "n_layer", "heads": "n_head", "intermediate": "n_inner"}
_SYNTH_FIELDS = {"width": "width", "depth": "depth", "heads": "heads"}
_LLAMA_FIELDS = {"depth": "num_hidden_layers"}  # width and heads are tied to grouped-query attention's kv heads


def _bert(layers: int, hidden: int) -> Callable[[], object]:
    """The compact BERT sizes of Turc et al. (2019): heads = hidden/64, FFN = 4 x hidden."""
    return _tf("BertConfig", num_hidden_layers=layers, hidden_size=hidden,
               num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden)


def _kaiming_fan_in_convs(module: nn.Module) -> None:
    """MobileNetV2's config init (normal, std 0.02) shrinks activations ~1e-21 by the last layer,
    below fp16's range, which makes reduced-precision parity meaningless; Kaiming fan-in init keeps
    them of order one. Latency does not depend on it."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")


def _spec(name: str, modality: str, config: Callable[[], object] | None, max_seq: int, **kw) -> ModelSpec:
    return ModelSpec(name=name, modality=modality, build_config=config, max_seq_len=max_seq, **kw)


_SPECS: list[ModelSpec] = [
    _spec("bert-base", "text", _tf("BertConfig"), 512, config_fields=_BERT_FIELDS),
    _spec("roberta-base", "text", _tf("RobertaConfig", vocab_size=50265, max_position_embeddings=514,
                                      type_vocab_size=1, pad_token_id=1), 512, config_fields=_BERT_FIELDS),
    _spec("distilbert", "text", _tf("DistilBertConfig"), 512, config_fields=_DISTIL_FIELDS),
    _spec("squeezebert", "text", _tf("SqueezeBertConfig"), 512),
    _spec("mobilebert", "text", _tf("MobileBertConfig"), 512),
    _spec("longformer-base", "text", _tf("LongformerConfig", vocab_size=50265, max_position_embeddings=4098,
                                         pad_token_id=1, attention_window=512, type_vocab_size=1), 4096),
    _spec("deberta-base", "text", _tf("DebertaConfig", vocab_size=50265, relative_attention=True,
                                      pos_att_type=["c2p", "p2c"], max_relative_positions=-1,
                                      position_biased_input=False), 512, config_fields=_BERT_FIELDS),
    _spec("ibert", "text", _tf("IBertConfig", vocab_size=50265, max_position_embeddings=514, pad_token_id=1,
                               quant_mode=False), 512, config_fields=_BERT_FIELDS),
    _spec("reformer", "text", _tf("ReformerConfig", hash_seed=0), 4096, pass_attention_mask=False),
    _spec("gpt2", "text", _tf("GPT2Config"), 1024, config_fields=_GPT2_FIELDS, decoder=True),
    # A small Llama-style decoder (RMSNorm, rotary positions, SwiGLU, grouped-query attention: 8 query heads
    # share 2 key/value heads), sized so a 2-core CPU decodes it in milliseconds per token.
    _spec("llama-small", "text", _tf("LlamaConfig", vocab_size=32000, hidden_size=256, intermediate_size=688,
                                     num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=2,
                                     max_position_embeddings=2048), 2048, config_fields=_LLAMA_FIELDS, decoder=True),
    _spec("vit-base", "vision", _tf("ViTConfig"), 1024, min_seq_len=16, default_seq_len=224,
          forward_kwargs={"interpolate_pos_encoding": True}),
    _spec("resnet-50", "vision", _tf("ResNetConfig"), 1024, min_seq_len=32, default_seq_len=224),
    _spec("mobilenet-v2", "vision", _tf("MobileNetV2Config"), 1024, min_seq_len=32, default_seq_len=224,
          post_build=_kaiming_fan_in_convs),
    _spec("wav2vec2-base", "audio", _tf("Wav2Vec2Config"), 1500, default_seq_len=50),
    _spec("bert-tiny", "text", _bert(2, 128), 512, config_fields=_BERT_FIELDS),
    _spec("bert-mini", "text", _bert(4, 256), 512, config_fields=_BERT_FIELDS),
    _spec("bert-small", "text", _bert(4, 512), 512, config_fields=_BERT_FIELDS),
    _spec("bert-medium", "text", _bert(8, 512), 512, config_fields=_BERT_FIELDS),
] + [
    _spec(name, "synthetic", None, 4096, config_fields=_SYNTH_FIELDS, build_module=builder)
    for name, builder in SYNTHETIC_LAYERS.items()
]
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def names() -> list[str]:
    """Every registered model name, in registry order."""
    return list(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec of `name`, or an error that lists close matches."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise InvalidConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(REGISTRY)}") from None


def validate_overrides(spec: ModelSpec, overrides: Mapping[str, int] | None) -> dict[str, int]:
    """Check override names and values before anything is built; return a clean dict."""
    overrides = dict(overrides or {})
    if not overrides:
        return {}
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise InvalidConfigError(f"unknown override(s) {unknown}; allowed: {', '.join(OVERRIDE_KEYS)}")
    unsupported = sorted(set(overrides) - set(spec.config_fields))
    if unsupported:
        supported = [n for n, s in REGISTRY.items() if s.config_fields]
        raise InvalidConfigError(f"{spec.name} does not take override(s) {unsupported}; "
                                 f"models with width/depth overrides: {', '.join(supported)}")
    for key, value in overrides.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidConfigError(f"override {key} must be a positive integer, got {value!r}")
    if "width" in overrides or "heads" in overrides:
        sizes = {**_default_sizes(spec), **implied_overrides(spec, overrides)}
        width, heads = sizes["width"], sizes["heads"]
        if width % heads:
            raise InvalidConfigError(f"width {width} is not divisible by heads {heads} for {spec.name}; "
                                     f"choose heads that divide the width")
    return overrides


def _default_sizes(spec: ModelSpec) -> dict[str, int]:
    if spec.build_config is None:
        return dict(SYNTHETIC_DEFAULTS)
    config = spec.build_config()
    return {key: getattr(config, attr) for key, attr in spec.config_fields.items() if key in ("width", "heads")}


def validate_shape(spec: ModelSpec, batch_size: int, seq_len: int) -> None:
    """Reject sizes the model cannot take, saying what it can."""
    for label, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidConfigError(f"{label} must be a positive integer, got {value!r}")
    if not spec.min_seq_len <= seq_len <= spec.max_seq_len:
        raise InvalidConfigError(f"seq_len {seq_len} is outside {spec.name}'s range "
                                 f"{spec.min_seq_len}..{spec.max_seq_len} ({_seq_meaning(spec)})")


def _seq_meaning(spec: ModelSpec) -> str:
    return {"vision": "image side in pixels", "audio": "feature frames of 20 ms"}.get(spec.modality, "tokens")


def implied_overrides(spec: ModelSpec, overrides: Mapping[str, int]) -> dict[str, int]:
    """The overrides plus what a new width implies: 64-dimensional heads and a 4x FFN, unless given."""
    values = dict(overrides)
    if "width" in values:
        values.setdefault("heads", max(1, values["width"] // 64))
        if "intermediate" in spec.config_fields:
            values.setdefault("intermediate", 4 * values["width"])
    return values


def _apply_overrides(spec: ModelSpec, config: object, overrides: Mapping[str, int]) -> None:
    for key, value in implied_overrides(spec, overrides).items():
        setattr(config, spec.config_fields[key], value)


def build(name: str, overrides: Mapping[str, int] | None = None, dtype: torch.dtype = torch.float32,
          device: str | torch.device = "cpu", seed: int = 0) -> BuiltModel:
    """Build `name` with random weights (fixed `seed`), in eval mode, on `device` in `dtype`."""
    spec = get_spec(name)
    return build_validated(spec, validate_overrides(spec, overrides), dtype, device, seed)


def build_validated(spec: ModelSpec, overrides: dict[str, int], dtype: torch.dtype = torch.float32,
                    device: str | torch.device = "cpu", seed: int = 0, causal_lm: bool = False) -> BuiltModel:
    """`build` for overrides that `validate_overrides` already returned (the runner checks a config once).

    With `causal_lm` (a decoder's prefill/decode), `module` is the transformers causal LM with its LM head
    (`AutoModelForCausalLM`), not the positional wrapper: `ftax.run.decoding` wraps it with a static KV cache.
    """
    torch.manual_seed(seed)
    if spec.build_module is not None:
        sizes = {**SYNTHETIC_DEFAULTS, **implied_overrides(spec, overrides)}
        inner = spec.build_module(sizes)
        module: nn.Module = inner
        info = {"hidden_size": sizes["width"], "num_layers": sizes["depth"]}
        described = repr(sorted(sizes.items()))
    else:
        import transformers
        from transformers import AutoModel

        transformers.logging.set_verbosity_error()
        config = spec.build_config()
        _apply_overrides(spec, config, overrides)
        if causal_lm:
            from transformers import AutoModelForCausalLM

            inner = AutoModelForCausalLM.from_config(config)
            module = inner
        else:
            inner = AutoModel.from_config(config)
            if spec.post_build is not None:
                spec.post_build(inner)
            module = _FirstTensor(inner, _input_names(spec), dict(spec.forward_kwargs))
        described = config.to_json_string(use_diff=False) + ("|causal-lm" if causal_lm else "")
        info = {"hidden_size": _first_attr(config, "hidden_size", "dim", "n_embd"),
                "num_layers": _first_attr(config, "num_hidden_layers", "n_layers", "n_layer")}
    info["params"] = sum(p.numel() for p in module.parameters())
    module = module.to(device=device, dtype=dtype).eval()
    weights_id = hashlib.sha256(f"{spec.name}|{described}|seed={seed}|{torch.__version__}".encode()).hexdigest()
    return BuiltModel(spec=spec, module=module, overrides=overrides, dtype=dtype,
                      device=torch.device(device), info=info, weights_id=weights_id[:16], causal_lm=causal_lm)


def _first_attr(config: object, *attrs: str) -> int | None:
    for attr in attrs:
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return None


def _input_names(spec: ModelSpec) -> tuple[str, ...]:
    if spec.modality == "vision":
        return ("pixel_values",)
    if spec.modality == "audio":
        return ("input_values",)
    return ("input_ids", "attention_mask") if spec.pass_attention_mask else ("input_ids",)


def input_names(spec: ModelSpec) -> tuple[str, ...]:
    """Names of the positional inputs, in order (used for ONNX export)."""
    return ("x",) if spec.modality == "synthetic" else _input_names(spec)


def dynamic_axes(spec: ModelSpec) -> dict[str, dict[int, str]]:
    """Which input axes vary across configs (batch and sequence/image/audio length)."""
    if spec.modality == "vision":
        return {"pixel_values": {0: "batch", 2: "height", 3: "width"}}
    if spec.modality == "synthetic":
        return {"x": {0: "batch", 1: "seq"}}
    return {name: {0: "batch", 1: "seq"} for name in input_names(spec)}


def audio_samples(seq_len: int) -> int:
    """Audio samples that wav2vec2's feature encoder turns into exactly `seq_len` frames."""
    return AUDIO_SAMPLES_PER_FRAME * seq_len + (AUDIO_RECEPTIVE_FIELD - AUDIO_SAMPLES_PER_FRAME)


def make_inputs(model: BuiltModel, batch_size: int, seq_len: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the right modality and shape on the model's device (fixed seed)."""
    spec = model.spec
    validate_shape(spec, batch_size, seq_len)
    gen = torch.Generator().manual_seed(seed)
    float_dtype = model.dtype
    if spec.modality == "vision":
        x = torch.randn(batch_size, 3, seq_len, seq_len, generator=gen)
        tensors: tuple[torch.Tensor, ...] = (x.to(float_dtype),)
    elif spec.modality == "audio":
        tensors = (torch.randn(batch_size, audio_samples(seq_len), generator=gen).to(float_dtype),)
    elif spec.modality == "synthetic":
        width = model.info["hidden_size"]
        tensors = (torch.randn(batch_size, seq_len, width, generator=gen).to(float_dtype),)
    else:
        vocab = getattr(model.module.model.config, "vocab_size", 1000)
        ids = torch.randint(3, vocab, (batch_size, seq_len), generator=gen)
        tensors = (ids, torch.ones_like(ids)) if spec.pass_attention_mask else (ids,)
    return tuple(t.to(model.device) for t in tensors)
