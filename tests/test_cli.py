"""`ftax env` and `ftax measure` as a user runs them: JSON schema, exit codes, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftax import cli
from ftax.cli import commands
from ftax.store.errors import EXIT_USAGE

FAST = ["--min-time", "0.05", "--max-time", "0.3", "--target-ci", "0.25"]
STATS_KEYS = {"median_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "iqr_ms", "ci_low_ms", "ci_high_ms", "n"}
CONFIG_KEYS = {"model", "backend", "dtype", "device", "batch_size", "seq_len"}
TOP_KEYS = {"config", "status", "message", "stats", "pipelined_ms", "setup", "parity", "env", "ftax_version",
            "timestamp"}


def run_ftax(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftax", *args], capture_output=True, text=True, timeout=timeout)


def _stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


@pytest.mark.slow
def test_measure_json_prints_exactly_one_record_with_the_schema():
    proc = run_ftax("measure", "--model", "bert-tiny", "--backend", "eager", "--device", "cpu", "--batch-size", "2",
                    "--seq-len", "16", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    record = json.loads(lines[0])
    assert isinstance(record, dict)
    assert TOP_KEYS <= set(record)
    assert CONFIG_KEYS <= set(record["config"])
    assert {k: record["config"][k] for k in CONFIG_KEYS} == {
        "model": "bert-tiny", "backend": "eager", "dtype": "fp32", "device": "cpu", "batch_size": 2, "seq_len": 16}
    assert record["status"] == "ok" and record["message"] == ""
    stats = record["stats"]
    assert STATS_KEYS <= set(stats)
    assert stats["n"] >= 1 and stats["ci_low_ms"] <= stats["median_ms"] <= stats["ci_high_ms"]
    assert stats["median_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
    assert record["pipelined_ms"] > 0
    assert {"prepare_s", "first_call_ms"} <= set(record["setup"])
    assert {"max_abs_diff", "ok"} <= set(record["parity"]) and record["parity"]["ok"] is True
    assert record["env"]["machine_id"] and record["ftax_version"]
    assert record["setup"]["target_rel_ci"] == 0.25  # the stop-rule flags reach the measurement
    assert record["setup"]["stop_reason"] in ("target_ci", "max_time")
    assert len(record["samples_ms"]) == stats["n"]


def test_unsupported_config_exits_nonzero_with_one_line_reason():
    proc = run_ftax("measure", "--model", "bert-tiny", "--backend", "cudagraph", "--device", "cpu", "--seq-len", "16",
                    "--json", *FAST)
    assert proc.returncode != 0
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ftax: unsupported:") and "CUDA" in lines[0]
    record = json.loads(proc.stdout)
    assert record["status"] == "unsupported" and record["config"]["backend"] == "cudagraph"
    assert record["stats"] is None


def test_bad_model_name_exits_2_with_one_line_and_no_traceback():
    proc = run_ftax("measure", "--model", "bert-bas", "--json")
    assert proc.returncode == 2
    lines = _stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "unknown model 'bert-bas'" in lines[0] and "bert-base" in lines[0]
    assert proc.stdout == ""


def test_env_prints_machine_id(capsys):
    proc = run_ftax("env")
    assert proc.returncode == 0, proc.stderr
    assert any(line.split()[:1] == ["machine_id"] and len(line.split()) == 2 for line in proc.stdout.splitlines())
    assert cli.main(["env", "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["machine_id"] in proc.stdout


@pytest.mark.parametrize("args,says", [
    (["--model", "bert-tiny", "--seq-len", "9999"], "seq_len 9999 is outside bert-tiny's range"),
    (["--model", "bert-tiny", "--batch-size", "0"], "batch_size must be a positive integer"),
    (["--model", "bert-tiny", "--backend", "tensorrt"], "unknown backend 'tensorrt'; allowed:"),
    (["--model", "bert-tiny", "--dtype", "fp8"], "unknown dtype 'fp8'; allowed:"),
    (["--model", "bert-tiny", "--device", "tpu"], "unknown device 'tpu'; allowed:"),
    (["--model", "bert-tiny", "--override", "width=abc"], "override must look like width=512"),
    (["--model", "bert-tiny", "--override", "layers=3"], "allowed: width, depth, heads, intermediate"),
    (["--model", "squeezebert", "--override", "width=256"], "squeezebert does not take override"),
])
def test_bad_measure_arguments_give_one_line_and_exit_2(capsys, args, says):
    """In-process (fast): the same main() the subprocess tests run."""
    assert cli.main(["measure", *args, "--json"]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ftax: error: ") and says in err


def test_sweep_rounds_help_reads_each_profiles_rounds(capsys):
    from ftax.sweep.profiles import ROUNDS

    with pytest.raises(SystemExit):
        commands.build_parser().parse_args(["sweep", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(f"{profile} {rounds}" in help_text for profile, rounds in ROUNDS.items()), help_text


@pytest.mark.parametrize("flags, message", [
    (["--rounds", "0"], "--rounds must be a positive integer, got 0"),
    (["--rounds", "-3"], "--rounds must be a positive integer, got -3"),
    (["--budget-s", "0"], "--budget-s must be a positive number of seconds, got 0"),
    (["--budget-s", "-60"], "--budget-s must be a positive number of seconds, got -60"),
    (["--budget-s", "nan"], "--budget-s must be a positive number of seconds, got nan"),
])
@pytest.mark.parametrize("study", [["--study", "gpu-reference", "--plan"],
                                   ["--models", "bert-tiny", "--device", "cpu"]])
def test_sweep_refuses_nonsense_counts_with_one_line(tmp_path, capsys, flags, message, study):
    code = cli.main(["sweep", *study, *flags, "--out", str(tmp_path)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == EXIT_USAGE and err == [f"ftax: error: {message}"]
    assert not list(tmp_path.iterdir())  # nothing measured, nothing stored
