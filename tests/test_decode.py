"""Phases and decoding: phase in the config and its key, the static-cache step, greedy parity, aot-inductor."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from ftax.run.parity import check_parity
from ftax.run import backends, decoding, models
from ftax.store import dataframe, jsonl, schema
from ftax.study.grid_files import grids_from_spec, load_grid_file
from ftax.sweep.grids import Grid
from ftax.store.schema import MeasureConfig, Record, config_key
from ftax.run.runner import MeasureOptions, measure_compared, measure_config
from ftax.measure.timing import StopRule

RESULTS = Path(__file__).resolve().parents[1] / "results"
RULE = StopRule(name="custom", warmup_iters=1, warmup_time_s=0.0, min_iters=3, min_time_s=0.0, max_time_s=0.05,
                pipelined_calls=2, pipelined_rounds=1, pipelined_max_s=0.05)
OPTIONS = MeasureOptions(rule=RULE, resources=False, count_flops=False)
TINY = {"llama-small": {"depth": 1}, "gpt2": {"width": 64, "depth": 1}}  # one-layer decoders: seconds, not minutes
SEQ = 12


# --- phase in the config and its key ---------------------------------------------------------------

def test_committed_forward_records_keep_their_config_key():
    stored = [d for d in jsonl.iter_records(RESULTS)][:200]
    if not stored:
        pytest.skip("no committed records")
    for data in stored:
        record = Record.from_upgraded(data)  # iter_records upgraded it
        assert record.config.phase == "forward"
        assert record.config_key == data["config_key"]


def test_phase_keeps_configs_apart_and_forward_unchanged():
    forward = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 128)
    decode = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 128, phase="decode")
    prefill = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 128, phase="prefill")
    keys = {config_key(c, "m") for c in (forward, decode, prefill)}
    assert len(keys) == 3
    legacy = {k: v for k, v in forward.to_dict().items() if k != "phase"}
    assert MeasureConfig.from_dict(legacy) == forward
    assert forward.label() == "gpt2 eager fp32 cpu bs=1 seq=128" and decode.label().endswith(" decode")


def _row(config: MeasureConfig, median: float) -> dict:
    return {"config": config.to_dict(), "status": "ok", "message": "", "env": {"machine_id": "m"},
            "stats": {"median_ms": median}, "config_key": config_key(config, "m"), "machine_id": "m",
            "schema_version": 2 if config.phase == "forward" else 3, "timestamp": "2026-01-01T00:00:00+00:00"}


def test_loaded_frame_and_rows_matching_keep_phases_apart(tmp_path):
    forward = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 16)
    decode = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 16, phase="decode")
    old = _row(forward, 5.0)
    del old["config"]["phase"]  # written before phases existed
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(old) + "\n" + json.dumps(_row(decode, 1.0)) + "\n")
    frame = dataframe.load(tmp_path)
    assert sorted(frame["phase"]) == ["decode", "forward"]
    assert list(dataframe.rows_matching(frame, [decode])["median_ms"]) == [1.0]
    assert list(dataframe.rows_matching(frame, [forward])["median_ms"]) == [5.0]


def test_version_3_decoder_counts_are_dropped_and_forward_ones_kept(tmp_path):
    """Version 3 gave prefill and decode of one shape the first-timed one's FLOPs: unknown beats wrong."""
    forward = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 16)
    decode = MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 1, 16, phase="decode")
    stored = [{**_row(forward, 1.0), "flops": 5.0, "schema_version": 3},
              {**_row(decode, 1.0), "flops": 6.0, "schema_version": 3},
              {**_row(decode, 1.0), "flops": 7.0, "schema_version": schema.SCHEMA_VERSION,
               "timestamp": "2026-01-02T00:00:00+00:00"}]  # a later visit, not a duplicate line
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stored))
    flops = dataframe.load(tmp_path).set_index(["phase", "schema_version"])["flops"]
    assert flops[("forward", 3)] == 5.0 and pd.isna(flops[("decode", 3)])
    assert flops[("decode", schema.SCHEMA_VERSION)] == 7.0


def test_prefill_and_decode_timed_together_get_their_own_flops():
    configs = [MeasureConfig.make("gpt2", "eager", "fp32", "cpu", 2, SEQ, TINY["gpt2"], phase)
               for phase in ("prefill", "decode")]
    prefill, decode = measure_compared(configs, MeasureOptions(rule=RULE, resources=False, check_parity=False))
    assert prefill.status == decode.status == "ok", (prefill.message, decode.message)
    assert prefill.flops > decode.flops > 0  # a prompt of SEQ tokens against one new token


