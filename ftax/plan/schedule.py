"""Plan a sweep before running it: its visits in order, each priced, tier by tier, and where a time budget cuts.

GPU time comes in short leases (about 15 minutes, start-up and every command included, at most 10 minutes a
command), so the GPU reference run is planned on any machine first and then run in priority tiers (`Grid.tier`, in
the order the grids list them; `tiered_run`), one sweep per tier, under one deadline: the budget. A tier that
does not fit is cut inside, in priority order (`shapes`: a shape's backends stay together), never before the first
tier's first shape. The plan walks the visits a sweep would make (`sweep.run_sweep`'s resume rule, order and
grouping) and adds up what each costs (`visit_costs`), in the order a run spends its time.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Collection, Iterable, Sequence

import torch

from ftax.measure import memory
from ftax.run import backends, models
from ftax.store import jsonl, resume, schema
from ftax.sweep import rounds as sweep
from ftax.store.env import fingerprint
from ftax.store.errors import InvalidConfigError
from ftax.sweep.grids import Grid, study_configs
from ftax.store.schema import MeasureConfig
from ftax.measure.timing import StopRule
from ftax.plan.cost_fit import calibration_for
from ftax.plan.visit_costs import Calibration, copy_state, new_state, visit_terms

# A lease of about 15 minutes holds the machine's start-up, the install, the GPU tests and one rerun of a cut-short
# sweep besides the sweep itself; one command may run 10 minutes.
DEFAULT_BUDGET_S = 270.0


def check_counts(rounds: int, budget_s: float) -> None:
    """Refuse counts that plan nothing sensible: a sweep of no rounds, a budget of no time (or of no number).
    `math.inf` is no budget: the plan of a whole sweep, cut nowhere."""
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise InvalidConfigError(f"rounds must be a positive integer, got {rounds!r}")
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or math.isnan(budget_s) \
            or budget_s <= 0:
        raise InvalidConfigError(f"the budget must be a positive number of seconds, got {budget_s!r}")


def tiers(grids: Sequence[Grid]) -> list[tuple[str, list[Grid]]]:
    """Grids by priority tier (`Grid.tier`), tiers in the order their first grid is listed."""
    out: dict[str, list[Grid]] = {}
    for grid in grids:
        out.setdefault(grid.tier, []).append(grid)
    return list(out.items())


def closed_tiers(grids: Sequence[Grid]) -> list[Grid]:
    """`grids` with each grid's tier moved up to the earliest tier (`tiers` order) of any grid it shares a shape
    with, directly or through others, then in tier order (stable): a shape whose backends grids of two tiers name
    is measured in one tier, its backends timed together, and a grid is never split across tiers."""
    rank = {name: i for i, (name, _) in enumerate(tiers(grids))}
    parent = list(range(len(grids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple, int] = {}
    for i, grid in enumerate(grids):
        for shape in shapes([grid]):
            parent[root(i)] = root(owner.setdefault(shape, i))
    best: dict[int, int] = {}
    for i, grid in enumerate(grids):
        best[root(i)] = min(best.get(root(i), len(rank)), rank[grid.tier])
    names = list(rank)
    moved = [replace(grid, tier=names[best[root(i)]]) for i, grid in enumerate(grids)]
    return sorted(moved, key=lambda grid: rank[grid.tier])


def shape_of(config: MeasureConfig) -> tuple:
    """What a budget keeps or cuts as one: a model group's shape, whose backends a sweep times together
    (`sweep.compared`), so a cut never separates the two sides of a paired speedup."""
    return (sweep.group_key(config), config.seq_len, config.batch_size)


def shapes(grids: Sequence[Grid]) -> list[tuple]:
    """The shapes of `grids` in priority order: the order their first config is listed (grids in order, each in
    its product order), so a grid listed first, and a curve's small batches, come first."""
    return list(dict.fromkeys(shape_of(c) for c in study_configs(grids)))


def restrict(grids: Sequence[Grid], keep: Collection[tuple]) -> list[Grid]:
    """`grids` narrowed to the shapes in `keep`: one grid per model, overrides, dtype, phase and sequence length
    that keeps any batch size, in the grids' order (what a sweep is given: grids, not configs)."""
    out = []
    for grid in grids:
        for m, o, d, p, s in itertools.product(grid.models, grid.overrides, grid.dtypes, grid.phases, grid.seq_lens):
            one = replace(grid, models=(m,), overrides=(o,), dtypes=(d,), phases=(p,), seq_lens=(s,))
            batches = tuple(b for b in grid.batch_sizes
                            if any(shape_of(c) in keep for c in replace(one, batch_sizes=(b,)).configs()))
            if batches:
                out.append(replace(one, batch_sizes=batches))
    return out


