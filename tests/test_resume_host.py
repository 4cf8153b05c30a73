"""Resume tells hosts apart: a visit stored on another host (or on a host not recorded) is measured anew."""
from __future__ import annotations

import json

import pytest

from ftax.store import jsonl, resume
from ftax.sweep import rounds as sweep
from ftax.sweep.grids import Grid
from ftax.sweep.profiles import RULES
from ftax.run.runner import MeasureOptions

SMOKE = MeasureOptions(rule=RULES["smoke"], count_flops=False)
ENV = {"torch_version": "2.13", "transformers_version": "4.57", "onnxruntime_version": "1.32", "host_id": "aa"}


@pytest.mark.parametrize(("stored", "done"), [
    (ENV, True),
    ({**ENV, "host_id": "bb"}, False),
    ({k: v for k, v in ENV.items() if k != "host_id"}, False),  # stored before hosts were told apart
    ({**ENV, "torch_version": "2.12"}, False),
])
def test_a_visit_counts_as_done_only_on_the_same_software_and_host(stored, done):
    record = {"status": "ok", "env": stored}
    assert resume.is_done(record, stack_now=resume.stack(ENV)) is done
    assert resume.is_done(record) is True  # without a stack to compare, only the status decides


@pytest.mark.parametrize("stored_host", ["another-host", None])
def test_a_sweep_measures_again_a_visit_stored_on_another_host(tmp_path, stored_host):
    grid = Grid(name="t", models=("synthetic-linear",), backends=("eager",), batch_sizes=(1,), seq_lens=(8,),
                device="cpu", rule=RULES["smoke"], overrides=((("depth", 1), ("width", 16)),))
    configs = grid.configs()
    sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    [store] = list(tmp_path.glob("*.jsonl"))
    data = json.loads(store.read_text().splitlines()[0])
    here = data["env"].get("host_id")
    data["env"]["host_id"] = stored_host
    store.write_text(json.dumps(data) + "\n")
    again = sweep.run_sweep(configs, tmp_path, SMOKE, progress=False)
    assert sum(again.counts.values()) == 1
    assert {d["env"].get("host_id") for d in jsonl.iter_records(store)} == {stored_host, here}
    assert sweep.run_sweep(configs, tmp_path, SMOKE, progress=False).skipped == 1  # this host's visit now counts
