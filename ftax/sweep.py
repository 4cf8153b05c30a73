"""Sweeps: a grid of configs -> records in `results/<machine_id>.jsonl`, resumable, failure-proof.

- Resume: a config already stored (any status) is skipped; `retry_failed` re-runs the non-ok
  ones. A sweep that asks for a decomposition re-measures ok records that lack one.
- Failures are rows (see ftax.runner); one config never stops the sweep.
- `isolate` runs each model's configs in a child process: a crash in a native library then
  becomes an `error` row for the config in flight, and the sweep goes on with the rest.
- `ftax sweep --engine ray` hands the same grids to `ftax.ray_engine` (a Ray cluster, one device per task).
"""
from __future__ import annotations

import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
import yaml

from ftax import profiles, results
from ftax.env import fingerprint
from ftax.errors import InvalidConfigError
from ftax.profiles import Grid
from ftax.results import MeasureConfig, Record
from ftax.runner import MeasureOptions, ModelCache, measure_config


@dataclass
class SweepSummary:
    path: Path
    total: int
    skipped: int
    counts: Counter = field(default_factory=Counter)
    wall_s: float = 0.0

    def __str__(self) -> str:
        measured = sum(self.counts.values())
        if measured == 0:
            return f"nothing to measure: all {self.total} configs are already in {self.path}"
        by_status = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return (f"measured {measured} of {self.total} configs in {self.wall_s:.1f} s ({by_status}); "
                f"{self.skipped} already stored; records in {self.path}")


def _todo(configs: Sequence[MeasureConfig], path: Path, machine_id: str, retry_failed: bool,
          decompose: bool) -> list[MeasureConfig]:
    """Configs without a stored record (or with a failed one, if retrying; or ok but unprofiled)."""
    stored = results.best_records(path)
    return [c for c in configs
            if (data := stored.get(results.config_key(c, machine_id))) is None
            or not results.is_done(data, retry_failed, decompose)]


def _group_key(config: MeasureConfig) -> tuple:
    return (config.model, config.dtype, config.overrides, config.device)


def _measure_group(configs: list[MeasureConfig], path: str, options: MeasureOptions) -> None:
    """Child-process entry of `isolate`: measure and append each config itself."""
    cache = ModelCache()
    for config in configs:
        results.append(path, measure_config(config, options, cache))


def _run_isolated(configs: list[MeasureConfig], path: Path, options: MeasureOptions, machine_id: str,
                  on_record) -> None:
    """Run configs in child processes, restarting after a crash with the configs still missing."""
    ctx = multiprocessing.get_context("spawn")
    remaining = list(configs)
    while remaining:
        before = results.keys_with_status(path, results.STATUSES)
        child = ctx.Process(target=_measure_group, args=(remaining, str(path), options))
        child.start()
        child.join()
        after = results.keys_with_status(path, results.STATUSES)
        done = [c for c in remaining if results.config_key(c, machine_id) in after - before]
        for config in done:
            on_record(config, None)
        remaining = remaining[len(done):]
        if remaining and child.exitcode != 0:
            crashed = remaining.pop(0)
            record = Record(config=crashed, status="error", env=fingerprint(),
                            message=f"worker process died (exit code {child.exitcode}) while measuring this config")
            results.append(path, record)
            on_record(crashed, record)
        elif remaining:
            raise RuntimeError(f"worker exited cleanly but left {len(remaining)} configs unmeasured")