@dataclass(frozen=True)
class Visit:
    tier: str
    round: int
    config: MeasureConfig
    seconds: float
    runs: bool  # False: stored as an `unsupported` row, without preparing anything
    how: str  # how its latency was estimated


@dataclass
class SweepPlan:
    """The visits a tiered run would make, in order, with their estimated seconds, and what its budget starts:
    whole tiers while they fit, then the first that does not, cut inside in priority order (`shapes`); none after."""

    tiers: list[tuple[str, list[Grid], list[Visit]]]
    rounds: int
    rule: StopRule
    budget_s: float
    calibration: Calibration
    kept: list[list[Grid]] = field(default_factory=list)  # per tier: its grids as far as the budget goes
    kept_s: float = 0.0  # the estimate of the kept part, planned as a run of its own
    cut_at: int | None = None  # the tier the budget cuts (inside, or before its first shape); None: all fit

    def tier_seconds(self) -> list[tuple[str, float, int]]:
        return [(name, sum(v.seconds for v in visits), len({v.config for v in visits}))
                for name, _, visits in self.tiers]

    def started(self) -> list[str]:
        """The tiers a run starts, whole or cut."""
        return [name for (name, _, _), kept in zip(self.tiers, self.kept) if kept]

    def kept_configs(self) -> set[MeasureConfig]:
        return set(study_configs([g for kept in self.kept for g in kept]))

    @property
    def seconds(self) -> float:
        return sum(s for _, s, _ in self.tier_seconds())

    def costs(self) -> dict[tuple[MeasureConfig, int], float]:
        """Each planned visit's estimated seconds by (config, round): what weights a sweep's progress bar."""
        return {(v.config, v.round): v.seconds for _, _, visits in self.tiers for v in visits}

    def headline(self) -> str:
        """One line for a run about to start: how many visits, the estimate, and where its costs came from."""
        visits = sum(len(visits) for _, _, visits in self.tiers)
        return (f"{visits} visits to make, estimated {self.seconds / 60:.1f} min on this machine (costs from "
                f"{self.calibration.source}); `ftax sweep --plan` lists each")

    def tier_lines(self, grid_names: bool = False) -> list[str]:
        """`tiers:` then one line per tier: its configs, estimated seconds, the cumulative estimate and what the
        budget does to it (cut inside, not started); with `grid_names`, the names of its grids."""
        lines, running = ["tiers:"], 0.0
        for index, ((name, seconds, n), kept_grids) in enumerate(zip(self.tier_seconds(), self.kept)):
            running += seconds
            n_kept = len(set(study_configs(kept_grids)) & {v.config for v in self.tiers[index][2]})
            if index == self.cut_at and n_kept:
                note = f"  (cut: {n_kept} of {n} configs started)"
            elif self.cut_at is not None and index >= self.cut_at:
                note = "  (over budget: not started)"
            else:
                note = ""
            named = f"  [{', '.join(dict.fromkeys(g.name for g in self.tiers[index][1]))}]" if grid_names else ""
            lines.append(f"  {name or '-':<12} {n:>4} configs {seconds:>8.1f} s  cumulative {running:>8.1f} s"
                         f"{note}{named}")
        return lines

    def format(self) -> str:
        """Configs in priority order (tier, then shape: `shapes`), each with its seconds over all rounds and the
        cumulative estimate; a line where the budget cuts; then each tier's total and where the figures came from."""
        kept = self.kept_configs()
        lines = [f"plan: {self.rounds} rounds under {self.rule.name} ({self.rule.share(self.rounds).name} a visit), "
                 f"budget {self.budget_s:g} s, the whole run's deadline; costs from {self.calibration.source}",
                 f"{'tier':<12} {'config':<58} {'est s':>7} {'cum s':>8}  latency from"]
        total, cut = 0.0, False
        for name, tier_grids, visits in self.tiers:
            per_config: dict[MeasureConfig, list[Visit]] = {}
            for visit in visits:
                per_config.setdefault(visit.config, []).append(visit)
            rank = {s: i for i, s in enumerate(shapes(tier_grids))}
            listed = {c: i for i, c in enumerate(study_configs(tier_grids))}
            for config in sorted(per_config, key=lambda c: (rank[shape_of(c)], listed[c])):
                if config not in kept and not cut:
                    lines.append(f"---- budget {self.budget_s:g} s cuts here: the configs above are planned at "
                                 f"{self.kept_s:.0f} s as a run of their own; the rest is not started ----")
                    cut = True
                vs = per_config[config]
                seconds = sum(v.seconds for v in vs)
                total += seconds
                how = vs[0].how if vs[0].runs else "unsupported here: a row, not measured"
                lines.append(f"{name or '-':<12} {config.label():<58} {seconds:>7.1f} {total:>8.1f}  {how}")
        lines += self.tier_lines()
        lines.append("cost model:")
        lines += self.calibration.describe()
        return "\n".join(lines)


