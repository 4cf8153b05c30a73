"""An interleaved A/B: one grid measured under two sides, alternated round by round in fresh processes.

A side is a Python interpreter (another virtual environment with other releases installed), a thread count, a
model override (a synthetic stack one layer deeper: a known perturbation), or several of these. Round k runs
each side once, in a process of its own, which measures round k of the grid into that side's store folder
(`OUT/a/`, `OUT/b/`) with `ftax.sweep.rounds.run_sweep`: the same stop rule share, interleaved order, resume and
failure rows as `ftax sweep --rounds R`. The order alternates, A then B in even rounds and B then A in odd
ones, so a machine that drifts one way over the run favours neither side, and each visit carries its round
index, so `ftax.read.ab_pairs` pairs A's and B's visits of a config made minutes apart.

A fresh process per side and round is the point: a side's interpreter may differ, and a process's own state
(allocator, thread pool, page cache of its libraries) is part of what a re-run varies, so it belongs inside the
comparison, not outside it. The parent holds the machine's measuring lock (`ftax.measure.measure_lock`) for the
whole run; each child gets a private lock file of its own, because the parent already holds the real one for
it, and a child waiting on its parent's lock would wait forever. A child killed mid-round loses its visit in
flight only, and a child dies with its parent; a rerun with the same options resumes at the first side and round
whose visits are missing.
Each child's exit is appended to `OUT/ab-runs/<machine_id>.jsonl` (side, round, exit code, seconds, the end
of its stderr), so a side that cannot run at all is a record too.

Run as a module (`python -m ftax.study.ab_run PAYLOAD_JSON`), it is the child: it measures one side's round.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import ftax
from ftax.measure import measure_lock
from ftax.store import jsonl
from ftax.store.env import fingerprint
from ftax.store.errors import InvalidConfigError
from ftax.study.grid_files import grids_from_spec, load_grid_file
from ftax.sweep.grids import Grid, study_configs
from ftax.sweep.profiles import ROUNDS, RULES

RUNS_KIND = "ab-runs"
SIDES = ("a", "b")


@dataclass(frozen=True)
class Side:
    """What one side of the A/B changes: its interpreter, its torch threads, its model overrides."""

    python: str = sys.executable
    threads: int | None = None
    overrides: tuple[tuple[str, int], ...] = ()

    def label(self) -> str:
        """'python /venvA/bin/python, 1 thread, depth=10': what sets the side apart, for the progress lines."""
        parts = [f"python {self.python}"]
        if self.threads is not None:
            parts.append(f"{self.threads} thread{'s' if self.threads != 1 else ''}")
        parts += [f"{k}={v}" for k, v in self.overrides]
        return ", ".join(parts)


def side_from(python: str | None = None, threads: int | None = None, overrides: list[str] | None = None) -> Side:
    """A side from command-line values (`--a-python`, `--a-threads`, `--a-override depth=10`, repeatable); a
    malformed override is one clear error."""
    pairs = []
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise InvalidConfigError(f"an override must look like depth=10, got {item!r}")
        pairs.append((key.strip(), int(value)))
    if threads is not None and threads < 1:
        raise InvalidConfigError(f"threads must be a positive integer, got {threads}")
    return Side(python=python or sys.executable, threads=threads, overrides=tuple(sorted(pairs)))


@dataclass(frozen=True)
class AbOptions:
    """An A/B run: the grid (a grid file's keys, `grid_file` merged under them), the two sides, where to store.

    `spec` holds what `ftax sweep` flags hold (models, backends, dtypes, batch_sizes, seq_lens, phases); a side's
    overrides replace the grid's."""

    out: Path
    a: Side = field(default_factory=Side)
    b: Side = field(default_factory=Side)
    spec: Mapping = field(default_factory=dict)
    grid_file: Path | None = None
    profile: str = "quick"
    device: str = "auto"
    rounds: int = ROUNDS["quick"]
    seed: int = 0
    isolate: bool = False

    def side(self, name: str) -> Side:
        return {"a": self.a, "b": self.b}[name]

    def folder(self, name: str) -> Path:
        """A side's own store folder: `OUT/a` or `OUT/b`."""
        return Path(self.out) / name


@dataclass
class AbRun:
    """What `run_ab` did: the two store folders and one entry per child process (side, round, exit, seconds)."""

    a_dir: Path
    b_dir: Path
    rounds: int
    children: list[dict] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[dict]:
        return [c for c in self.children if c["returncode"] != 0]

    def __str__(self) -> str:
        bad = f"; {len(self.failed)} failed (see ab-runs)" if self.failed else ""
        return (f"A/B: {len(self.children)} side runs over {self.rounds} rounds in {self.wall_s:.0f} s{bad}; "
                f"A in {self.a_dir}, B in {self.b_dir}")


SideRunner = Callable[[str, int, AbOptions], "tuple[int, str]"]


def spec_of(options: AbOptions, name: str) -> dict:
    """The grid spec side `name` measures: the grid file, the spec over it, the side's overrides over both."""
    spec = load_grid_file(options.grid_file) if options.grid_file else {}
    spec.update(dict(options.spec))
    overrides = dict(options.side(name).overrides)
    if overrides:
        spec["overrides"] = [overrides]
    return spec


def side_grids(options: AbOptions, name: str) -> list[Grid]:
    """Side `name`'s grids, validated (an unknown model or override is an error before anything runs)."""
    return grids_from_spec(spec_of(options, name), options.profile, options.device)


def order_of(round_: int) -> tuple[str, str]:
    """The sides in the order round `round_` runs them: A, B in even rounds, B, A in odd ones."""
    return SIDES if round_ % 2 == 0 else SIDES[::-1]


def rule_name(options: AbOptions) -> str:
    """The stop rule's name on every visit of the run (`quick/5`): a sweep in R rounds shares the rule R ways."""
    return RULES[options.profile].share(options.rounds).name


def stored_rounds(folder: Path, rule: str, n_configs: int) -> set[int]:
    """The rounds of `folder` with a visit (any status) of at least `n_configs` configs under `rule`."""
    seen: dict[int, set] = {}
    for data in jsonl.iter_records(folder) if Path(folder).is_dir() else ():
        if data.get("rule") == rule and data.get("round") is not None:
            seen.setdefault(int(data["round"]), set()).add(data["config_key"])
    return {r for r, keys in seen.items() if len(keys) >= n_configs}


def child_payload(name: str, round_: int, options: AbOptions) -> dict:
    """What the child of side `name` and round `round_` reads: plain JSON, so another interpreter can read it."""
    side = options.side(name)
    return {"spec": spec_of(options, name), "profile": options.profile, "device": options.device,
            "rounds": options.rounds, "round": round_, "seed": options.seed, "threads": side.threads,
            "isolate": options.isolate, "out": str(options.folder(name))}


def run_child(name: str, round_: int, options: AbOptions) -> tuple[int, str]:
    """Side `name`'s round `round_` in a fresh process of the side's interpreter: (exit code, end of stderr).

    This checkout goes first on the child's PYTHONPATH, so both sides run the same ftax; the child's lock file is
    private (module docstring)."""
    root = str(Path(ftax.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    env[measure_lock.LOCK_ENV] = str(Path(options.out) / f".child-{name}.lock")
    done = subprocess.run([options.side(name).python, "-m", "ftax.study.ab_run",
                           json.dumps(child_payload(name, round_, options))],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return done.returncode, done.stderr[-2000:]


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel sends it SIGTERM when the parent dies, so a killed A/B leaves no
    child measuring without the lock (Ctrl-C reaches both anyway; `subprocess.run` kills it on an exception)."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@measure_lock.holding
def run_ab(options: AbOptions, runner: SideRunner = run_child, log: Callable[[str], None] | None = None,
           clock: Callable[[], float] = time.monotonic) -> AbRun:
    """Measure `options`' grid under both sides in `options.rounds` rounds, alternating their order round by
    round, each side's round in a fresh process (`runner`); resumes what an earlier run left."""
    if not isinstance(options.rounds, int) or options.rounds < 2:
        raise InvalidConfigError(f"an A/B needs at least 2 rounds to pair, got {options.rounds!r}")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    counts = {name: len(study_configs(side_grids(options, name))) for name in SIDES}
    rule = rule_name(options)
    run = AbRun(a_dir=options.folder("a"), b_dir=options.folder("b"), rounds=options.rounds)
    Path(options.out).mkdir(parents=True, exist_ok=True)
    machine_id = fingerprint()["machine_id"]
    start = clock()
    for round_ in range(options.rounds):
        for name in order_of(round_):
            if round_ in stored_rounds(options.folder(name), rule, counts[name]):
                continue
            log(f"ftax A/B: round {round_ + 1}/{options.rounds}, side {name.upper()} "
                f"({options.side(name).label()}), {counts[name]} configs; {clock() - start:.0f} s elapsed")
            began = clock()
            returncode, stderr = runner(name, round_, options)
            child = {"side": name, "round": round_, "returncode": returncode, "wall_s": clock() - began,
                     "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rule": rule}
            if returncode != 0:
                child["stderr_tail"] = stderr
                log(f"ftax A/B: side {name.upper()} round {round_ + 1} exited with {returncode}: "
                    f"{stderr.strip().splitlines()[-1] if stderr.strip() else 'no message'}")
            jsonl.append_side(options.out, RUNS_KIND, machine_id, child)
            run.children.append(child)
    run.wall_s = clock() - start
    return run


class _RoundMeasured(Exception):
    """Raised by the child's `before_round` once its round is stored: ends the sweep without measuring later ones."""


def measure_side_round(payload: Mapping) -> None:
    """The child: round `payload['round']` of the grid into `payload['out']` under a sweep of `rounds` rounds (its
    stop rule share, its round index, its seed), and no later round."""
    from ftax.run.runner import MeasureOptions
    from ftax.sweep.rounds import run_sweep

    grids = grids_from_spec(dict(payload["spec"]), payload["profile"], payload["device"])
    round_ = int(payload["round"])

    def stop_after(next_round: int) -> None:
        if next_round > round_:
            raise _RoundMeasured

    try:
        run_sweep(study_configs(grids), payload["out"], MeasureOptions(rule=grids[0].rule, threads=payload["threads"]),
                  isolate=bool(payload["isolate"]), progress=False, rounds=int(payload["rounds"]),
                  seed=int(payload["seed"]), before_round=stop_after)
    except _RoundMeasured:
        pass


def options_record(options: AbOptions) -> dict:
    """`options` as plain JSON, for a report's provenance."""
    return json.loads(json.dumps(asdict(options), default=str))


if __name__ == "__main__":
    measure_side_round(json.loads(sys.argv[1]))