def test_grid_takes_phases_and_rejects_unknown_ones(tmp_path):
    grid = Grid("g", models=("gpt2",), phases=("prefill", "decode"), seq_lens=(16,))
    assert [c.phase for c in grid.configs()] == ["prefill", "decode"]
    spec = tmp_path / "grid.yaml"
    spec.write_text("models: [gpt2]\nphases: [decode]\n")
    (loaded,) = grids_from_spec(load_grid_file(spec))
    assert loaded.phases == ("decode",)
    with pytest.raises(Exception, match="phase"):
        Grid("g", models=("gpt2",), phases=("sample",)).validate()


@pytest.mark.parametrize("model,backend,says", [("bert-tiny", "eager", "decoder"),
                                                ("gpt2", "torchscript", "constants"),
                                                ("gpt2", "onnxruntime", "ONNX")])
def test_impossible_decode_combinations_are_unsupported_rows(model, backend, says):
    config = MeasureConfig.make(model, backend, "fp32", "cpu", 1, SEQ, phase="decode")
    record = measure_config(config, OPTIONS)
    assert record.status == "unsupported" and says in record.message


# --- the static-cache step ---------------------------------------------------------------------------

@pytest.fixture(scope="module", params=list(TINY))
def tiny_lm(request):
    return models.build_validated(models.get_spec(request.param), TINY[request.param], causal_lm=True)