def _runs_there(config: MeasureConfig) -> bool:
    """Whether the config is prepared and timed on its device (else it becomes an `unsupported` row). A CUDA
    config planned on a machine without CUDA: the torch backends run there; onnxruntime only with a CUDA
    provider in this onnxruntime build (the GPU image's is the CPU build)."""
    try:
        models.validate_shape(models.get_spec(config.model), config.batch_size, config.seq_len)
    except Exception:  # noqa: BLE001 -- any invalid size is an unsupported row
        return False
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        if config.backend != "onnxruntime":
            return config.backend in backends.names()
        try:
            import onnxruntime as ort
        except ImportError:
            return False
        return "CUDAExecutionProvider" in ort.get_available_providers()
    return backends.available(config.backend, config.device, config.dtype)[0]


def estimate(grids: Sequence[Grid], rounds: int, rule: StopRule, cal: Calibration,
             budget_s: float = DEFAULT_BUDGET_S, stored: dict | None = None, decompose_all: bool = False,
             seed: int = 0, energy: bool | None = None, imported: bool = False,
             at_least_one: bool = True) -> SweepPlan:
    """The visits a tiered run of `grids` makes (`sweep.run_sweep`'s resume rule over `stored`, its visit
    order and grouping), each with its estimated seconds, and where `budget_s` cuts: tiers whole while they fit,
    then the next as far as it fits in priority order (`shapes`, each prefix planned as a run of its own), and,
    with `at_least_one`, at least that tier's first shape when nothing before it is started: a run whose first
    tier is over budget still measures its most important configs (the deadline bounds the overrun). `stored`:
    `resume.best_records(path, visit_key)`; `imported`: this process has paid the first build's imports."""
    check_counts(rounds, budget_s)
    shared = rule.share(rounds)
    env = fingerprint()
    done = _done(study_configs(grids), rounds, shared, stored or {}, env)
    energy_s = memory.MIN_ENERGY_WINDOW_S if (energy if energy is not None else
                                              memory.energy_source(cal.device)[0] is not None) else 0.0
    state = new_state(imported, {config for config, _ in done})

    def walk(name: str, tier_grids: Sequence[Grid], done: dict, state: dict) -> list[Visit]:
        return _tier_visits(name, tier_grids, done, state, rounds, shared, cal, decompose_all, seed, energy_s)

    out, kept, remaining, kept_s, cut_at = [], [], budget_s, 0.0, None
    for index, (name, tier_grids) in enumerate(tiers(grids)):
        before = (dict(done), copy_state(state))
        visits = walk(name, tier_grids, done, state)
        out.append((name, list(tier_grids), visits))
        seconds = sum(v.seconds for v in visits)
        if cut_at is not None:
            kept.append([])
            continue
        if seconds <= remaining:
            kept.append(list(tier_grids))
            remaining, kept_s = remaining - seconds, kept_s + seconds
            continue
        todo = {shape_of(v.config) for v in visits}
        order = [s for s in shapes(tier_grids) if s in todo]

        def cost(k: int) -> float:
            return sum(v.seconds for v in walk(name, restrict(tier_grids, order[:k]), dict(before[0]),
                                               copy_state(before[1])))

        k = _longest(cost, len(order), remaining)
        if k == 0 and at_least_one and kept_s == 0:
            k = 1
        kept.append(restrict(tier_grids, order[:k]) if k else [])
        kept_s, cut_at = kept_s + (cost(k) if k else 0.0), index
    return SweepPlan(out, rounds, rule, budget_s, cal, kept, kept_s, cut_at)


