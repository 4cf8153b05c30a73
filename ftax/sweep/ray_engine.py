"""Sweeps on a Ray cluster: the same grids, records, resume and timing as `ftax.sweep.rounds`, on many machines.

ftax does not schedule across machines; Ray does. What ftax adds keeps the numbers trustworthy:
- One device per task: one actor per (model, dtype, overrides) group and target asks for one GPU
  (`num_gpus=1`) or, on a CPU cluster, a whole node's CPUs, so two measurements never share a
  device; the actor builds its model once, as a local sweep does.
- The driver alone writes the store: each config's record comes back as soon as it is measured
  and is appended (`jsonl.append`, atomic per line) to `<out>/<machine_id>.jsonl` of the
  machine that measured it, named by the worker's own fingerprint.
- Resume is decided on the worker, because only the worker knows which machine it is and which
  software it runs: the driver passes the visits already stored per machine_id (the rule of
  `resume.is_done`), each with its software.
- Timed as in a local sweep: round r runs to its end on every target before round r + 1 starts,
  each group's configs in `sweep.interleaved` order, each visit under the rule's share of the time, and
  the backends of one shape timed together in alternating blocks (`sweep.compared`,
  `runner.measure_compared`): one actor call per such block, so a Ray speedup is paired as a local one is.
- One measuring process per machine: where a node of the cluster is this machine, the driver holds
  `measure_lock` (its workers measure for it) and reads the store only once it holds it.
- A lost worker (killed, out of memory, node gone) costs the first config of the block in flight a
  strike and the rest of the group is resubmitted; a config struck twice becomes an `error` record
  ("worker lost twice") and the others of its block are timed together without it. Ray's own retries are off, so a returned record is never re-measured.
Ray is imported inside functions only: `import ftax` never needs or starts Ray.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Any, Sequence

import ftax
from ftax.measure import measure_lock
from ftax.store import jsonl, resume, schema
from ftax.store.env import default_threads, fingerprint
from ftax.store.errors import FtaxError
from ftax.sweep.grids import Grid
from ftax.store.schema import MeasureConfig, Record
from ftax.run.runner import MeasureOptions, ModelCache, measure_compared
from ftax.sweep.rounds import SweepSummary, compared, for_round, group_key, interleaved

INSTALL_HINT = "--engine ray needs Ray, which is not installed: pip install 'ftax[ray]' (or pip install ray)"
LOST_TWICE = "worker lost twice"


class RayEngineError(FtaxError):
    """Ray is missing, unreachable, or the cluster cannot run what was asked (one CLI line, exit 2)."""


def import_ray() -> Any:
    """Ray, imported only when asked for, or the one-line install hint."""
    try:
        import ray
    except ImportError:
        raise RayEngineError(INSTALL_HINT) from None
    return ray


def _resolve(device: str, env: dict) -> str:
    """The device `auto` meant on the worker whose fingerprint is `env` (as backends.resolve_device there)."""
    return ("cuda" if env.get("gpu_count") else "cpu") if device == "auto" else device


class GroupMeasurer:
    """Ray actor: one model group on one device, `measure` called once per block of configs timed together
    (`sweep.compared`: the backends of one shape), in order.

    An actor rather than a task that returns a list: each block's records come back as soon as they
    are measured, and so does the actor's death. An actor rather than a generator task: streaming
    generators do not work through Ray Client (`ray://`). The grid's device arrives unresolved
    (`auto` is this worker's GPU if it has one), which lets one grid run on CPU and GPU nodes.
    """

    def __init__(self, skip_by_machine: dict[str, list[list]], options: MeasureOptions) -> None:
        self.env = fingerprint()
        mine = list(resume.stack(self.env))
        self.skip = {tuple(visit[:3]) for visit in skip_by_machine.get(self.env["machine_id"], ()) if visit[3:] == mine}
        self.options = replace(options, threads=options.threads or default_threads())
        self.cache = ModelCache()

    def start(self) -> dict:
        return {"pid": os.getpid(), "env": self.env}

    def measure(self, together: list[MeasureConfig], round_: int = 0, seed: int | None = None) -> list[str | None]:
        """The records of these visits as JSON, timed together in alternating blocks as a local sweep times
        them (`runner.measure_compared`), or None for each visit this machine already has stored."""
        together = [replace(c, device=_resolve(c.device, self.env)) for c in together]
        todo = [c for c in together
                if (schema.config_key(c, self.env["machine_id"]), round_, self.options.rule.name) not in self.skip]
        measured = dict(zip(todo, measure_compared(todo, for_round(self.options, round_), self.cache, round_=round_,
                                                   order_seed=seed))) if todo else {}
        return [measured[c].to_json() if c in measured else None for c in together]


def stored_keys(out_dir: str | Path, retry_failed: bool, decompose: bool) -> dict[str, list[list]]:
    """Per machine_id, the visits not to measure again (config_key, round, rule, then the software and
    host they were measured with, `resume.stack`): the local sweep's rule, over every file; the worker compares
    the stack."""
    skip: dict[str, list[list]] = {}
    for visit, data in resume.best_records(out_dir, key=resume.visit_key).items():
        if resume.is_done(data, retry_failed, decompose and not visit[1]):  # decomposed in round 0 only (for_round)
            machine = data.get("machine_id") or data["env"]["machine_id"]
            skip.setdefault(machine, []).append([*visit, *resume.stack(data.get("env") or {})])
    return skip


def placements(nodes: list[dict], per_node: bool, accelerator_type: str | None) -> list[tuple[str | None, dict]]:
    """(node_id or None, Ray resource options) per target, from `ray.nodes()`, so a task owns its device.

    With `per_node` every alive node (with the accelerator type, if given) is a target and runs the
    whole grid. Otherwise tasks go anywhere: one GPU each on a GPU cluster; on a CPU cluster as many
    CPUs as the largest node has, so a task gets a whole node (of the largest kind) to itself.
    """
    nodes = [n for n in nodes if n.get("Alive") and n["Resources"].get("CPU")]
    want = f"accelerator_type:{accelerator_type}" if accelerator_type else None
    if want and not any(want in n["Resources"] for n in nodes):
        kinds = sorted({k.split(":", 1)[1] for n in nodes for k in n["Resources"] if k.startswith("accelerator_type:")})
        raise RayEngineError(f"no alive Ray node has accelerator type {accelerator_type!r}; "
                             f"this cluster has: {', '.join(kinds) or 'none'}")
    gpu = {"num_gpus": 1, "num_cpus": 1, **({"accelerator_type": accelerator_type} if accelerator_type else {})}
    if per_node:
        return [(n["NodeID"], gpu if n["Resources"].get("GPU") else {"num_cpus": n["Resources"]["CPU"]})
                for n in nodes if not want or want in n["Resources"]]
    if want or any(n["Resources"].get("GPU") for n in nodes):
        return [(None, gpu)]
    return [(None, {"num_cpus": max(n["Resources"]["CPU"] for n in nodes)})]


def measures_here(nodes: list[dict], hostname: str | None = None) -> bool:
    """Whether an alive node of the cluster (`ray.nodes()`) is this machine (`hostname`, default this one's):
    then its workers measure here, and the driver must hold the machine's measuring lock for them."""
    hostname = hostname or socket.gethostname()
    return any(n.get("Alive") and n.get("NodeManagerHostname") == hostname for n in nodes)


def split(jobs: Sequence[tuple[Grid, MeasureOptions]], seed: int = 0
          ) -> list[tuple[list[MeasureConfig], MeasureOptions]]:
    """One task's configs per (job, model, dtype, overrides), each config once over all jobs, each
    group in `sweep.interleaved` order (seed `seed`): the backends of a shape back to back, for the
    worker to time them together (`sweep.compared`).

    Grid.configs() resolves `auto` on this (driver) machine; here the grid's device is kept, for the
    worker to resolve. A config in two grids runs once (a local sweep would skip it the second
    time), again only if the later grid adds a decomposition the earlier one did not ask for.
    """
    seen: dict[MeasureConfig, bool] = {}
    groups = []
    for grid, options in jobs:
        configs = [replace(c, device=grid.device) for c in replace(grid, device="cpu").configs()]
        configs = [c for c in dict.fromkeys(configs) if c not in seen or (options.decompose and not seen[c])]
        seen.update({c: options.decompose for c in configs})
        groups += [(list(group), options) for _, group in groupby(interleaved(configs, seed), key=group_key)]
    return groups


@dataclass
class Task:
    """What the driver knows of one model group on one target: the configs not reported yet, in order (the
    first of them is in the block being measured)."""

    configs: list[MeasureConfig]
    options: MeasureOptions
    target: int
    round_: int = 0
    env: dict | None = None
    pid: int | None = None
    actor: Any = None
    refs: list = field(default_factory=list)


def after_loss(task: Task, strikes: Counter, known_env: dict[int, dict], exc: BaseException,
               node_alive: bool = True) -> Record | None:
    """The task's worker was lost: strike the first config of the block in flight; at two strikes, drop it as
    an `error` record (as `sweep`'s `--isolate` drops the first config of a crashed child's configs).

    Mutates `task.configs` to what must be resubmitted. Before the worker reported its machine the
    env of an earlier task on the same target is used. RayEngineError says why a task cannot go on:
    its node left the cluster, or it died twice before reporting which machine it is.
    """
    cause = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    if not node_alive:
        raise RayEngineError(f"its node left the cluster ({cause})")
    if not task.configs:
        return None
    config = task.configs[0]
    strikes[(task.target, config)] += 1
    if strikes[(task.target, config)] < 2:
        return None
    env = task.env or known_env.get(task.target)
    if env is None:
        raise RayEngineError(f"the Ray worker for {config.label()} died twice before it started ({cause})")
    task.configs.pop(0)
    return Record(config=replace(config, device=_resolve(config.device, env)), status="error", env=env,
                  message=f"{LOST_TWICE} while measuring this config ({cause})", ftax_version=ftax.__version__,
                  round=task.round_, rule=task.options.rule.name)


def run_ray_sweep(jobs: Sequence[tuple[Grid, MeasureOptions]], out_dir: str | Path = "results",
                  address: str | None = None, per_node: bool = False, accelerator_type: str | None = None,
                  retry_failed: bool = False, progress: bool = True, rounds: int = 1, seed: int = 0) -> SweepSummary:
    """Measure every (grid, options) job on Ray in `rounds` rounds, into `<out_dir>/<machine_id>.jsonl` per
    measuring machine; each visit under its job's rule split over the rounds (`StopRule.share`).

    Connects to `address` (`auto`, `ray://host:port`; None: RAY_ADDRESS, a cluster started on this
    machine, else a new local Ray) unless Ray is already initialized here; shuts down what it started.
    Where a node of the cluster is this machine, holds the measuring lock (`measure_lock`) before it reads
    the store, as a local sweep does.
    """
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, logging_level="warning", log_to_driver=progress)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayEngineError(f"cannot start or reach Ray at {address or 'a new local instance'}: "
                                 f"{(str(exc).strip().splitlines() or [''])[0]}") from None
    jobs = [(grid, replace(options, rule=options.rule.share(rounds))) for grid, options in jobs]
    try:
        nodes = ray.nodes()
        targets = placements(nodes, per_node, accelerator_type)
        with measure_lock.measuring() if measures_here(nodes) else nullcontext():
            summary = SweepSummary(path=Path(out_dir), total=0, skipped=0)
            for round_ in range(rounds):
                summary = summary + _drive(ray, jobs, Path(out_dir), targets, retry_failed, progress, round_,
                                           seed + round_)
            return summary
    finally:
        if started:
            ray.shutdown()


def _drive(ray: Any, jobs: Sequence[tuple[Grid, MeasureOptions]], out_dir: Path,
           targets: list[tuple[str | None, dict]], retry_failed: bool, progress: bool, round_: int = 0,
           seed: int = 0) -> SweepSummary:
    """One round: one actor per (model group, target), one call per block of configs timed together; wait on
    each actor's next block, append its records as they come."""
    from ray.exceptions import RayError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from tqdm.auto import tqdm

    actor_class = ray.remote(GroupMeasurer)
    skips = {d: ray.put(stored_keys(out_dir, retry_failed, d)) for d in {o.decompose for _, o in jobs}}
    pending: dict[Any, Task] = {}  # each live task's next result, awaited in call order

    def submit(task: Task) -> None:
        node, resources = targets[task.target]
        opts = dict(resources, max_restarts=0, max_task_retries=0)
        if node is not None:
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
        task.actor = actor_class.options(**opts).remote(skips[task.options.decompose], task.options)
        task.refs = [task.actor.start.remote()] + [task.actor.measure.remote(together, task.round_, seed)
                                                   for together in compared(task.configs)]
        pending[task.refs.pop(0)] = task

    def store(record: Record) -> None:
        jsonl.append(jsonl.store_path(out_dir, record.machine_id), record)
        summary.counts[record.status] += 1
        bar.update()

    groups = split(jobs, seed)
    for configs, options in groups:
        for target in range(len(targets)):
            submit(Task(list(configs), options, target, round_))
    summary = SweepSummary(path=out_dir, total=sum(len(c) for c, _ in groups) * len(targets), skipped=0)
    strikes: Counter = Counter()
    known_env: dict[int, dict] = {}
    abandoned: list[str] = []
    bar = tqdm(total=summary.total, desc="ftax sweep (ray)", unit="config", disable=not progress, file=sys.stderr)
    start = time.perf_counter()
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ref)
            try:
                value = ray.get(ref)
            except RayError as exc:
                ray.kill(task.actor)
                node, record = targets[task.target][0], None
                alive = node is None or any(n["NodeID"] == node and n["Alive"] for n in ray.nodes())
                try:
                    record = after_loss(task, strikes, known_env, exc, alive)
                except RayEngineError as lost:
                    abandoned.append(f"{len(task.configs)} configs: {lost}")
                    task.configs.clear()
                print(f"ftax: Ray worker lost (pid {task.pid}, {type(exc).__name__}); "
                      + (f"{record.config.label()} recorded as error; " if record else "")
                      + f"resubmitting {len(task.configs)} configs", file=sys.stderr)
                if record is not None:
                    store(record)
                if task.configs:
                    submit(Task(task.configs, task.options, task.target, task.round_))
                continue
            if task.env is None:
                task.env, task.pid = value["env"], value["pid"]
                known_env[task.target] = task.env
            else:
                for visit in value:  # the block's visits, in the order of task.configs
                    config = task.configs.pop(0)
                    if visit is None:
                        summary.skipped += 1
                        bar.update()
                        continue
                    record = Record.from_dict(json.loads(visit))
                    bar.set_postfix_str(f"{config.label()} -> {record.status}", refresh=False)
                    store(record)
            if task.refs:
                pending[task.refs.pop(0)] = task
            else:
                ray.kill(task.actor)  # free its device now, not when the handle is collected
    finally:
        bar.close()
    summary.wall_s = time.perf_counter() - start
    if abandoned:
        raise RayEngineError(f"{summary}; not measured: {'; '.join(abandoned)}; rerun to retry them")
    return summary
