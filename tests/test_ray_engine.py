"""Sweeps on Ray: install hint, placement, strikes, resume keys, blocks timed together as a local sweep times
them (on a stand-in for Ray that runs in this process), and a real local Ray with a killed worker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections import Counter
from dataclasses import replace
from itertools import groupby
from pathlib import Path

import pytest

from ftax import cli
from ftax.store.errors import EXIT_USAGE
from ftax.store import jsonl, resume
from ftax.sweep import ray_engine, rounds as sweep
from ftax.store.env import fingerprint
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions

GRID = ["sweep", "--models", "bert-tiny,synthetic-layernorm", "--backends", "eager", "--batch-sizes", "1,2,4,8",
        "--seq-lens", "8", "--device", "cpu", "--profile", "smoke", "--threads", "1", "--rounds", "2", "--quiet"]


def _node(node_id: str, cpus: float, gpus: float = 0, kind: str | None = None, alive: bool = True) -> dict:
    resources = {"CPU": cpus, **({"GPU": gpus} if gpus else {}), **({f"accelerator_type:{kind}": 1.0} if kind else {})}
    return {"NodeID": node_id, "Alive": alive, "Resources": resources}


def test_ftax_never_imports_ray_by_itself():
    code = "import sys, ftax.cli, ftax.sweep.rounds, ftax.sweep.ray_engine; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_engine_ray_without_ray_is_one_line_with_the_install_hint(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert cli.main(GRID + ["--engine", "ray", "--out", str(tmp_path / "out")]) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"ftax: error: {ray_engine.INSTALL_HINT}"] and "pip install 'ftax[ray]'" in err
    assert not (tmp_path / "out").exists()


def test_cluster_flags_without_engine_ray_are_an_error(capsys, tmp_path):
    assert cli.main(GRID + ["--per-node", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "need --engine ray" in capsys.readouterr().err


def test_each_task_owns_one_device():
    gpu_cluster = [_node("a", 16, 2, "A100"), _node("b", 8, 1, "L4"), _node("head", 4), _node("dead", 4, alive=False)]
    gpu = {"num_gpus": 1, "num_cpus": 1}
    assert ray_engine.placements(gpu_cluster, False, None) == [(None, gpu)]
    assert ray_engine.placements(gpu_cluster, False, "L4") == [(None, {**gpu, "accelerator_type": "L4"})]
    assert ray_engine.placements(gpu_cluster, True, None) == [("a", gpu), ("b", gpu), ("head", {"num_cpus": 4})]
    assert ray_engine.placements(gpu_cluster, True, "A100") == [("a", {**gpu, "accelerator_type": "A100"})]
    assert ray_engine.placements([_node("x", 2), _node("y", 8)], False, None) == [(None, {"num_cpus": 8})]
    with pytest.raises(ray_engine.RayEngineError, match=r"'H100'; this cluster has: A100, L4"):
        ray_engine.placements(gpu_cluster, True, "H100")


def test_tasks_are_model_groups_with_each_config_once_and_the_device_left_to_the_worker():
    from ftax.sweep.grids import Grid
    from ftax.sweep.profiles import RULES

    base = dict(backends=("eager", "torchscript"), batch_sizes=(1, 2), seq_lens=(8,), device="auto",
                rule=RULES["smoke"])
    first = Grid("a", models=("bert-tiny", "synthetic-linear"), overrides=((), (("depth", 1),)), **base)
    second = Grid("b", models=("bert-tiny",), dtypes=("fp32", "fp16"), **base)
    plain, profiled = MeasureOptions(), MeasureOptions(decompose=True)
    groups = ray_engine.split([(first, plain), (second, plain), (second, profiled)])
    keys = [(g[0].model, g[0].overrides, g[0].dtype, o.decompose) for g, o in groups]
    assert keys == [("bert-tiny", (), "fp32", False), ("bert-tiny", (("depth", 1),), "fp32", False),
                    ("synthetic-linear", (), "fp32", False), ("synthetic-linear", (("depth", 1),), "fp32", False),
                    ("bert-tiny", (), "fp16", False), ("bert-tiny", (), "fp32", True), ("bert-tiny", (), "fp16", True)]
    assert all(len(g) == 4 and {c.device for c in g} == {"auto"} for g, _ in groups)
    configs = [replace(c, device="auto") for c in replace(first, device="cpu").configs()]
    assert [g for g, _ in ray_engine.split([(first, plain)], seed=5)] == \
        [list(g) for _, g in groupby(sweep.interleaved(configs, 5), key=sweep.group_key)]


def _config(batch_size: int, device: str = "auto") -> MeasureConfig:
    return MeasureConfig.make("bert-tiny", "eager", "fp32", device, batch_size, 8)


def test_the_config_in_flight_is_retried_once_then_recorded_as_worker_lost_twice():
    strikes: Counter = Counter()
    env = {"machine_id": "gpu-box", "gpu_count": 1}
    lost = RuntimeError("The worker died unexpectedly")
    first = ray_engine.Task([_config(1), _config(2)], MeasureOptions(), target=0, env=env)
    assert ray_engine.after_loss(first, strikes, {}, lost) is None
    assert first.configs == [_config(1), _config(2)]
    again = ray_engine.Task(first.configs, MeasureOptions(), target=0)  # died before reporting its machine
    record = ray_engine.after_loss(again, strikes, {0: env}, lost)
    assert record.status == "error" and record.message.startswith(ray_engine.LOST_TWICE)
    assert record.machine_id == "gpu-box" and record.config == _config(1, "cuda")
    assert again.configs == [_config(2)]
    elsewhere = ray_engine.Task([_config(1)], MeasureOptions(), target=1)  # another node: its own strikes
    assert ray_engine.after_loss(elsewhere, strikes, {}, lost) is None
    with pytest.raises(ray_engine.RayEngineError, match="died twice before it started"):
        ray_engine.after_loss(elsewhere, strikes, {}, lost)
    with pytest.raises(ray_engine.RayEngineError, match="its node left the cluster"):
        ray_engine.after_loss(ray_engine.Task([_config(4)], MeasureOptions(), 2), strikes, {}, lost, node_alive=False)


def test_stored_keys_follow_the_local_resume_rule_per_machine(tmp_path):
    def store(machine: str, batch_size: int, status: str, decomposition: dict | None = None) -> str:
        record = Record(config=_config(batch_size, "cpu"), status=status, message="", env={"machine_id": machine},
                        decomposition=decomposition)
        jsonl.append(jsonl.store_path(tmp_path, machine), record)
        return record.config_key

    ok, failed, decomposed = store("m1", 1, "ok"), store("m1", 2, "error"), store("m2", 1, "ok", {"busy_ms": 1.0})

    def keys(skip: dict) -> dict:
        return {m: {visit[0] for visit in visits} for m, visits in skip.items()}

    assert keys(ray_engine.stored_keys(tmp_path, False, False)) == {"m1": {ok, failed}, "m2": {decomposed}}
    assert keys(ray_engine.stored_keys(tmp_path, True, True)) == {"m2": {decomposed}}
    # each visit travels with its round, rule, software and host, for the worker to compare with its own
    assert all(len(visit) == 3 + len(resume.SOFTWARE_KEYS) + len(resume.HOST_KEYS)
               for visits in ray_engine.stored_keys(tmp_path, False, False).values() for visit in visits)


class _InProcessRay:
    """The part of Ray's API that `ray_engine` calls, run in this process, in call order: an actor is an instance
    of its class and a call's result is computed when it is fetched. No cluster, no worker start-up."""

    def __init__(self, nodes: list[dict]) -> None:
        self._nodes = nodes

    def is_initialized(self) -> bool:
        return True

    def nodes(self) -> list[dict]:
        return self._nodes

    def put(self, value):
        return value

    def get(self, ref):
        return ref()

    def wait(self, refs: list, num_returns: int = 1):
        return refs[:num_returns], refs[num_returns:]

    def kill(self, actor) -> None:
        pass

    def remote(self, cls):
        class Handle:
            def __init__(self, instance) -> None:
                self.instance = instance

            def __getattr__(self, name: str):
                method = getattr(self.instance, name)
                return types.SimpleNamespace(remote=lambda *args: lambda: method(*args))

        return types.SimpleNamespace(options=lambda **_: types.SimpleNamespace(
            remote=lambda *args: Handle(cls(*args))))


