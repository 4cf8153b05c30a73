"""The unit costs (`ftax.measure.unit_costs`): each prices what it says, and a unit that cannot run says why."""
from __future__ import annotations

import torch

from ftax.measure import unit_costs
from ftax.measure.host_counts import count_host
from ftax.measure.timing import StopRule

FAST = StopRule(name="test", warmup_iters=1, warmup_time_s=0.0, warmup_max_s=0.01, min_iters=3, min_time_s=0.0,
                max_time_s=0.01, target_rel_ci=0.5, pipelined_calls=1, pipelined_rounds=1, pipelined_max_s=0.001)


def test_micro_costs_price_a_module_call_and_a_torch_call():
    costs = unit_costs.micro_costs(FAST, calls=2)
    assert [c.name for c in costs] == ["module_call", "torch_call"]
    for c in costs:
        assert c.error is None and c.n >= 3 and c.calls == 2
        assert 0 < c.ci_low_ms <= c.median_ms <= c.ci_high_ms


def test_a_data_dependent_op_has_no_meta_price_and_says_why():
    class Item(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if bool(x.sum() > 0) else x

    counts = count_host(Item(), (torch.ones(3),))
    costs = unit_costs.replay_costs(counts.replays, [o.op for o in counts.ops], FAST, calls=1)
    failed = [c for c in costs if c.error]
    assert [c.name for c in failed] == ["aten.is_nonzero.default"]
    assert failed[0].median_ms is None and "meta" in failed[0].error and "\n" not in failed[0].error
    assert all(c.median_ms and c.median_ms > 0 for c in costs if not c.error)


def test_meta_forward_failure_names_the_line_that_needed_data():
    class Branchy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:
                return x + 1
            return x

    module = Branchy()
    costs = unit_costs.meta_forward(module, [("inputs", (torch.ones(3),))], FAST)
    assert costs[0].median_ms is None
    assert costs[0].error.startswith("RuntimeError: ") and "in forward" in costs[0].error


def test_meta_forward_times_a_forward_with_no_data_dependence():
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    costs = unit_costs.meta_forward(module, [("inputs", (torch.ones(2, 4),))], FAST)
    assert costs[0].error is None and costs[0].median_ms > 0
    assert next(module.parameters()).device.type == "meta"


def test_replay_costs_reject_mismatched_names():
    try:
        unit_costs.replay_costs([], ["one"], FAST)
    except ValueError as error:
        assert "0 replays but 1 names" in str(error)
    else:
        raise AssertionError("no error")


def test_python_calls_counts_the_frames_a_unit_enters():
    def two() -> None:
        def inner() -> None:
            return None
        inner()
        inner()

    assert unit_costs.python_calls(two) == 2
    assert unit_costs.python_calls(lambda: torch.add(torch.ones(1), 1)) == 0
