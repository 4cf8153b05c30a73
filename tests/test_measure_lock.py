"""One measuring process per machine: a second sweep waits for the first and resumes from what it stored; the lock
dies with its process; it is re-entrant within one; `--isolate`'s children measure under their parent's lock."""
from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftax.measure import measure_lock
from ftax.store import jsonl, resume
from ftax.sweep import rounds as sweep
from ftax.store.env import fingerprint
from ftax.sweep.profiles import RULES
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions

CONFIGS = [MeasureConfig.make("bert-tiny", backend, "fp32", "cpu", batch_size, 8)
           for batch_size in (1, 2) for backend in ("eager", "torchscript")]
ROUNDS = 2


@pytest.fixture(autouse=True)
def own_lock_file(tmp_path, monkeypatch) -> Path:
    """A lock file of this test's own (inherited by the processes it starts), not the machine's."""
    path = tmp_path / "measure.lock"
    monkeypatch.setenv(measure_lock.LOCK_ENV, str(path))
    return path


def _free(path: Path) -> bool:
    """Whether no process holds the lock on `path` (taken and dropped at once through a descriptor of our own)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _sweep_child(out: str, log: str, stderr: str, release: str | None) -> None:
    """A `run_sweep` whose measuring is a fast fake: ok Records, one line in `log` per visit it measures. With
    `release`, the fake stops after its first block until that file exists, so the sweep holds the lock
    half-way through its visits while the test starts another."""
    sys.stderr = open(stderr, "w", buffering=1)
    blocks = 0

    def fake_compared(configs, options=None, cache=None, round_=None, order_seed=None):
        nonlocal blocks
        blocks += 1
        while release and blocks > 1 and not os.path.exists(release):
            time.sleep(0.02)
        with open(log, "a") as f:
            f.writelines(f"{os.getpid()} {c.label()} {round_}\n" for c in configs)
        return [Record(config=c, status="ok", message="", env=fingerprint(), round=round_, rule=options.rule.name)
                for c in configs]

    sweep.measure_compared = fake_compared
    sweep.run_sweep(CONFIGS, out, MeasureOptions(rule=RULES["smoke"], count_flops=False), progress=False,
                    rounds=ROUNDS)


def _wait_for(condition, timeout_s: float = 60.0) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_second_sweep_waits_for_the_first_and_measures_nothing_it_stored(tmp_path):
    out, log, release = tmp_path / "out", tmp_path / "measured.log", tmp_path / "release"
    store = jsonl.store_path(out, fingerprint()["machine_id"])
    ctx = multiprocessing.get_context("spawn")
    first = ctx.Process(target=_sweep_child, args=(str(out), str(log), str(tmp_path / "first.err"), str(release)))
    first.start()
    try:
        assert _wait_for(lambda: store.exists() and store.read_text().count("\n") >= 2), "the first sweep stored nothing"
        second = ctx.Process(target=_sweep_child, args=(str(out), str(log), str(tmp_path / "second.err"), None))
        second.start()
        waiting = tmp_path / "second.err"
        # the second says it waits (with the lock) or measures at once beside the first (without it)
        _wait_for(lambda: "waiting" in (waiting.read_text() if waiting.exists() else "") or not second.is_alive()
                  or log.read_text().count("\n") > 2)
        release.touch()
        first.join(60)
        second.join(60)
    finally:
        release.touch()
        for proc in (first, second):
            if proc.is_alive():
                proc.kill()
    assert first.exitcode == 0 and second.exitcode == 0
    visits = [resume.visit_key(d) for d in jsonl.iter_records(store)]
    assert len(visits) == len(set(visits)) == len(CONFIGS) * ROUNDS  # one visit per (config, round)
    measured_by = [line.split()[0] for line in log.read_text().splitlines()]
    assert measured_by == [str(first.pid)] * len(CONFIGS) * ROUNDS  # the second found every visit stored
    message = (tmp_path / "second.err").read_text()
    assert message.count(f"another ftax process (pid {first.pid}) is measuring on this machine; waiting...") == 1


_HOLDER = """
import sys, time
from pathlib import Path
from ftax.measure import measure_lock
with measure_lock.measuring():
    Path(sys.argv[1]).touch()
    time.sleep(120)
"""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, own_lock_file):
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(ready)],
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert _wait_for(ready.exists, 30), "the holder never took the lock"
        assert not _free(own_lock_file)
        assert own_lock_file.read_text().strip() == str(holder.pid)  # what a waiting process names
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert _free(own_lock_file)
    with measure_lock.measuring():
        assert not _free(own_lock_file)


def test_the_lock_is_reentrant_within_a_process_and_released_by_the_outermost_block(own_lock_file, capsys):
    with measure_lock.measuring():
        with measure_lock.measuring():  # a sweep inside `studies.measure_grids`: no wait on itself
            assert not _free(own_lock_file)
        assert not _free(own_lock_file)
    assert _free(own_lock_file)
    assert "waiting" not in capsys.readouterr().err


def test_isolated_children_measure_under_their_parents_lock(tmp_path):
    """`--isolate` starts its children while the sweep holds the lock; they never take it, so no deadlock."""
    config = MeasureConfig.make("synthetic-linear", "eager", "fp32", "cpu", 1, 8)
    options = MeasureOptions(rule=RULES["smoke"], count_flops=False, check_parity=False)
    with measure_lock.measuring():
        summary = sweep.run_sweep([config], tmp_path, options, isolate=True, progress=False)
    assert summary.counts == {"ok": 1}


class _Measured(Exception):
    """Raised by a stand-in for what an entry point measures with, after it noted whether the lock was held."""


def test_every_entry_point_that_measures_holds_the_lock_while_it_measures(monkeypatch, own_lock_file, tmp_path):
    from ftax.cli import commands
    from ftax.run import runner
    from ftax.study import predict_inputs, studies, validation
    from ftax.sweep.grids import Grid

    seen: list[bool] = []

    def note(*args, **kwargs):
        seen.append(not _free(own_lock_file))
        raise _Measured

    monkeypatch.setattr(sweep, "run_sweep", note)  # measure_grids' sweep, undecorated: the lock is measure_grids'
    monkeypatch.setattr(runner, "measure_config", note)  # what `ftax measure` calls
    monkeypatch.setattr(predict_inputs, "measure_compared", note)
    monkeypatch.setattr(validation, "compare_methods", note)
    grid = Grid("g", models=("bert-tiny",), backends=("eager",), batch_sizes=(1,), seq_lens=(8,),
                device="cpu", rule=RULES["smoke"])
    calls = [lambda: studies.measure_grids([grid], tmp_path),
             lambda: commands.cmd_measure(commands.build_parser().parse_args(
                 ["measure", "--model", "bert-tiny", "--device", "cpu", "--seq-len", "8"])),
             lambda: predict_inputs.measure_inputs(CONFIGS[0], tmp_path),
             lambda: validation.open_validation(validation.plan("smoke", "cpu", 1), tmp_path)]
    for call in calls:
        with pytest.raises(_Measured):
            call()
    assert seen == [True] * len(calls) and _free(own_lock_file)