@pytest.fixture
def in_process_ray(monkeypatch):
    """`ray` (and the two submodules `ray_engine` imports) replaced by `_InProcessRay` on one 2-CPU node."""
    fake = _InProcessRay([_node("only", 2)])
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setitem(sys.modules, "ray.exceptions", types.SimpleNamespace(RayError=type("RayError", (Exception,), {})))
    monkeypatch.setitem(sys.modules, "ray.util.scheduling_strategies",
                        types.SimpleNamespace(NodeAffinitySchedulingStrategy=None))
    return fake


def test_a_ray_task_times_the_backends_of_a_shape_together_in_rounds_as_a_local_sweep(in_process_ray, monkeypatch,
                                                                                       tmp_path):
    """Each actor call is one `measure_compared` of what a local sweep times together (`sweep.compared` of the
    group in `sweep.interleaved` order), round 1 with `sweep.for_round`'s options, and no config alone."""
    from ftax.sweep.grids import Grid
    from ftax.sweep.profiles import RULES

    calls: list[tuple[list[MeasureConfig], MeasureOptions, int]] = []

    def fake_compared(configs, options=None, cache=None, round_=None, order_seed=None):
        calls.append((list(configs), options, round_))
        return [Record(config=c, status="ok", message="", env=fingerprint(), round=round_, rule=options.rule.name,
                       decomposition={"busy_ms": 1.0} if options.decompose else None) for c in configs]

    def alone(*args, **kwargs):
        raise AssertionError("a Ray task measured one config alone")

    monkeypatch.setattr(ray_engine, "measure_compared", fake_compared, raising=False)
    monkeypatch.setattr(ray_engine, "measure_config", alone, raising=False)
    grid = Grid("g", models=("bert-tiny",), backends=("eager", "torchscript", "compile"), batch_sizes=(1, 2),
                seq_lens=(8, 16), device="cpu", rule=RULES["smoke"])
    options = MeasureOptions(rule=RULES["smoke"], decompose=True)
    summary = ray_engine.run_ray_sweep([(grid, options)], tmp_path, progress=False, rounds=2, seed=3)

    assert sum(summary.counts.values()) == 24 and [len(c) for c, _, _ in calls] == [3] * 8
    for round_ in (0, 1):
        blocks = [c for c, _, r in calls if r == round_]
        order = sweep.interleaved(grid.configs(), 3 + round_)
        assert blocks == sweep.compared(order)  # each block: one shape's backends, in the local sweep's order
        assert {(o.decompose, o.count_flops) for _, o, r in calls if r == round_} == {(round_ == 0,) * 2}
    store = jsonl.store_path(tmp_path, fingerprint()["machine_id"])
    stored = [resume.visit_key(d) for d in jsonl.iter_records(store)]
    assert len(stored) == len(set(stored)) == 24
    calls.clear()
    again = ray_engine.run_ray_sweep([(grid, options)], tmp_path, progress=False, rounds=2, seed=3)
    assert again.skipped == 24 and not sum(again.counts.values()) and not calls


