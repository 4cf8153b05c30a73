"""The host counts of one forward (`ftax.measure.host_counts`) on toy modules with known numbers of calls."""
from __future__ import annotations

import torch

from ftax.measure.host_counts import count_host, signature


class _Toy(torch.nn.Module):
    """Two module calls (itself and its Linear), three torch calls (F.linear, torch.relu, Tensor.add), three aten
    ops under inference mode (linear arrives whole), relu twice on one shape."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.relu(self.lin(x))) + 1


def test_counts_of_a_toy_module_are_its_calls():
    counts = count_host(_Toy(), (torch.randn(2, 4),))
    assert counts.module_calls == 2
    assert counts.torch_calls == 4 and dict(counts.torch_call_names) == {
        "torch.nn.functional.linear": 1, "torch.relu": 2, "torch.Tensor.add": 1}
    assert counts.aten_ops == 4 == sum(o.count for o in counts.ops)
    by_op = {o.op: o for o in counts.ops}
    assert set(by_op) == {"aten.linear.default", "aten.relu.default", "aten.add.Tensor"}
    assert by_op["aten.relu.default"].count == 2 and by_op["aten.relu.default"].signature == "f32[2,4]"
    assert by_op["aten.relu.default"].busy and not by_op["aten.linear.default"].busy


def test_a_shape_change_is_a_new_distinct_op():
    class Twice(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) + torch.relu(x[:1])

    counts = count_host(Twice(), (torch.randn(2, 4),))
    relus = [o for o in counts.ops if o.op == "aten.relu.default"]
    assert sorted(o.signature for o in relus) == ["f32[1,4]", "f32[2,4]"]
    assert counts.module_calls == 1


def test_replays_run_on_meta_with_the_captured_shapes():
    counts = count_host(_Toy(), (torch.randn(2, 4),))
    assert len(counts.replays) == len(counts.ops)
    with torch.inference_mode():
        outs = [replay() for replay in counts.replays]
    assert all(out.device.type == "meta" and tuple(out.shape) == (2, 4) for out in outs)


def test_the_stored_form_leaves_the_replays_out():
    data = count_host(_Toy(), (torch.randn(2, 4),)).to_dict()
    assert "replays" not in data and data["module_calls"] == 2
    assert {"op", "signature", "count", "busy"} == set(data["ops"][0])


def test_signature_shows_strides_of_a_non_contiguous_tensor():
    t = torch.randn(4, 2).t()
    assert signature((t, 1), {"alpha": 2}) == "f32[2,4]/s(1,2), 1, alpha=2"


def test_cpu_replays_rerun_the_op_on_the_forwards_own_tensors():
    x = torch.randn(2, 4)
    counts = count_host(_Toy(), (x,))
    with torch.inference_mode():
        outs = [replay() for replay in counts.cpu_replays]
    assert all(out.device.type == "cpu" and tuple(out.shape) == (2, 4) for out in outs)