def test_step_after_fill_equals_the_full_forward(tiny_lm):
    step = decoding.step_model(tiny_lm, 2, SEQ, "decode")
    prompt = decoding.prompt_for(tiny_lm, 2, SEQ + 1)
    decoding.fill(step.module, prompt[:, :SEQ])
    with torch.inference_mode():
        last = step.module(prompt[:, SEQ:], torch.tensor([SEQ]))
        full = tiny_lm.module(input_ids=prompt).logits[:, -1]
    torch.testing.assert_close(last, full, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", ["eager", pytest.param("compile", marks=pytest.mark.slow)])
def test_one_prompt_pass_fills_the_cache_a_module_backend_decodes_from(tiny_lm, backend):
    token_by_token, one_pass = (decoding.step_model(tiny_lm, 2, SEQ, "decode") for _ in range(2))
    decoding.fill_cache(token_by_token.module, token_by_token, 2, SEQ)
    inputs = decoding.step_inputs(one_pass, 2, SEQ, "decode")
    prepared = backends.prepare(backend, one_pass, inputs)
    decoding.fill_cache(prepared.run, one_pass, 2, SEQ, prompt_pass=True)
    with torch.inference_mode():
        expected = token_by_token.module(*inputs)
        torch.testing.assert_close(prepared.run(*inputs), expected, atol=1e-4, rtol=1e-4)
    assert backend in backends.RUN_ON_MODULE_BUFFERS


def test_cache_holds_seq_len_tokens_and_does_not_grow_across_timed_calls(tiny_lm):
    step = decoding.step_model(tiny_lm, 2, SEQ, "decode")
    inputs = decoding.step_inputs(step, 2, SEQ, "decode")
    prepared = backends.prepare("eager", step, inputs)
    decoding.fill_cache(prepared.run, step, 2, SEQ)
    layer = step.module.static_cache.layers[0]
    assert layer.keys.shape[2] == SEQ + 1
    filled = layer.keys[:, :, :SEQ].clone()
    assert bool((filled.abs().sum(dim=-1) > 0).all())  # every one of the seq_len positions holds a key
    shapes = [tuple(x.shape) for x in inputs]
    with torch.inference_mode():
        for _ in range(3):
            prepared.call()
            assert [tuple(x.shape) for x in inputs] == shapes
            assert layer.keys.shape[2] == SEQ + 1 and int(layer.cumulative_length) == SEQ + 1
    torch.testing.assert_close(layer.keys[:, :, :SEQ], filled)  # the timed calls rewrite slot seq_len only


def test_prefill_step_matches_the_prompt_pass(tiny_lm):
    step = decoding.step_model(tiny_lm, 1, SEQ, "prefill")
    ids, position = decoding.step_inputs(step, 1, SEQ, "prefill")
    with torch.inference_mode():
        once, twice = step.module(ids, position), step.module(ids, position)
        full = tiny_lm.module(input_ids=ids).logits[:, -1]
    torch.testing.assert_close(once, full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(twice, once)


def test_steps_get_contiguous_inputs():
    """A column of a [batch, n] prompt is strided; a compiled package reads its inputs as contiguous."""
    seen = []

    def run(ids: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        seen.append((ids.is_contiguous(), tuple(ids.shape), position.item()))
        return torch.zeros(ids.shape[0], 7)

    fake = type("Fake", (), {"module": type("M", (), {"config": type("C", (), {"vocab_size": 7})()})(),
                             "device": torch.device("cpu")})()
    tokens = decoding.greedy_tokens(run, fake, 3, 6, n=3)
    assert tokens.shape == (3, 3)
    assert [s[0] for s in seen] == [True] * 6 and {s[1] for s in seen} == {(3, 1)}
    assert [s[2] for s in seen] == list(range(6))  # prompt at 0..3, generated tokens fed at 4 and 5 < seq_len


def test_per_token_statistics():
    stats = {"median_ms": 4.0, "ci_low_ms": 3.0, "ci_high_ms": 5.0}
    decode = decoding.per_token(stats, 4, 128, "decode")
    assert decode["ms"] == 4.0 and decode["tokens_per_s"] == pytest.approx(1000.0)
    prefill = decoding.per_token(stats, 2, 128, "prefill")
    assert prefill["ms"] == pytest.approx(4.0 / 128) and prefill["tokens_per_s"] == pytest.approx(256 / 0.004)


# --- greedy parity per backend (through the runner) ----------------------------------------------------

def _decode_record(model: str, backend: str, phase: str = "decode", batch: int = 2) -> Record:
    config = MeasureConfig.make(model, backend, "fp32", "cpu", batch, SEQ, TINY[model], phase=phase)
    return measure_config(config, OPTIONS)


@pytest.mark.parametrize("model", list(TINY))
def test_eager_decode_record_carries_per_token_statistics(model):
    record = _decode_record(model, "eager")
    assert record.status == "ok", record.message
    assert record.config.phase == "decode" and record.parity["ok"]
    assert record.per_token["ms"] == record.stats["median_ms"]
    assert record.per_token["tokens_per_s"] == pytest.approx(2 / (record.stats["median_ms"] / 1e3))
    row = dataframe._flatten(json.loads(record.to_json()))
    assert row["phase"] == "decode" and row["per_token_tokens_per_s"] > 0
    assert row["cache_fill"] == decoding.PROMPT_PASS  # the record says how its cache took the prompt


@pytest.mark.parametrize("backend, phase, fill", [("eager", "decode", decoding.PROMPT_PASS),
                                                  ("compile", "decode", decoding.PROMPT_PASS),
                                                  ("aot-inductor", "decode", decoding.TOKEN_AT_A_TIME),
                                                  ("eager", "prefill", None), ("eager", "forward", None)])
def test_a_decode_record_names_the_fill_its_runtime_gets(backend, phase, fill):
    from ftax.run.runner import _cache_fill
    config = MeasureConfig.make("gpt2", backend, "fp32", "cpu", 1, SEQ, phase=phase)
    assert _cache_fill(config) == fill


@pytest.mark.slow
@pytest.mark.parametrize("model", list(TINY))
@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_compile_decodes_the_same_greedy_tokens_as_eager(model, phase):
    record = _decode_record(model, "compile", phase)
    assert record.status == "ok", record.message
    assert record.parity["ok"], record.message


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cudagraph", "compile-reduce-overhead"])
def test_cuda_graph_decode_matches_eager(backend):
    config = MeasureConfig.make("llama-small", backend, "fp32", "cuda", 2, SEQ, TINY["llama-small"], phase="decode")
    record = measure_config(config, OPTIONS)
    assert record.status == "ok" and record.parity["ok"], record.message


# --- aot-inductor ---------------------------------------------------------------------------------------

def test_aot_inductor_package_path_depends_on_shape(bert_tiny, tmp_path):
    one = backends.aoti_path(bert_tiny, "fp32", bert_tiny.inputs(1, 16), tmp_path)
    two = backends.aoti_path(bert_tiny, "fp32", bert_tiny.inputs(2, 16), tmp_path)
    assert one != two and one.parent == tmp_path / "aot-inductor" and one.suffix == ".pt2"


@pytest.mark.slow
def test_aot_inductor_matches_eager_on_bert_tiny_and_is_cached(bert_tiny_bs1_seq16, tmp_path):
    model, inputs, reference = bert_tiny_bs1_seq16
    prepared = backends.prepare("aot-inductor", model, inputs, cache_dir=tmp_path)
    assert prepared.detail.startswith("compiled")
    with torch.inference_mode():
        prepared.call()
    assert check_parity(prepared.output(), reference, "fp32").ok
    again = backends.prepare("aot-inductor", model, inputs, cache_dir=tmp_path)
    assert again.detail.startswith("cached")


@pytest.mark.slow
def test_aot_inductor_decodes_the_same_greedy_tokens_as_eager():
    record = _decode_record("llama-small", "aot-inductor", batch=1)
    assert record.status == "ok", record.message
    assert record.parity["ok"], record.message