def test_the_ray_driver_holds_the_measuring_lock_only_for_a_cluster_on_this_machine(in_process_ray, monkeypatch,
                                                                                    tmp_path):
    import fcntl
    import socket

    from ftax.measure import measure_lock
    from ftax.sweep.grids import Grid
    from ftax.sweep.profiles import RULES

    nodes = [_node("a", 4), {**_node("b", 4), "NodeManagerHostname": "this-box"}]
    assert ray_engine.measures_here(nodes, "this-box")
    assert not ray_engine.measures_here(nodes, "elsewhere")
    assert not ray_engine.measures_here([{**nodes[1], "Alive": False}], "this-box")

    lock = tmp_path / "measure.lock"
    monkeypatch.setenv(measure_lock.LOCK_ENV, str(lock))
    held: list[bool] = []

    def fake_compared(configs, options=None, cache=None, round_=None, order_seed=None):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        return [Record(config=c, status="ok", message="", env=fingerprint(), round=round_, rule=options.rule.name)
                for c in configs]

    monkeypatch.setattr(ray_engine, "measure_compared", fake_compared)
    grid = Grid("g", models=("bert-tiny",), backends=("eager",), batch_sizes=(1,), seq_lens=(8,), device="cpu",
                rule=RULES["smoke"])
    for hostname, out in ((socket.gethostname(), "here"), ("a-node-elsewhere", "there")):
        in_process_ray._nodes = [{**_node("n", 2), "NodeManagerHostname": hostname}]
        ray_engine.run_ray_sweep([(grid, MeasureOptions(rule=RULES["smoke"]))], tmp_path / out, progress=False)
    assert held == [True, False]


