"""The model registry: every model builds and runs; sizes and overrides; clear errors for bad input."""
from __future__ import annotations

import gc

import pytest
import torch

from ftax.run import models
from ftax.store.errors import InvalidConfigError

# Base-size models take ~1-4 s each to build on a 2-core CPU; the rest are sub-second.
_SLOW_MODELS = {"bert-base", "roberta-base", "longformer-base", "deberta-base", "ibert", "gpt2", "vit-base",
                "wav2vec2-base", "distilbert", "squeezebert"}


def _model_params():
    return [pytest.param(name, marks=pytest.mark.slow) if name in _SLOW_MODELS else name
            for name in models.names()]


def test_registry_has_the_design_names():
    expected = {"bert-base", "roberta-base", "distilbert", "squeezebert", "mobilebert", "longformer-base",
                "deberta-base", "ibert", "reformer", "gpt2", "vit-base", "resnet-50", "mobilenet-v2",
                "wav2vec2-base", "bert-tiny", "bert-mini", "bert-small", "bert-medium", "synthetic-linear",
                "synthetic-conv", "synthetic-layernorm", "synthetic-mha", "synthetic-lstm"}
    assert expected <= set(models.names())
    assert len(models.names()) == len(set(models.names()))


@pytest.mark.parametrize("name", _model_params())
def test_every_model_builds_and_runs_at_its_smallest_input(name):
    """Batch 1 at the model's minimum seq_len (longformer pads to its window internally)."""
    spec = models.get_spec(name)
    model = models.build(name)
    try:
        assert not model.module.training
        assert model.info["params"] > 0
        inputs = model.inputs(1, spec.min_seq_len)
        assert all(x.device.type == "cpu" for x in inputs)
        with torch.inference_mode():
            out = model.module(*inputs)
        assert isinstance(out, torch.Tensor)
        assert out.shape[0] == 1
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()
        if spec.modality in ("text", "synthetic"):
            assert out.shape[1] == spec.min_seq_len
    finally:
        del model
        gc.collect()


def test_input_shapes_follow_the_modality(bert_tiny):
    ids, mask = bert_tiny.inputs(3, 7)
    assert ids.shape == mask.shape == (3, 7) and ids.dtype == torch.long
    assert int(ids.min()) >= 0 and int(ids.max()) < bert_tiny.module.model.config.vocab_size
    synth = models.build("synthetic-linear", {"width": 32, "depth": 2})
    (x,) = synth.inputs(2, 5)
    assert x.shape == (2, 5, 32)
    vision = models.build("mobilenet-v2")
    (pixels,) = vision.inputs(2, 40)
    assert pixels.shape == (2, 3, 40, 40)


def test_audio_seq_len_is_exactly_that_many_frames():
    """wav2vec2's feature encoder turns audio_samples(n) samples into exactly n frames."""
    model = models.build("wav2vec2-base", dtype=torch.float32)
    try:
        for frames in (1, 5, 9):
            (audio,) = model.inputs(1, frames)
            assert audio.shape == (1, models.audio_samples(frames))
            with torch.inference_mode():
                assert model.module(audio).shape[1] == frames
    finally:
        del model
        gc.collect()


def test_inputs_and_weights_are_deterministic():
    a, b = models.build("bert-tiny"), models.build("bert-tiny")
    for pa, pb in zip(a.module.parameters(), b.module.parameters()):
        assert torch.equal(pa, pb)
    assert all(torch.equal(x, y) for x, y in zip(a.inputs(2, 8), b.inputs(2, 8)))
    c = models.build("bert-tiny", seed=1)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.module.parameters(), c.module.parameters()))


def test_width_and_depth_overrides_change_the_model():
    base = models.build("bert-tiny")
    wide = models.build("bert-tiny", {"width": 256})
    deep = models.build("bert-tiny", {"depth": 4})
    assert wide.info["hidden_size"] == 256 and wide.info["num_layers"] == base.info["num_layers"]
    assert deep.info["num_layers"] == 4 and deep.info["hidden_size"] == base.info["hidden_size"]
    assert wide.info["params"] > base.info["params"] and deep.info["params"] > base.info["params"]
    config = wide.module.model.config
    assert config.num_attention_heads == 256 // 64 and config.intermediate_size == 4 * 256
    with torch.inference_mode():
        assert wide.module(*wide.inputs(1, 4)).shape == (1, 4, 256)
    assert wide.overrides == {"width": 256}


