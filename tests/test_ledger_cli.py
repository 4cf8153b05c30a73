"""`ftax ledger`, the profiler's view of Inductor's kernels, and AOTInductor's package key (the ledger's inputs)."""
from __future__ import annotations

import pandas as pd
import pytest

from ftax.cli.commands import main
from ftax.measure import decompose
from ftax.measure.decompose import Event, is_cpu_compute, is_inductor_kernel, step_parts
from test_ledger import _frame


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A results folder whose records load as the synthetic ladder of tests/test_ledger.py."""
    (tmp_path / "sim.jsonl").write_text("")
    monkeypatch.setattr("ftax.store.dataframe.load", lambda files: _frame())
    return tmp_path


def test_the_command_prints_one_configs_ledger_and_its_answer(stored, capsys):
    assert main(["ledger", "--model", "bert-tiny", "--backend", "torchscript", "--results-dir", str(stored)]) == 0
    out = capsys.readouterr().out
    assert "| eager->torchscript |" in out and "| eager->torchscript:kernels |" in out
    assert "| torchscript->aot-inductor |" in out  # the step that starts at this runtime, too
    assert "| aot-inductor | wall |" not in out  # another runtime's own parts are not this config's
    assert "eager spends" in out and "TorchScript saves" in out


def test_the_command_writes_every_configs_ledger_as_csv(stored, tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    assert main(["ledger", "--csv", str(path), "--results-dir", str(stored)]) == 0
    table = pd.read_csv(path)
    assert set(table["backend"]) == {"eager", "torchscript", "aot-inductor"}
    assert {"kernels", "host", "eager->torchscript"} <= set(table["part"])


def test_no_records_says_how_to_measure_and_bad_names_are_one_line(tmp_path, capsys):
    assert main(["ledger", "--model", "bert-tiny", "--batch-size", "2", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ftax sweep --models bert-tiny --backends eager,torchscript" in err
    assert main(["ledger", "--model", "bert-tny", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown model 'bert-tny'" in err


def test_inductor_kernels_count_as_busy_and_name_the_method():
    names = ["graph_0_cpp_fused_add_gelu_native_layer_norm_0", "cpp_fused__softmax_1", "aoti_torch_cpu_addmm_out"]
    assert all(is_inductor_kernel(n) and is_cpu_compute(n) for n in names)
    assert not is_inductor_kernel("aten::view") and not is_cpu_compute("aten::view")
    events = [Event(decompose.STEP_NAME, 0, 100), Event("aoti_torch_cpu_addmm_out", 1, 40, self_us=39),
              Event("graph_0_cpp_fused_add_0", 41, 60, self_us=19), Event("aten::as_strided", 61, 62, self_us=1)]
    (part,) = step_parts(events, cuda=False)
    assert part.busy_us == pytest.approx(58) and part.kernels == 2 and part.ops == 1


def test_the_aoti_package_key_changes_with_kernel_profiling(bert_tiny, tmp_path):
    from ftax.run import backends

    inputs = bert_tiny.inputs(1, 16)
    profiled = backends.aoti_path(bert_tiny, "fp32", inputs, tmp_path, kernel_profile=True)
    assert backends.aoti_path(bert_tiny, "fp32", inputs, tmp_path) != profiled


def test_a_sweep_profiles_the_first_decompose_rounds_only():
    from ftax.run.runner import MeasureOptions
    from ftax.sweep.rounds import for_round

    options = MeasureOptions(decompose=True, decompose_rounds=3)
    assert [for_round(options, r).decompose for r in range(5)] == [True, True, True, False, False]
    assert not for_round(MeasureOptions(decompose=True), 1).decompose  # the default: the first round alone
    assert not for_round(options, 1).count_flops and not for_round(options, 1).check_parity



def test_decompose_rounds_below_one_is_a_one_line_error(tmp_path, capsys):
    assert main(["sweep", "--models", "bert-tiny", "--decompose-rounds", "0", "--out", str(tmp_path)]) == 2
    assert "--decompose-rounds must be a positive integer" in capsys.readouterr().err