def _longest(cost: Callable[[int], float], n: int, limit: float) -> int:
    """The largest k in 0..n with cost(k) <= limit, cost growing with k (a bisection: each cost is a plan)."""
    low, high = 0, n
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if cost(mid) <= limit else (low, mid - 1)
    return low


def _done(configs: Sequence[MeasureConfig], rounds: int, shared: StopRule, stored: dict, env: dict) -> dict:
    """(config, round) -> whether its stored visit is decomposed, for the visits stored under this rule and
    software (`resume.is_done`): what a sweep skips."""
    machine_id, stack_now = env["machine_id"], resume.stack(env)
    done: dict[tuple[MeasureConfig, int], bool] = {}
    for config in configs:
        for r in range(rounds):
            data = stored.get((schema.config_key(config, machine_id), r, shared.name))
            if data is not None and resume.is_done(data, stack_now=stack_now):
                done[(config, r)] = bool(data.get("decomposition"))
    return done


def _tier_visits(name: str, tier_grids: Sequence[Grid], done: dict, state: dict, rounds: int,
                 shared: StopRule, cal: Calibration, decompose_all: bool, seed: int, energy_s: float) -> list[Visit]:
    """One tier's visits in `sweep.run_sweep`'s order, each with its seconds; marks them in `done` and carries
    the process's state (imports paid, exports cached, the compile graphs of the current model) in `state`."""
    configs = sweep.grouped(study_configs(tier_grids))
    profiled = set(configs if decompose_all else study_configs(g for g in tier_grids if g.decompose))
    visits: list[Visit] = []
    for r in range(rounds):
        todo = [c for c in configs if (c, r) not in done or (r == 0 and c in profiled and not done[(c, r)])]
        opening = cal.figure("round_s").value if todo else 0.0  # on the round's first visit
        for index, (_, group) in enumerate(_groups(sweep.interleaved(todo, seed + r))):
            first = True
            for together in sweep.compared(group):
                decomposing = r == 0 and any(c in profiled for c in together)
                for config in together:
                    seconds, how, runs = opening, "", _runs_there(config)  # an unsupported row: a record only
                    if runs:
                        terms, how = visit_terms(config, r, cal, shared, state, (name, r, index), first, decomposing,
                                                 energy_s)
                        seconds, first = opening + sum(terms.values()), False
                    opening = 0.0
                    visits.append(Visit(name, r, config, seconds, runs, how))
                    done[(config, r)] = done.get((config, r), False) or decomposing
    return visits


def _groups(order: Iterable[MeasureConfig]) -> list[tuple[tuple, list[MeasureConfig]]]:
    groups: list[tuple[tuple, list[MeasureConfig]]] = []
    for config in order:
        key = sweep.group_key(config)
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(config)
    return groups


def plan_sweep(grids: Sequence[Grid], results_dir, rounds: int, budget_s: float = DEFAULT_BUDGET_S,
               calibration_dir="results", decompose_all: bool = False, seed: int = 0) -> SweepPlan:
    """The plan of sweeping `grids` into `results_dir`: what is stored there already is not planned again;
    costs come from the records in `calibration_dir` (and `results_dir`) of the grids' device type."""
    check_counts(rounds, budget_s)
    cal, env = calibration_for(grids, results_dir, calibration_dir)
    stored = resume.best_records(jsonl.store_path(results_dir, env["machine_id"]), key=resume.visit_key)
    return estimate(grids, rounds, grids[0].rule, cal, budget_s, stored, decompose_all, seed)


def visits_left(grids: Sequence[Grid], results_dir, rounds: int,
                decompose_all: bool = False) -> tuple[int, int]:
    """(visits, configs) a sweep of `grids` into `results_dir` still has to make: what a rerun resumes."""
    env = fingerprint()
    configs = study_configs(grids)
    stored = resume.best_records(jsonl.store_path(results_dir, env["machine_id"]), key=resume.visit_key)
    done = _done(configs, rounds, grids[0].rule.share(rounds), stored, env)
    profiled = set(configs if decompose_all else study_configs(g for g in grids if g.decompose))
    todo = [c for c in configs for r in range(rounds)
            if (c, r) not in done or (r == 0 and c in profiled and not done[(c, r)])]
    return len(todo), len(set(todo))
