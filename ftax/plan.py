"""Plan a sweep before running it: how long each visit takes, tier by tier, and where a time budget cuts.

GPU time comes in short leases (about 15 minutes, start-up and every command included, at most 10 minutes a
command), so the GPU reference run is planned on any machine first and then run in priority tiers (`Grid.tier`, in
the order the grids list them), one `studies.measure_grids` per tier, under one deadline: the budget. A tier that
does not fit is cut inside, in priority order (`shapes`: a shape's backends stay together), never before the first
tier's first shape; no visit starts past the deadline, and every finished one is stored, so an interrupted run has
stored the most important records and a rerun resumes the rest.

What a visit costs, in the order `sweep.run_sweep` spends it (`visit_s`, `estimate`):

- building the model, once per model group and round (`runner.ModelCache`), plus once per process the
  imports (transformers; on CUDA the context) that the first build pays;
- preparing the backend, every visit (`backends.prepare`): TorchScript's trace, the ONNX export (once per
  model and dtype: it is cached on disk), the CUDA graph's capture, and torch.compile's graphs, counted by
  `compile_graphs` from Dynamo's rule (a new graph per size-1 specialization and once per dimension that
  turns dynamic), reset whenever the model or mode changes;
- the timing under the stop rule shared by the rounds (`StopRule.share`): warm-up, the samples (at least
  the rule's floor, times a factor fitted from stored records: how far past the floor the CI target
  took), the dropped first call of each alternating block, the pipelined rounds;
- round 0's extras (FLOPs, parity, memory; energy where a counter exists; the decomposition where asked),
  and a fixed cost per visit (the fingerprint, the append), fitted from stored records' timestamps.

Every figure comes from stored records of the same device type where they exist (`calibrate`), each
named with its source; where none exist the `DEFAULTS` table gives a documented default, labelled
`default` wherever it is used. The per-call latency is the stored median of the same config, else a
straight line in tokens through the same curve's stored points, else host + work (`latency_s`).
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Collection, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import nnls

import torch

from ftax import backends, measure_lock, memory, models, results, studies, sweep
from ftax.env import fingerprint
from ftax.errors import InvalidConfigError
from ftax.grids import Grid, study_configs
from ftax.profiles import RULES
from ftax.results import MeasureConfig
from ftax.timing import StopRule

# A lease of about 15 minutes holds the machine's start-up, the install, the GPU tests and one rerun of a cut-short
# sweep besides the sweep itself; one command may run 10 minutes.
DEFAULT_BUDGET_S = 270.0
COMPILE_BACKENDS = {"compile": None, "compile-reduce-overhead": "reduce-overhead"}
# Calls a backend's prepare makes after building its runtime (backends.py): the cold one and the warm ones.
PREPARE_CALLS = {"eager": 1, "torchscript": 2, "compile": 1, "compile-reduce-overhead": 3, "cudagraph": 5,
                 "onnxruntime": 1}
# name -> (value, why): used only where no stored record of the device type gives the figure.
DEFAULTS: dict[str, tuple[float, str]] = {
    "import_s": (5.0, "first build of a process: transformers' import, CUDA context"),
    "build_s_per_mparam": (0.02, "random init of 1M parameters on the host"),
    "prepare_host_s": (0.05, "a backend's own prepare work besides its calls: Python-side set-up"),
    "torchscript_s": (1.5, "trace + freeze of a BERT-base-sized graph"),
    "cudagraph_s": (0.3, "CUDA graph capture besides its 5 calls"),
    "export_s": (8.0, "ONNX export of a BERT-base-sized model, once per model and dtype"),
    "compile_graph_s": (25.0, "one torch.compile graph on CUDA: Dynamo + Inductor + Triton kernels, in-process "
                              "(compile_threads=1)"),
    "sampling_share": (0.5, "sampling time's share of the way from the rule's floor to its time limit (a GPU's "
                            "steadier timings meet the CI target sooner than a shared CPU's)"),
    "visit_s": (0.05, "fixed cost of a visit: fingerprint, record, append"),
    "round0_s": (0.1, "round 0's fixed extras: FLOP count, parity, memory baseline"),
    "round0_calls": (6.0, "round 0's extra forward calls: FLOP and GEMM counting, parity"),
    "decompose_s": (1.0, "a profiled decomposition besides its calls"),
    "decompose_calls": (20.0, "a decomposition's calls: warm, unprofiled and profiled steps"),
    "host_us_per_op": (10.0, "eager host cost per aten op on a GPU host"),
    "ops_per_layer": (40.0, "aten ops per encoder layer of a BERT"),
    "cuda_fp32_flops": (25e12, "fp32 FLOP/s a BERT reaches on an H100/H200 without TF32"),
    "cuda_half_flops": (250e12, "fp16/bf16 FLOP/s a BERT reaches on an H100/H200 (a third of the "
                                "788 TFLOP/s bf16 GEMM read on an H200 in the device notes)"),
}
# Host cost per op relative to eager (CUDA defaults): what each runtime removes of the dispatch.
HOST_FACTOR = {"eager": 1.0, "torchscript": 0.7, "compile": 0.3, "compile-reduce-overhead": 0.05,
               "cudagraph": 0.03, "onnxruntime": 0.5}


@dataclass(frozen=True)
class Figure:
    """One constant of the cost model and where it came from (`records: ...` or `default`)."""

    value: float
    source: str


def default(name: str) -> Figure:
    value, why = DEFAULTS[name]
    return Figure(value, f"default: {why}")


def parse_rule(name: str | None) -> StopRule | None:
    """The stop rule a stored visit ran under, from its name (`quick/3` -> quick shared by 3)."""
    base, _, visits = (name or "").partition("/")
    if base not in RULES:
        return None
    return RULES[base].share(int(visits)) if visits.isdigit() else RULES[base]


# --- the stop rule's part -------------------------------------------------------------------

def timing_s(rule: StopRule, t_s: float, sampling_share: float = 1.0, spent_s: float | None = None) -> float:
    """Seconds `timing.measure_alternating` spends on one callable of `t_s` seconds per call under `rule`:
    warm-up, samples (`spent_s` if known, else the rule's floor plus `sampling_share` of the way from it to
    the rule's time limit: 0 stops at the floor, 1 at `max_time_s`), the dropped first call of each
    alternating block, the pipelined rounds."""
    t = max(t_s, 1e-6)
    warm_calls = max(1, min(max(rule.warmup_iters, math.ceil(rule.warmup_time_s / t)), math.ceil(rule.warmup_max_s / t)))
    floor = max(rule.min_time_s, rule.min_iters * t)
    limit = max(rule.max_time_s, rule.min_iters * t)
    spent = spent_s if spent_s is not None else floor + max(sampling_share, 0.0) * (limit - floor)
    dropped = math.ceil(spent / max(rule.block_s, t)) * t
    pipelined_calls = max(1, min(rule.pipelined_calls, int(rule.pipelined_max_s / (t * rule.pipelined_rounds))))
    return warm_calls * t + spent + dropped + rule.pipelined_rounds * pipelined_calls * t


# --- how many torch.compile graphs ------------------------------------------------------------

def compile_graphs(shapes: Sequence[tuple[int, int]]) -> list[bool]:
    """For shapes (batch, seq) visited in order after a Dynamo reset: whether each visit compiles a graph.

    Dynamo's automatic dynamic shapes: a graph guards each dimension on its value, or on being >= 2 once
    that dimension has been seen at two values; sizes 0 and 1 always specialize. On the stored CPU records
    this predicts every compile of page 02's rounds (4, 3 and 4 graphs for bert-tiny over batch 1..64).
    """
    graphs: list[tuple] = []
    seen: list[set[int]] = [set(), set()]
    out = []
    for shape in shapes:
        for dim, size in enumerate(shape):
            seen[dim].add(size)
        hit = any(all(g == s if g != "dyn" else s >= 2 for g, s in zip(graph, shape)) for graph in graphs)
        if not hit:
            graphs.append(tuple("dyn" if len(seen[d]) > 1 and s >= 2 else s for d, s in enumerate(shape)))
        out.append(not hit)
    return out


# --- calibration from stored records -----------------------------------------------------------

def _device_type(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


@dataclass
class Calibration:
    """The cost model's constants for one device type, from stored records where they exist."""

    device: str
    source: str  # which records: "records: N visits of <machine>" or "no records of <device>: defaults"
    latency: dict[tuple, dict[int, float]] = field(default_factory=dict)  # curve -> {tokens: median s}
    flops_per_token: dict[tuple, float] = field(default_factory=dict)  # (model, overrides) -> FLOPs / token
    build_s: dict[tuple, float] = field(default_factory=dict)  # (model, overrides) -> seconds
    prepare_host_s: dict[tuple, float] = field(default_factory=dict)  # (backend, model) -> s besides its calls
    backend_ratio: dict[str, float] = field(default_factory=dict)  # backend -> latency / eager's, same shape
    figures: dict[str, Figure] = field(default_factory=dict)

    def figure(self, name: str) -> Figure:
        return self.figures.get(name) or default(name)

    def describe(self) -> list[str]:
        names = sorted(set(self.figures) | {k for k in DEFAULTS if k not in self.figures})
        return [f"  {name:<18} {self.figure(name).value:<10.4g} {self.figure(name).source}" for name in names]


def calibrate(frame: pd.DataFrame, device: str, machine_id: str | None = None) -> Calibration:
    """The cost model for `device` from a visits frame (`results.load(...)`): records of
    the same device type, this machine's if it has any, else every machine's of that type."""
    kind = _device_type(device)
    rows = frame[frame["device"].astype(str).str.startswith(kind)] if not frame.empty else frame
    if not rows.empty and machine_id is not None and (rows["machine_id"] == machine_id).any():
        rows = rows[rows["machine_id"] == machine_id]
    ok = rows[rows["status"] == "ok"] if not rows.empty else rows
    every = frame[frame["status"] == "ok"] if not frame.empty else frame
    flops_per_token = {}  # FLOPs do not depend on the device: every machine's records count
    if not every.empty:
        counted = every[every["flops"].notna()]
        per_token = counted["flops"] / (counted["batch_size"] * counted["seq_len"])
        flops_per_token = per_token.groupby([counted["model"], counted["overrides"].astype(str)]).median().to_dict()
    if ok.empty:
        return Calibration(kind, f"no stored {kind} records: defaults", flops_per_token=flops_per_token)
    machines = ", ".join(sorted(ok["machine_id"].astype(str).unique()))
    cal = Calibration(kind, f"records: {len(ok)} ok visits of {machines}", flops_per_token=flops_per_token)
    src = f"records: {machines}"
    over = ok["overrides"].astype(str)
    for (model, backend, dtype, o), part in ok.assign(o=over).groupby(["model", "backend", "dtype", "o"]):
        tokens = part["batch_size"] * part["seq_len"]
        cal.latency[(model, backend, dtype, o)] = (part["median_ms"] / 1e3).groupby(tokens).median().to_dict()
    eager = {(m, d, o, t): v for (m, b, d, o), pts in cal.latency.items() if b == "eager" for t, v in pts.items()}
    ratios: dict[str, list[float]] = {}
    for (m, b, d, o), pts in cal.latency.items():
        ratios.setdefault(b, []).extend(v / eager[(m, d, o, t)] for t, v in pts.items() if (m, d, o, t) in eager)
    cal.backend_ratio = {b: float(np.median(r)) for b, r in ratios.items() if r}
    builds = ok.assign(o=over).groupby(["model", "o"])["model_build_s"]
    cal.build_s = builds.median().to_dict()
    first = ok.iloc[0]
    cold = float(first["model_build_s"]) - cal.build_s[(first["model"], over.iloc[0])]
    if kind == "cpu":  # on CUDA the context comes on top of the imports: no CPU record says how long it takes
        cal.figures["import_s"] = Figure(max(cold, 0.0), f"{src}: first build of the sweep minus its median")
    calls = ok["backend"].map(PREPARE_CALLS).fillna(1) * ok["median_ms"] / 1e3
    host = (ok["prepare_s"] - calls).clip(lower=0)
    plain = ~ok["backend"].isin(list(COMPILE_BACKENDS)) & ~ok["backend_detail"].astype(str).str.startswith("exported")
    cal.prepare_host_s = host[plain].groupby([ok["backend"][plain], ok["model"][plain]]).median().to_dict()
    exported = ok["backend_detail"].astype(str).str.startswith("exported")
    if exported.any():
        cal.figures["export_s"] = Figure(float(host[exported].median()), f"{src}: prepare of exporting visits")
    graphs = _stored_graphs(ok)
    if graphs:
        total_s, count = sum(s for s, _ in graphs), sum(n for _, n in graphs)
        if count:
            cal.figures["compile_graph_s"] = Figure(total_s / count, f"{src}: compile prepare / graphs predicted")
    shares = []
    for rule, t, spent in zip(ok["rule"].map(parse_rule), ok["median_ms"] / 1e3, ok["total_time_s"]):
        floor, limit = (max(rule.min_time_s, rule.min_iters * t), max(rule.max_time_s, rule.min_iters * t)) if rule \
            else (0.0, 0.0)
        if limit > floor:
            shares.append((spent - floor) / (limit - floor))
    if shares:
        cal.figures["sampling_share"] = Figure(float(np.median(shares)), f"{src}: median of (sampling time - "
                                               f"floor) / (limit - floor), {len(shares)} visits")
    cal.figures.update(_fixed_costs(ok, rows, cal, src))
    return cal


def _stored_graphs(ok: pd.DataFrame) -> list[tuple[float, int]]:
    """(compile prepare seconds, graphs `compile_graphs` predicts) per stored model group and round, in the
    order the visits were stored; Dynamo resets on a new model or mode, as `backends` does."""
    out = []
    part = ok[ok["backend"].isin(list(COMPILE_BACKENDS))]
    for _, group in part.groupby(["machine_id", "rule", "round", "model", "dtype", "overrides"], sort=False):
        mode, shapes = None, []
        for backend, batch, seq, prepare in zip(group["backend"], group["batch_size"], group["seq_len"],
                                                group["prepare_s"]):
            if backend != mode:
                mode, shapes = backend, []
            shapes.append((batch, seq))
            out.append((float(prepare), int(compile_graphs(shapes)[-1])))
    return out


def _fixed_costs(ok: pd.DataFrame, rows: pd.DataFrame, cal: Calibration, src: str) -> dict[str, Figure]:
    """The per-visit costs the stop rule does not explain, fitted (non-negative least squares) to the wall
    time between consecutive blocks of a sweep (a block: the visits one `measure_compared` stored together)."""
    blocks, feats = [], []
    ordered = rows.reset_index(drop=True)
    group = list(zip(ordered["rule"], ordered["round"], ordered["model"], ordered["dtype"], ordered["overrides"]))
    key = pd.Series([g + (b, s) for g, b, s in zip(group, ordered["batch_size"], ordered["seq_len"])])
    previous_end = None
    for _, block in ordered.groupby(key.ne(key.shift()).cumsum(), sort=True):
        end = block["timestamp"].max().timestamp()
        live = block[block["status"] == "ok"]
        start = block.index.min()
        if previous_end is not None and 0 < end - previous_end < 120 and len(live):
            modeled, calls = 0.0, 0.0
            for r in live.itertuples():
                rule = parse_rule(r.rule) or RULES["quick"]
                modeled += r.prepare_s + timing_s(rule, r.median_ms / 1e3, spent_s=r.total_time_s)
                calls += r.median_ms / 1e3
            if start == 0 or group[start] != group[start - 1]:
                modeled += float(live["model_build_s"].iloc[0])
            round0 = float(live["round"].iloc[0] == 0)
            decomposed = float(live["decomposition_method"].notna().any()) if "decomposition_method" in live else 0.0
            blocks.append(end - previous_end - modeled)
            feats.append([len(live), round0 * len(live), round0 * calls, decomposed * len(live), decomposed * calls])
        previous_end = end
    if len(blocks) < 8:
        return {}
    coef, _ = nnls(np.array(feats), np.array(blocks))
    names = ("visit_s", "round0_s", "round0_calls", "decompose_s", "decompose_calls")
    why = f"{src}: fitted to {len(blocks)} blocks' wall time"
    return {n: Figure(float(c), why) for n, c in zip(names, coef)}


# --- latency and work of one config ------------------------------------------------------------

def _sizes(config: MeasureConfig) -> tuple[int, int, int]:
    """(layers, width, FFN width) of the config's model with its overrides, from its config (no weights built)."""
    spec = models.get_spec(config.model)
    if spec.build_config is None:
        return 4, 256, 1024
    cfg = spec.build_config()
    for key, value in models.implied_overrides(spec, dict(config.overrides)).items():
        setattr(cfg, spec.config_fields[key], value)
    get = lambda *names, fallback: next((getattr(cfg, n) for n in names if getattr(cfg, n, None)), fallback)
    width = get("hidden_size", "dim", "n_embd", fallback=768)
    return get("num_hidden_layers", "n_layers", "n_layer", fallback=12), width, get(
        "intermediate_size", "hidden_dim", "n_inner", fallback=4 * width)


def flops(config: MeasureConfig, cal: Calibration) -> tuple[float, str]:
    """FLOPs of one call: stored FLOPs per token of the model (any device: they do not depend on it), else
    2 x tokens x layers x (4 h^2 + 2 h i) from its config."""
    tokens = config.batch_size * config.seq_len
    stored = cal.flops_per_token.get((config.model, results.overrides_json(dict(config.overrides))))
    if stored:
        return stored * tokens, "records"
    layers, h, i = _sizes(config)
    return 2.0 * tokens * layers * (4 * h * h + 2 * h * i), "config"


def latency_s(config: MeasureConfig, cal: Calibration) -> tuple[float, str]:
    """(seconds per call, how it was estimated): the stored median of the same config; a line in tokens
    through the same curve's stored points; the same model's eager curve times the backend's stored ratio
    to eager; else host + work (`DEFAULTS`), overlapping on CUDA, adding up on a CPU."""
    tokens = config.batch_size * config.seq_len
    over = results.overrides_json(dict(config.overrides))

    def from_curve(backend: str) -> float | None:
        points = cal.latency.get((config.model, backend, config.dtype, over))
        if not points:
            return None
        if tokens in points:
            return points[tokens]
        xs, ys = np.array(list(points)), np.array(list(points.values()))
        if len(xs) < 2:
            return float(ys[0])
        near = np.argsort(np.abs(np.log(xs) - math.log(tokens)))[:2]  # the two nearest points, in log tokens
        slope, intercept = np.polyfit(xs[near], ys[near], 1)
        return float(max(intercept + slope * tokens, ys.min()))

    own = from_curve(config.backend)
    if own is not None:
        return own, "records"
    base = from_curve("eager")
    if base is not None and config.backend in cal.backend_ratio:
        return base * cal.backend_ratio[config.backend], "records (eager x ratio)"
    work, _ = flops(config, cal)
    layers = _sizes(config)[0]
    host = (layers * cal.figure("ops_per_layer").value * cal.figure("host_us_per_op").value * 1e-6
            * HOST_FACTOR.get(config.backend, 1.0))
    if cal.device == "cuda":
        rate = cal.figure("cuda_fp32_flops" if config.dtype == "fp32" else "cuda_half_flops").value
        return max(host, work / rate), "default (host, work)"
    return host + work / 5e10, "default (host + work)"


# --- the plan ------------------------------------------------------------------------------------

def check_counts(rounds: int, budget_s: float) -> None:
    """Refuse counts that plan nothing sensible: a sweep of no rounds, a budget of no time (or of no number)."""
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
        raise InvalidConfigError(f"rounds must be a positive integer, got {rounds!r}")
    if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not math.isfinite(budget_s) \
            or budget_s <= 0:
        raise InvalidConfigError(f"the budget must be a positive number of seconds, got {budget_s!r}")


def tiers(grids: Sequence[Grid]) -> list[tuple[str, list[Grid]]]:
    """Grids by priority tier (`Grid.tier`), tiers in the order their first grid is listed."""
    out: dict[str, list[Grid]] = {}
    for grid in grids:
        out.setdefault(grid.tier, []).append(grid)
    return list(out.items())


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
        lines.append("tiers:")
        running = 0.0
        for index, ((name, seconds, n), kept_grids) in enumerate(zip(self.tier_seconds(), self.kept)):
            running += seconds
            n_kept = len(set(study_configs(kept_grids)) & {v.config for v in self.tiers[index][2]})
            if index == self.cut_at and n_kept:
                note = f"  (cut: {n_kept} of {n} configs started)"
            elif self.cut_at is not None and index >= self.cut_at:
                note = "  (over budget: not started)"
            else:
                note = ""
            lines.append(f"  {name or '-':<12} {n:>4} configs {seconds:>8.1f} s  cumulative {running:>8.1f} s{note}")
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


def _onnx_cached(config: MeasureConfig) -> bool:
    return any((backends.default_cache_dir() / "onnx").glob(f"{config.model}-{config.dtype}-*.onnx"))



def estimate(grids: Sequence[Grid], rounds: int, rule: StopRule, cal: Calibration,
             budget_s: float = DEFAULT_BUDGET_S, stored: dict | None = None, decompose_all: bool = False,
             seed: int = 0, energy: bool | None = None, imported: bool = False,
             at_least_one: bool = True) -> SweepPlan:
    """The visits a tiered run of `grids` makes (`sweep.run_sweep`'s resume rule over `stored`, its visit
    order and grouping), each with its estimated seconds, and where `budget_s` cuts: tiers whole while they fit,
    then the next as far as it fits in priority order (`shapes`, each prefix planned as a run of its own), and,
    with `at_least_one`, at least that tier's first shape when nothing before it is started: a run whose first
    tier is over budget still measures its most important configs (the deadline bounds the overrun). `stored`:
    `results.best_records(path, visit_key)`; `imported`: this process has paid the first build's imports."""
    check_counts(rounds, budget_s)
    shared = rule.share(rounds)
    env = fingerprint()
    done = _done(study_configs(grids), rounds, shared, stored or {}, env)
    energy_s = memory.MIN_ENERGY_WINDOW_S if (energy if energy is not None else
                                              memory.energy_source(cal.device)[0] is not None) else 0.0
    state = {"imported": imported, "exported": set(), "owner": None, "shapes": []}

    def walk(name: str, tier_grids: Sequence[Grid], done: dict, state: dict) -> list[Visit]:
        return _tier_visits(name, tier_grids, done, state, rounds, shared, cal, decompose_all, seed, energy_s)

    out, kept, remaining, kept_s, cut_at = [], [], budget_s, 0.0, None
    for index, (name, tier_grids) in enumerate(tiers(grids)):
        before = (dict(done), {**state, "exported": set(state["exported"]), "shapes": list(state["shapes"])})
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
            copied = {**before[1], "exported": set(before[1]["exported"]), "shapes": list(before[1]["shapes"])}
            return sum(v.seconds for v in walk(name, restrict(tier_grids, order[:k]), dict(before[0]), copied))

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
    software (`results.is_done`): what a sweep skips."""
    machine_id, software_now = env["machine_id"], results.software(env)
    done: dict[tuple[MeasureConfig, int], bool] = {}
    for config in configs:
        for r in range(rounds):
            data = stored.get((results.config_key(config, machine_id), r, shared.name))
            if data is not None and results.is_done(data, software_now=software_now):
                done[(config, r)] = bool(data.get("decomposition"))
    return done


def _tier_visits(name: str, tier_grids: Sequence[Grid], done: dict, state: dict, rounds: int,
                 shared: StopRule, cal: Calibration, decompose_all: bool, seed: int, energy_s: float) -> list[Visit]:
    """One tier's visits in `sweep.run_sweep`'s order, each with its seconds; marks them in `done` and carries
    the process's state (imports paid, exports cached, the compile graphs of the current model) in `state`."""
    factor = cal.figure("sampling_share").value
    fig = lambda name: cal.figure(name).value  # noqa: E731
    configs = sweep.grouped(study_configs(tier_grids))
    profiled = set(configs if decompose_all else study_configs(g for g in tier_grids if g.decompose))
    visits: list[Visit] = []
    for r in range(rounds):
        todo = [c for c in configs if (c, r) not in done or (r == 0 and c in profiled and not done[(c, r)])]
        for index, (_, group) in enumerate(_groups(sweep.interleaved(todo, seed + r))):
            built = False
            for together in sweep.compared(group):
                decomposing = r == 0 and any(c in profiled for c in together)
                for config in together:
                    seconds, runs, how = fig("visit_s"), _runs_there(config), ""
                    if runs:
                        t, how = latency_s(config, cal)
                        if not built:
                            seconds += _build_s(config, cal) + (0.0 if state["imported"] else fig("import_s"))
                            state["imported"], built = True, True
                            if config.dtype != "fp32" and r == 0:
                                seconds += _build_s(config, cal)  # the fp32 twin for parity
                        seconds += _prepare_s(config, t, cal, state, (name, r, index)) + timing_s(shared, t, factor)
                        if r == 0:
                            seconds += fig("round0_s") + fig("round0_calls") * t + energy_s
                        if decomposing:
                            seconds += fig("decompose_s") + fig("decompose_calls") * t
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


def _build_s(config: MeasureConfig, cal: Calibration) -> float:
    stored = cal.build_s.get((config.model, results.overrides_json(dict(config.overrides))))
    if stored is not None:
        return float(stored)
    layers, h, i = _sizes(config)
    mparams = layers * (4 * h * h + 2 * h * i) / 1e6 + 30522 * h / 1e6
    return mparams * cal.figure("build_s_per_mparam").value


def _prepare_s(config: MeasureConfig, t: float, cal: Calibration, state: dict, group: tuple) -> float:
    """A visit's prepare: the backend's own work (stored median, else a default) plus its calls; torch.compile's
    graphs (`compile_graphs`, Dynamo reset on a new model or mode); an export on the first ONNX visit."""
    calls = PREPARE_CALLS.get(config.backend, 1) * t
    if config.backend in COMPILE_BACKENDS:
        owner = (group, COMPILE_BACKENDS[config.backend])
        if state["owner"] != owner:
            state["owner"], state["shapes"] = owner, []
        state["shapes"].append((config.batch_size, config.seq_len))
        graphs = compile_graphs(state["shapes"])[-1]
        return calls + (cal.figure("compile_graph_s").value if graphs else 0.0)
    host = cal.prepare_host_s.get((config.backend, config.model))
    if host is None:
        stored = [v for (b, _), v in cal.prepare_host_s.items() if b == config.backend]
        host = float(np.median(stored)) if stored else {
            "torchscript": cal.figure("torchscript_s").value, "cudagraph": cal.figure("cudagraph_s").value,
        }.get(config.backend, cal.figure("prepare_host_s").value)
    if config.backend == "onnxruntime" and (config.model, config.dtype) not in state["exported"]:
        state["exported"].add((config.model, config.dtype))
        if not _onnx_cached(config):
            host += cal.figure("export_s").value
    return calls + host


# --- planning and running a sweep in tiers (what `ftax sweep --plan | --budget-s` calls) ---------------

def _costs(grids: Sequence[Grid], results_dir, calibration_dir) -> tuple[Calibration, dict]:
    """The cost model of the grids' device type from the records in `calibration_dir` and `results_dir`, and this
    machine's fingerprint."""
    device = grids[0].configs()[0].device if grids else "cpu"
    env = fingerprint()
    frame = results.load([p for p in dict.fromkeys((str(calibration_dir), str(results_dir)))])
    return calibrate(frame, device, env["machine_id"]), env


def plan_sweep(grids: Sequence[Grid], results_dir, rounds: int, budget_s: float = DEFAULT_BUDGET_S,
               calibration_dir="results", decompose_all: bool = False, seed: int = 0) -> SweepPlan:
    """The plan of sweeping `grids` into `results_dir`: what is stored there already is not planned again;
    costs come from the records in `calibration_dir` (and `results_dir`) of the grids' device type."""
    check_counts(rounds, budget_s)
    cal, env = _costs(grids, results_dir, calibration_dir)
    stored = results.best_records(results.store_path(results_dir, env["machine_id"]), key=results.visit_key)
    return estimate(grids, rounds, grids[0].rule, cal, budget_s, stored, decompose_all, seed)


def visits_left(grids: Sequence[Grid], results_dir, rounds: int,
                decompose_all: bool = False) -> tuple[int, int]:
    """(visits, configs) a sweep of `grids` into `results_dir` still has to make: what a rerun resumes."""
    env = fingerprint()
    configs = study_configs(grids)
    stored = results.best_records(results.store_path(results_dir, env["machine_id"]), key=results.visit_key)
    done = _done(configs, rounds, grids[0].rule.share(rounds), stored, env)
    profiled = set(configs if decompose_all else study_configs(g for g in grids if g.decompose))
    todo = [c for c in configs for r in range(rounds)
            if (c, r) not in done or (r == 0 and c in profiled and not done[(c, r)])]
    return len(todo), len(set(todo))


@measure_lock.holding  # across every tier, so no other process measures between them
def run_tiers(grids: Sequence[Grid], results_dir, rounds: int, options, budget_s: float = DEFAULT_BUDGET_S,
              calibration_dir="results", progress: bool = True, log=print, clock=None, measure=None,
              **sweep_args) -> sweep.SweepSummary:
    """Measure `grids` in priority tiers with `budget_s` as the deadline of the whole run (its planning included).

    Each tier is planned on the time left (`estimate`: whole, or cut inside in priority order, and the run's first
    tier at least to its first shape) and swept once (`measure`, default `studies.measure_grids`), with the deadline
    passed down (`sweep.run_sweep`: no visit starts past it, every finished one is stored). A tier that finishes
    early gives its time to what follows, its own cut shapes first; no tier starts while an earlier one has visits
    left. Returns the sweeps' summaries as one, `unmeasured` being every visit the deadline left (a rerun resumes
    them). `clock` (default `time.monotonic`, the clock `isolate`'s children read) is for tests."""
    check_counts(rounds, budget_s)
    clock, measure = clock or time.monotonic, measure or studies.measure_grids
    deadline = clock() + budget_s
    cal, env = _costs(grids, results_dir, calibration_dir)
    path = results.store_path(results_dir, env["machine_id"])
    configs = study_configs(grids)
    to_make = visits_left(grids, results_dir, rounds, options.decompose)[0]
    total = sweep.SweepSummary(path=path, total=len(configs) * rounds, skipped=len(configs) * rounds - to_make)
    started, named = False, tiers(grids)
    for index, (name, tier_grids) in enumerate(named):
        label = f"tier {index + 1}/{len(named)} {name or '-'}"
        while (left_s := deadline - clock()) > 0:
            stored = results.best_records(path, key=results.visit_key)
            tier_plan = estimate(tier_grids, rounds, grids[0].rule, cal, left_s, stored, options.decompose,
                                 sweep_args.get("seed", 0), imported=started, at_least_one=not started)
            if not tier_plan.tiers[0][2] or not tier_plan.kept[0]:
                break
            cut = tier_plan.cut_at is not None
            log(f"ftax: {label}: {len(tier_plan.kept_configs())} configs{', cut by the time left' if cut else ''}, "
                f"estimated {tier_plan.kept_s:.0f} s ({left_s:.0f} s of the {budget_s:g} s budget left)")
            summary = measure(tier_plan.kept[0], results_dir, rounds, options, progress=progress, deadline=deadline,
                              clock=clock, **sweep_args)
            log(f"ftax: {label}: {summary}")
            started = True
            total.counts, total.wall_s = total.counts + summary.counts, total.wall_s + summary.wall_s
            if not cut or not sum(summary.counts.values()):
                break
        if visits_left(tier_grids, results_dir, rounds, options.decompose)[0]:
            break
    total.unmeasured, configs_left = visits_left(grids, results_dir, rounds, options.decompose)
    if total.unmeasured:
        log(f"ftax: the {budget_s:g} s deadline left {total.unmeasured} visits of {configs_left} configs unmeasured; "
            "a rerun resumes them")
    return total
