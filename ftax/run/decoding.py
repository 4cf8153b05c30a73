"""A decoder's prefill and decode steps with a static KV cache: the one timed call of phase prefill/decode.

`step_model` wraps a causal LM (models.build_validated(..., causal_lm=True)) in `StaticStep`, transformers'
own export recipe (`TorchExportableModuleWithStaticCache`: a `StaticCache` preallocated for one batch size,
its tensors registered as buffers) with inputs `(input_ids, cache_position)` and the last position's logits
as output. Every backend (eager, torch.compile, AOTInductor, CUDA graphs) runs the same module, so they do
the same work:

- decode: input_ids [batch, 1] at cache_position [seq_len], cache length seq_len + 1. Before timing, the
  cache holds positions 0..seq_len-1: a prompt (`take_prompt`: one eager prompt pass where the backend runs on
  the module's own buffers, else a token at a time through the backend's step), then in round 0 the greedy
  parity run's tokens decoded through the backend's step; each timed call then writes the same slot seq_len and
  attends over seq_len + 1 positions. Input shapes never change and the cache never grows across timed calls.
- prefill: input_ids [batch, seq_len] at cache_position [0] into a cache of seq_len: the prompt pass.

Greedy parity (`greedy_tokens`): N tokens decoded greedily through a backend's step equal eager's.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from ftax.store.errors import UnsupportedError
from ftax.run.models import BuiltModel

GREEDY_TOKENS = 8  # tokens decoded greedily for a decode config's parity check
# How a decode config's cache took its prompt, as its record's `setup.cache_fill` says it.
PROMPT_PASS, TOKEN_AT_A_TIME = "prompt pass", "token at a time"
FILL_SEED = 1


def _static_step_class() -> type:
    from transformers.integrations.executorch import TorchExportableModuleWithStaticCache

    class StaticStep(TorchExportableModuleWithStaticCache):
        """One step of a causal LM over its preallocated cache: (input_ids, cache_position) -> last logits.

        The cache layers are pointed at the module's own buffers on every call, so that `torch.export`
        (which swaps a module's buffers for traced ones) sees the cache update as a buffer mutation rather
        than a write into a captured constant (AOTInductor refuses the latter). `cumulative_length` is set
        from `cache_position`, so a call writes at that position whatever ran before.
        """

        def forward(self, input_ids: torch.Tensor, cache_position: torch.Tensor) -> torch.Tensor:
            for i, layer in enumerate(self.static_cache.layers):
                layer.keys, layer.values = getattr(self, f"key_cache_{i}"), getattr(self, f"value_cache_{i}")
                layer.cumulative_length = getattr(self, f"cumulative_length_{i}")
                layer.cumulative_length.copy_(cache_position[0])
            out = self.model(input_ids=input_ids, attention_mask=None, cache=self.static_cache, use_cache=True,
                             logits_to_keep=1)
            return out.logits[:, -1, :]

    return StaticStep


def cache_len(phase: str, seq_len: int) -> int:
    """Positions the static cache holds: the prompt (prefill), or seq_len cached tokens plus the new one (decode)."""
    return seq_len + 1 if phase == "decode" else seq_len


def step_model(model: BuiltModel, batch_size: int, seq_len: int, phase: str) -> BuiltModel:
    """`model` (a causal LM) as a step module with its own static cache for `batch_size`, ready for any backend."""
    if not model.causal_lm:
        raise UnsupportedError(f"{model.spec.name} is not built as a causal LM (phase {phase} needs a decoder)")
    lm = model.module
    lm.generation_config.cache_implementation = "static"
    step = _static_step_class()(lm, batch_size=batch_size, max_cache_len=cache_len(phase, seq_len),
                                device=model.device).eval()
    return replace(model, module=step, info={**model.info, "cache_len": cache_len(phase, seq_len)})


def vocab_size(model: BuiltModel) -> int:
    module = model.module
    lm = getattr(module, "model", module)
    return int(lm.config.vocab_size)


def step_inputs(model: BuiltModel, batch_size: int, seq_len: int, phase: str, seed: int = 0) -> tuple:
    """The timed call's inputs: one token at position seq_len (decode), or the prompt at position 0 (prefill)."""
    gen = torch.Generator().manual_seed(seed)
    width = 1 if phase == "decode" else seq_len
    ids = torch.randint(3, vocab_size(model), (batch_size, width), generator=gen)
    position = torch.tensor([seq_len if phase == "decode" else 0], dtype=torch.long)
    return ids.to(model.device), position.to(model.device)


Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _position(value: int, device: torch.device) -> torch.Tensor:
    return torch.tensor([value], dtype=torch.long, device=device)


def fill(run: Step, prompt: torch.Tensor) -> torch.Tensor | None:
    """Feed `prompt` [batch, n] one token at a time at positions 0..n-1 through `run`; the last logits."""
    logits = None
    with torch.inference_mode():
        for p in range(prompt.shape[1]):
            logits = run(prompt[:, p:p + 1].contiguous(), _position(p, prompt.device))  # AOTI assumes contiguous
    return logits


def prompt_for(model: BuiltModel, batch_size: int, length: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(FILL_SEED)
    return torch.randint(3, vocab_size(model), (batch_size, length), generator=gen).to(model.device)


def take_prompt(run: Step, model: BuiltModel, prompt: torch.Tensor, prompt_pass: bool = False) -> torch.Tensor:
    """Write `prompt` [batch, n] into positions 0..n-1 of the cache; the logits at its last position.

    With `prompt_pass`, one call of the eager step module (`model`, the step model) writes all n positions:
    right for a runtime whose step reads and writes the module's own cache buffers (eager, torch.compile), and
    n times cheaper than a token at a time. A runtime with a cache of its own (AOTInductor's package holds its
    own copy of the buffers) takes the prompt through its step (`run`), a token at a time.
    """
    if not prompt_pass:
        return fill(run, prompt)
    with torch.inference_mode():
        return model.module(prompt, _position(0, prompt.device))


def fill_cache(run: Step, model: BuiltModel, batch_size: int, seq_len: int, prompt_pass: bool = False) -> None:
    """Positions 0..seq_len-1 of the backend's cache hold a prompt's keys and values (decode's state, not timed)."""
    take_prompt(run, model, prompt_for(model, batch_size, seq_len), prompt_pass)


def greedy_tokens(run: Step, model: BuiltModel, batch_size: int, seq_len: int, n: int = GREEDY_TOKENS,
                  prompt_pass: bool = False) -> torch.Tensor:
    """[batch, n] tokens decoded greedily after a prompt of seq_len + 1 - n tokens, through `run`.

    The prompt goes in by `take_prompt`; the n tokens are always decoded through `run`. They are fed at positions
    up to seq_len - 1, so afterwards the cache holds seq_len tokens, as a decode step's timed calls expect.
    """
    n = max(1, min(n, seq_len))
    logits = take_prompt(run, model, prompt_for(model, batch_size, seq_len + 1 - n), prompt_pass)
    tokens = []
    with torch.inference_mode():
        for k in range(n):
            token = logits.argmax(dim=-1)
            tokens.append(token)
            if k < n - 1:
                logits = run(token[:, None].contiguous(), _position(seq_len + 1 - n + k, token.device))
    return torch.stack(tokens, dim=1).cpu()


def per_token(stats: dict, batch_size: int, seq_len: int, phase: str) -> dict:
    """Per-token view of a step's statistics: decode makes one token per sequence per call (per_token_ms = the
    step), prefill reads batch x seq_len prompt tokens per call (per_token_ms = the call / seq_len)."""
    tokens_per_call = batch_size if phase == "decode" else batch_size * seq_len
    per_call = 1 if phase == "decode" else seq_len
    median = stats["median_ms"]
    return {"ms": median / per_call, "ci_low_ms": stats["ci_low_ms"] / per_call,
            "ci_high_ms": stats["ci_high_ms"] / per_call, "tokens_per_call": tokens_per_call,
            "tokens_per_s": tokens_per_call / (median / 1e3) if median > 0 else None}