def run(configs: Iterable[MeasureConfig], out_dir: str | Path = "results", options: MeasureOptions | None = None,
        retry_failed: bool = False, isolate: bool = False, progress: bool = True) -> SweepSummary:
    """Measure every config not yet stored, appending one record each to `<out_dir>/<machine_id>.jsonl`."""
    options = options or MeasureOptions()
    configs = list(dict.fromkeys(configs))
    machine_id = fingerprint()["machine_id"]
    path = results.store_path(out_dir, machine_id)
    todo = _todo(configs, path, machine_id, retry_failed, options.decompose)
    summary = SweepSummary(path=path, total=len(configs), skipped=len(configs) - len(todo))
    if not todo:
        return summary
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="ftax sweep", unit="config", disable=not progress, file=sys.stderr)
    start = time.perf_counter()

    def on_record(config: MeasureConfig, record: Record | None) -> None:
        status = record.status if record else "ok*"
        summary.counts[status] += 1
        bar.set_postfix_str(f"{config.label()} -> {status}", refresh=False)
        bar.update()

    try:
        for _, group in groupby(todo, key=_group_key):
            group = list(group)
            if isolate:
                _run_isolated(group, path, options, machine_id, on_record)
                continue
            cache = ModelCache()
            for config in group:
                bar.set_postfix_str(config.label(), refresh=True)
                record = measure_config(config, options, cache)
                results.append(path, record)
                on_record(config, record)
    finally:
        bar.close()
    if isolate:  # child processes wrote the records: count them by their stored status
        summary.counts = _stored_counts(path, todo, machine_id)
    summary.wall_s = time.perf_counter() - start
    return summary


def _stored_counts(path: Path, configs: list[MeasureConfig], machine_id: str) -> Counter:
    keys = {results.config_key(c, machine_id) for c in configs}
    latest = {d["config_key"]: d["status"] for d in results.iter_records(path) if d["config_key"] in keys}
    return Counter(latest.values())


# --- studies (what the notebooks call) ---------------------------------------------------

@dataclass
class StudyData:
    """A case study's records: `frame` (the study's configs on every machine) and `all`."""

    study: str
    profile: str
    grids: list[Grid]
    machine_id: str
    frame: pd.DataFrame
    all: pd.DataFrame
    summary: SweepSummary | None


def _matching(frame: pd.DataFrame, configs: Sequence[MeasureConfig]) -> pd.DataFrame:
    """Rows whose config matches one of `configs`, on any machine and device."""
    if frame.empty:
        return frame
    wanted = {(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, results.json.dumps(dict(c.overrides),
                                                                                       sort_keys=True))
              for c in configs}
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"])
    return frame[[key in wanted for key in keys]].reset_index(drop=True)


def run_study(study: str, profile: str = "quick", device: str = "auto", results_dir: str | Path = "results",
              measure: bool = True, progress: bool = True, **overrides) -> StudyData:
    """Validate the study's grids, measure what is missing on this machine (if `measure`), load."""
    grids = profiles.study_grids(study, profile, device, **overrides)
    summary = None
    if measure:
        summary = SweepSummary(path=Path(results_dir), total=0, skipped=0)
        for grid in grids:
            options = MeasureOptions(rule=grid.rule, decompose=grid.decompose)
            part = run(grid.configs(), results_dir, options, progress=progress)
            summary.path, summary.total = part.path, summary.total + part.total
            summary.skipped += part.skipped
            summary.counts.update(part.counts)
            summary.wall_s += part.wall_s
    everything = results.load(results_dir)
    configs = profiles.study_configs(grids)
    return StudyData(study=study, profile=profile, grids=grids, machine_id=fingerprint()["machine_id"],
                     frame=_matching(everything, configs), all=everything, summary=summary)


# --- grid files and the CLI --------------------------------------------------------------

GRID_KEYS = {"models": str, "backends": str, "dtypes": str, "batch_sizes": int, "seq_lens": int}
GRID_OPTIONAL = {"device": str, "profile": str, "overrides": list, "decompose": bool, "study": str}


