"""A step's work counts on a tiny module with known parts, and the per-op profile's groups on synthetic profiles."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from ftax.measure.op_profile import profile_ops
from ftax.measure.step_work import StepWork, step_work
from ftax.read import decode_ops


class TiedLM(nn.Module):
    """An embedding whose table is also the output head (as gpt2's), a second embedding only gathered (as
    llama-small's), a projection, and a cache buffer read whole."""

    def __init__(self, vocab: int = 50, width: int = 8, cache: int = 6) -> None:
        super().__init__()
        self.tied = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(vocab, width)
        self.proj = nn.Linear(width, width, bias=False)
        self.register_buffer("cache", torch.ones(cache, width))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.tied(ids) + self.positions(ids))
        x = x + (x @ self.cache.T).sum(-1, keepdim=True)
        return x @ self.tied.weight.T


def test_step_work_counts_each_storage_once_and_no_gathered_table():
    module = TiedLM().eval()
    work = step_work(module, (torch.tensor([[1, 2, 3]]),))
    assert work.weight_bytes == (50 * 8 + 8 * 8) * 4  # the tied table once, the projection; not `positions`
    assert work.buffer_bytes == 6 * 8 * 4
    assert work.gathered_bytes == 2 * 3 * 8 * 4  # two lookups of three rows
    assert work.flops == pytest.approx(2 * 3 * 8 * (8 + 6 + 50))
    assert work.bytes_read == work.weight_bytes + work.buffer_bytes + work.gathered_bytes
    assert StepWork.from_dict(work.to_dict()) == work


def test_profile_ops_counts_calls_per_step():
    a, b = torch.randn(4, 8), torch.randn(8, 8)
    profiled_ms, by_op, by_shape = profile_ops(lambda: torch.mm(a, b) + 1, steps=3, warmup=1)
    mm = next(o for o in by_op if o.op == "aten::mm")
    assert mm.calls == 1 and profiled_ms >= mm.self_ms >= 0
    assert any(o.op == "aten::mm" and "[4, 8]" in o.shapes for o in by_shape)


def _profile(batch: int, ops: list[tuple[str, float, float]], profiled_ms: float) -> dict:
    return {"model": "gpt2", "dtype": "fp32", "batch_size": batch, "seq_len": 128, "phase": "decode",
            "machine_id": "a", "timestamp": "2026-01-05T11:00:00+00:00", "profiled_ms": profiled_ms, "steps": 10,
            "ops": [{"op": o, "calls": c, "self_ms": ms, "total_ms": ms, "shapes": ""} for o, c, ms in ops],
            "shapes": [{"op": "aten::addmm", "calls": 48.0, "self_ms": 30.0, "total_ms": 30.0,
                        "shapes": f"[[3072], [{batch}, 768], [768, 3072]]"},
                       {"op": "aten::addmm", "calls": 12.0, "self_ms": 5.0, "total_ms": 5.0,
                        "shapes": f"[[768], [{batch}, 768], [768, 768]]"}],
            "work": StepWork(int(5e8), 0, 0, ())}


def test_groups_add_up_to_the_profiled_step_and_price_the_products_reading_the_weights():
    profiles = pd.DataFrame([_profile(4, [("aten::addmm", 60.0, 50.0), ("aten::mm", 1.0, 10.0),
                                          ("aten::_scaled_dot_product_flash_attention_for_cpu", 12.0, 8.0),
                                          ("aten::index_copy_", 24.0, 2.0), ("aten::gelu", 12.0, 5.0)], 100.0)])
    groups = decode_ops.by_group(profiles).set_index("group")
    assert groups.self_ms[decode_ops.MATMUL] == pytest.approx(60.0)
    assert groups.self_ms[decode_ops.ATTENTION] == pytest.approx(8.0)
    assert groups.self_ms[decode_ops.COPIES] == pytest.approx(2.0)
    assert groups.self_ms[decode_ops.REST] == pytest.approx(5.0)
    assert groups.self_ms["outside ops"] == pytest.approx(25.0) and groups.share.sum() == pytest.approx(1.0)
    assert groups.weight_gbs[decode_ops.MATMUL] == pytest.approx(5e8 / 0.06 / 1e9)


def test_the_same_product_is_followed_across_the_batches_per_call():
    profiles = pd.DataFrame([_profile(b, [("aten::addmm", 60.0, 35.0)], 50.0) for b in (1, 4, 16)])
    top = decode_ops.products_by_rows(profiles, 1)
    assert top == [{"op": "aten::addmm", "weights": "3072 768x3072", "ms_per_call": {1: 30.0 / 48, 4: 30.0 / 48,
                                                                                     16: 30.0 / 48},
                    "self_ms": 90.0}]


def test_only_this_machines_newest_decode_profile_is_read():
    old, new = _profile(1, [("aten::addmm", 60.0, 10.0)], 20.0), _profile(1, [("aten::addmm", 60.0, 12.0)], 22.0)
    other = {**_profile(4, [], 30.0), "machine_id": "b"}
    profiles = pd.DataFrame([old, new, other])
    kept = decode_ops.newest_profiles(profiles, "a")
    assert list(kept.profiled_ms) == [22.0]
    assert decode_ops.newest_profiles(profiles, None).empty