def test_synthetic_overrides_set_width_and_depth():
    model = models.build("synthetic-linear", {"width": 64, "depth": 3})
    assert model.info == {"hidden_size": 64, "num_layers": 3, "params": 3 * (64 * 64 + 64)}


def test_synthetic_mha_width_override_without_heads_builds():
    """width 128 without heads implies 2 heads of 64 (the default 12 would not divide 128)."""
    model = models.build("synthetic-mha", {"width": 128, "depth": 1})
    assert model.info["hidden_size"] == 128 and model.info["num_layers"] == 1
    with torch.inference_mode():
        out = model.module(*model.inputs(2, 8))
    assert out.shape == (2, 8, 128) and torch.isfinite(out).all()


# --- errors: each bad input says what was given and what is allowed ----------------------

def test_unknown_model_suggests_close_names():
    with pytest.raises(InvalidConfigError) as info:
        models.get_spec("bert-bas")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'bert-bas'" in message and "Did you mean bert-base" in message
    assert "bert-tiny" in message  # the list of known models
    with pytest.raises(InvalidConfigError, match="unknown model"):
        models.build("no-such-model-xyz")


@pytest.mark.parametrize("name,seq_len,allowed", [("bert-tiny", 513, "1..512"), ("gpt2", 1025, "1..1024"),
                                                  ("vit-base", 8, "16..1024")])
def test_seq_len_outside_the_range_is_rejected(name, seq_len, allowed):
    with pytest.raises(InvalidConfigError, match=f"seq_len {seq_len} is outside") as info:
        models.validate_shape(models.get_spec(name), 1, seq_len)
    assert allowed in str(info.value)


@pytest.mark.parametrize("batch_size,seq_len,label", [(0, 16, "batch_size"), (-1, 16, "batch_size"),
                                                      (1, 0, "seq_len"), (1, -4, "seq_len"),
                                                      (1.5, 16, "batch_size"), (True, 16, "batch_size")])
def test_non_positive_sizes_are_rejected(bert_tiny, batch_size, seq_len, label):
    with pytest.raises(InvalidConfigError, match=f"{label} must be a positive integer"):
        bert_tiny.inputs(batch_size, seq_len)


@pytest.mark.parametrize("overrides", [{"width": 128, "heads": 3}, {"heads": 5}, {"width": 100, "heads": 8}])
def test_heads_must_divide_width(overrides):
    with pytest.raises(InvalidConfigError, match="not divisible by heads") as info:
        models.validate_overrides(models.get_spec("bert-base"), overrides)
    assert "choose heads that divide the width" in str(info.value)


def test_unknown_override_key_lists_the_allowed_keys():
    with pytest.raises(InvalidConfigError, match=r"unknown override\(s\) \['layers'\]") as info:
        models.build("bert-tiny", {"layers": 3})
    assert "width, depth, heads, intermediate" in str(info.value)


def test_override_on_a_model_without_overrides_names_the_models_that_take_them():
    with pytest.raises(InvalidConfigError, match="squeezebert does not take override") as info:
        models.validate_overrides(models.get_spec("squeezebert"), {"width": 256})
    assert "bert-base" in str(info.value)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "4"])
def test_override_values_must_be_positive_integers(value):
    with pytest.raises(InvalidConfigError, match="override depth must be a positive integer"):
        models.validate_overrides(models.get_spec("bert-tiny"), {"depth": value})


def test_vision_outputs_are_of_order_one_so_fp16_parity_means_something():
    model = models.build("mobilenet-v2")
    with torch.inference_mode():
        out = model.module(*model.inputs(1, 64))
    assert out.abs().max().item() > 1e-3