def load_grid_file(path: str | Path) -> dict:
    """Read a YAML grid (same keys as the CLI flags); unknown keys and wrong types are errors."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidConfigError(f"cannot read grid file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"grid file {path} must hold a mapping of keys to lists")
    allowed = {**GRID_KEYS, **GRID_OPTIONAL}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidConfigError(f"grid file {path}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")
    for key, kind in GRID_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise InvalidConfigError(f"grid file {path}: {key} must be a list of {kind.__name__}, got {value!r}")
    for key, kind in GRID_OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            raise InvalidConfigError(f"grid file {path}: {key} must be a {kind.__name__}, got {data[key]!r}")
    if "overrides" in data and not all(isinstance(o, dict) for o in data["overrides"]):
        raise InvalidConfigError(f"grid file {path}: overrides must be a list of mappings like {{width: 256}}")
    return data


def grids_from_args(args) -> list[Grid]:
    """The grids a `ftax sweep` invocation asks for: a study, a grid file, or flags (flags win)."""
    spec = load_grid_file(args.grid) if args.grid else {}
    cli = {k: getattr(args, k) for k in ("models", "backends", "dtypes", "batch_sizes", "seq_lens")
           if getattr(args, k) is not None}
    spec.update(cli)
    profile = args.profile or spec.get("profile") or "quick"
    device = args.device or spec.get("device") or "auto"
    study = args.study or spec.get("study")
    if profile not in profiles.PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(profiles.PROFILES)}")
    if study:
        return profiles.study_grids(study, profile, device, **{k: spec[k] for k in GRID_KEYS if k in spec})
    if "models" not in spec:
        raise InvalidConfigError("say what to sweep: --models (or a grid file with models:), or --study NAME")
    overrides = tuple(tuple(sorted(o.items())) for o in spec.get("overrides", [{}]))
    grid = Grid(name="cli", models=tuple(spec["models"]), backends=tuple(spec.get("backends", ["eager"])),
                dtypes=tuple(spec.get("dtypes", ["fp32"])), batch_sizes=tuple(spec.get("batch_sizes", [1])),
                seq_lens=tuple(spec.get("seq_lens", [128])), overrides=overrides, device=device,
                rule=profiles.RULES[profile], decompose=bool(spec.get("decompose", False)))
    grid.validate()
    return [grid]


def cmd_sweep(args) -> int:
    from ftax.cli import _stop_rule

    grids = grids_from_args(args)
    if args.engine == "local" and (args.address or args.per_node or args.accelerator_type):
        raise InvalidConfigError("--address, --per-node and --accelerator-type need --engine ray")
    jobs = [(grid, MeasureOptions(rule=_stop_rule(args, grid.rule), threads=args.threads,
                                  decompose=args.decompose or grid.decompose, trace_dir=args.trace_dir))
            for grid in grids]
    if args.engine == "ray":
        from ftax import ray_engine

        print(ray_engine.run(jobs, args.out, address=args.address, per_node=args.per_node,
                             accelerator_type=args.accelerator_type, retry_failed=args.retry_failed,
                             progress=not args.quiet))
        return 0
    total = SweepSummary(path=Path(args.out), total=0, skipped=0)
    for grid, options in jobs:
        part = run(grid.configs(), args.out, options, retry_failed=args.retry_failed, isolate=args.isolate,
                   progress=not args.quiet)
        total = replace(total, path=part.path, total=total.total + part.total, skipped=total.skipped + part.skipped,
                        counts=total.counts + part.counts, wall_s=total.wall_s + part.wall_s)
    print(total)
    return 0


def add_parser(sub, add_stop_args) -> None:
    from ftax.cli import _csv, _int_csv

    p = sub.add_parser("sweep", help="measure a grid of configs into results/<machine_id>.jsonl (resumable)")
    p.add_argument("--models", type=_csv)
    p.add_argument("--backends", type=_csv)
    p.add_argument("--dtypes", type=_csv)
    p.add_argument("--batch-sizes", type=_int_csv)
    p.add_argument("--seq-lens", type=_int_csv)
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--grid", type=Path, help="YAML file with the same keys (flags override it)")
    p.add_argument("--study", choices=profiles.STUDIES, help="measure a case study's grids")
    p.add_argument("--profile", choices=profiles.PROFILES, help="stopping rule and study grids (default quick)")
    p.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results/)")
    p.add_argument("--retry-failed", action="store_true", help="re-run configs stored with a non-ok status")
    p.add_argument("--isolate", action="store_true", help="one child process per model: native crashes become rows")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cluster = p.add_argument_group("cluster (see book/cluster.md)")
    cluster.add_argument("--engine", choices=("local", "ray"), default="local",
                         help="local (default) or ray: one task per model group, one device per task")
    cluster.add_argument("--address", help="Ray cluster: auto or ray://host:port (default: RAY_ADDRESS or local)")
    cluster.add_argument("--per-node", action="store_true", help="every alive Ray node runs the whole grid (RQ4)")
    cluster.add_argument("--accelerator-type", help="only GPUs of this Ray accelerator type, e.g. A100, H100, L4")
    add_stop_args(p)
    p.set_defaults(func=cmd_sweep)
