"""A page selects its rows once: `rows_of` and `focus` select with pandas over what the study layer handed down
(each grid's configs as the frame's columns, the resolved device), give the rows the grids' own configs give,
and the read layer and the pages import no torch."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from fake_study import FakeStudy
from ftax import pages
from ftax.measure.profiler_blind import blind_reason
from ftax.read.rows import focus, rows_of
from ftax.store.grid_rows import GridRows
from ftax.store.dataframe import overrides_json, rows_matching
from ftax.store.schema import MeasureConfig
from ftax.study.studies import grid_rows
from ftax.sweep.grids import Grid, study_configs

GRIDS = [Grid("batch", models=("bert-tiny", "bert-mini"), backends=("eager", "torchscript"), batch_sizes=(1, 4, 16),
              seq_lens=(16,), device="cpu"),
         Grid("seq", models=("bert-tiny",), batch_sizes=(1,), seq_lens=(16, 32), device="cpu"),
         Grid("wd", models=("bert-base",), batch_sizes=(1,), seq_lens=(16,), device="cpu",
              overrides=((("depth", 1), ("width", 64)), (("depth", 2), ("width", 64)))),
         Grid("decode", models=("llama-small",), batch_sizes=(1, 2), seq_lens=(16,), phases=("decode",),
              device="cpu")]


def _frame() -> pd.DataFrame:
    """Rows of every grid's configs on two machines and devices, plus rows of no grid (another batch size, an
    override, a phase)."""
    rows = []
    for machine, device in (("a", "cpu"), ("b", "cuda:0")):
        for c in (c for g in GRIDS for c in g.configs()):
            rows.append(dict(model=c.model, backend=c.backend, dtype=c.dtype, batch_size=c.batch_size,
                             seq_len=c.seq_len, overrides=overrides_json(dict(c.overrides)), phase=c.phase, machine_id=machine,
                             machine_label=machine.upper(), device=device, status="ok", estimate_ms=1.0))
        rows += [dict(rows[0], batch_size=64, machine_id=machine, device=device),
                 dict(rows[0], overrides='{"depth": 3, "width": 64}', machine_id=machine, device=device),
                 dict(rows[-1], phase="prefill", machine_id=machine, device=device)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.mark.parametrize("names, varying", [(None, None), (["batch"], None), (["seq", "decode"], None),
                                            (None, "batch_sizes"), (None, "seq_lens"), (["wd"], "overrides"),
                                            (["batch"], "seq_lens"), (["nothing"], None)])
def test_rows_of_gives_the_rows_the_grids_configs_give(names, varying):
    frame = _frame()
    chosen = [g for g in GRIDS if (names is None or g.name in names)
              and (varying is None or len(getattr(g, varying)) > 1)]
    configs = [c for g in chosen for c in g.configs()]
    expected = rows_matching(frame, configs) if configs else frame.iloc[0:0]
    got = rows_of(frame, grid_rows(GRIDS), names=names, varying=varying)
    pd.testing.assert_frame_equal(got[expected.columns], expected)
    assert rows_of(pd.DataFrame(), grid_rows(GRIDS), names=names, varying=varying).empty


def test_grid_rows_are_plain_data_computed_once():
    rows = grid_rows(GRIDS)
    assert all(isinstance(r, GridRows) for r in rows)
    assert [r.name for r in rows] == ["batch", "seq", "wd", "decode"]
    assert rows[0].sweeps == {"models", "backends", "batch_sizes"} and rows[2].sweeps == {"overrides"}
    assert all(isinstance(c, MeasureConfig) for r in rows for c in r.configs)
    assert [c for r in rows for c in r.configs] == [c for g in GRIDS for c in g.configs()]
    assert list(dict.fromkeys(c for r in rows for c in r.configs)) == study_configs(GRIDS)


def test_focus_takes_the_resolved_device_and_the_view_the_studys():
    frame = _frame()
    rows, label = focus(frame, "b", "cuda")
    assert label == "B" and set(rows.device) == {"cuda:0"}
    rows, label = focus(frame, "b", "cpu")  # b has no cpu rows: the machine with the most ok rows
    assert label in {"A", "B"} and rows.machine_label.nunique() == 1
    with pytest.raises(ValueError, match="resolved device"):
        focus(frame, "b", "auto")
    study = FakeStudy(frame.assign(median_ms=1.0), GRIDS, machine_id="b", device="cuda")
    assert pages.view(study, "auto").machine == "B"  # auto: the device the study resolved
    assert pages.view(study, "cpu").frame.machine_label.nunique() == 1


def test_a_runtime_the_cpu_profiler_cannot_see_has_a_reason_on_cpu_only():
    assert "no profiler events" in blind_reason("aot-inductor", "cpu", "cpu-compute-ops")
    assert blind_reason("aot-inductor", "cpu", "cpu-compute-ops+inductor-kernels") is None
    assert blind_reason("aot-inductor", "cpu") is None  # a profile taken now: packages are compiled to be seen
    assert blind_reason("aot-inductor", "cuda:0") is None
    assert blind_reason("eager", "cpu") is None


@pytest.mark.parametrize("module", ["ftax.read.rows", "ftax.pages", "ftax.pages.framework_bound",
                                    "ftax.pages.model_design", "ftax.pages.claims", "ftax.pages.intro"])
def test_selecting_rows_imports_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