def _ok_keys(path: Path) -> list[tuple]:
    return [resume.visit_key(d) for d in jsonl.iter_records(path) if d["status"] == "ok"]


def _kill_a_measuring_worker(store: Path, killed: list, min_lines: int = 3, timeout_s: float = 60) -> None:
    """SIGKILL the Ray worker of a `GroupMeasurer` actor that is running `measure` (Ray titles a worker
    `ray::Class.method` while it runs a task) once `store` holds `min_lines` records. A finished actor lingers as
    `ray::GroupMeasurer` until the engine frees it; killing that one loses nothing, and no loss is reported."""
    import psutil

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        lines = len(store.read_text().splitlines()) if store.exists() else 0
        if lines >= min_lines:
            for proc in psutil.Process().children(recursive=True):
                try:
                    title = proc.cmdline()
                except psutil.Error:
                    continue
                if title and title[0].startswith("ray::GroupMeasurer.measure"):
                    os.kill(proc.pid, signal.SIGKILL)
                    killed.append((proc.pid, lines))
                    return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, logging_level="warning", include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_sweep_survives_a_killed_worker_and_matches_the_local_sweep(local_ray, tmp_path, capsys):
    out, local = tmp_path / "ray", tmp_path / "local"
    store = jsonl.store_path(out, fingerprint()["machine_id"])
    killed: list = []
    killer = threading.Thread(target=_kill_a_measuring_worker, args=(store, killed), daemon=True)
    killer.start()
    assert cli.main(GRID + ["--engine", "ray", "--per-node", "--out", str(out)]) == 0
    killer.join()
    assert killed, "no measuring Ray worker was found to kill"
    assert killed[0][1] < 16, "the sweep finished before the worker was killed; make the grid bigger"
    rows = [json.loads(line) for line in store.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok"] * 16 and {r["machine_id"] for r in rows} == {store.stem}
    assert [r["round"] for r in rows] == [0] * 8 + [1] * 8  # round 1 starts once round 0 is done everywhere
    keys = _ok_keys(store)
    assert len(keys) == len(set(keys)) == 16
    pid = killed[0][0]
    assert f"ftax: Ray worker lost (pid {pid}, ActorDiedError); resubmitting" in capsys.readouterr().err

    assert cli.main(GRID + ["--engine", "ray", "--per-node", "--out", str(out)]) == 0
    assert "nothing to measure" in capsys.readouterr().out
    assert cli.main(GRID + ["--out", str(local)]) == 0
    assert sorted(_ok_keys(jsonl.store_path(local, store.stem))) == sorted(keys)
