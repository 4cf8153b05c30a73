"""A config's ledger: its wall time split into kernels and host per runtime, and the ladder's paired steps.

The tax of a config, as DESIGN.md states it: for each runtime, the wall time split into time inside kernels (the
profiler's busy time of the visit that was profiled, `ftax.measure.decompose`) and time outside them (host = the
wall time of each round minus that busy time); and for each step of the ladder of runtimes timed together (eager ->
TorchScript -> AOTInductor; eager -> torch.compile -> AOTInductor for a decoder's steps, which TorchScript cannot
run), the wall time the step saves, paired by round (`ftax.read.ratios.paired_rounds`), split the same way, so that
a step's wall difference = its kernel difference + its host difference, row by row.

A sweep profiles its first round only unless asked for more (`ftax sweep --decompose-rounds N`,
`ftax.sweep.rounds.for_round`), so a kernel part has an interval only where two or more rounds were profiled (the
`note` says so); a host part is the wall time of each round minus the config's busy time (the median over its
profiled rounds), so its interval is the wall time's spread over rounds, and kernels + host = wall exactly.

ONNX Runtime on a CPU is split by its own profiler (`ftax.measure.ort_profile`): its per-node bookkeeping lands
inside the node spans (for bert-tiny their sum exceeded the whole unprofiled run), which the kernels row's lower
bound (busy minus what profiling added) covers. A runtime no profiler saw (records stored before that, an
AOTInductor package compiled without kernel profiling) has no split: its rows say why and bound it.

Read layer: pure functions over the visits of `ftax.store.dataframe.load`; they never measure and never write.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ftax.measure.profiler_blind import blind_reason
from ftax.read.estimates import newest_series, ok_visits, series_identity
from ftax.read.intervals import t_interval, t_intervals
from ftax.read.ratios import paired_rounds
from ftax.read.rows import BUSY_METHODS, numbers
from ftax.read.text import sig
from ftax.store.errors import SelectionError

KEY_COLUMNS = ("model", "backend", "dtype", "batch_size", "seq_len", "phase", "machine_id")
# After the parts' own columns: what else tells two configs apart (a width x depth variant, another device).
# `bound_low_ms`/`bound_high_ms` (kernels rows only): how far the profiler's known biases can move the kernel part,
# whatever the rounds say: down by the profiler's own cost (its callbacks land in a compute op's self time, so busy
# time may overstate the kernels by up to what profiling added to the call), up by the self time of the ops not
# counted as compute (the most kernel time the op list can have missed).
LEDGER_COLUMNS = (*KEY_COLUMNS, "part", "estimate_ms", "low_ms", "high_ms", "method", "rounds", "note", "device",
                  "overrides", "bound_low_ms", "bound_high_ms")
RUNTIME_NAMES = {"eager": "eager", "torchscript": "TorchScript", "compile": "torch.compile",
                 "aot-inductor": "AOTInductor", "onnxruntime": "ONNX Runtime", "cudagraph": "CUDA graphs"}


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: from one runtime to the next, and what the step removes and what it changes."""

    source: str
    target: str
    removes: str
    changes: str

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"


ENCODER_LADDER = (
    Step("eager", "torchscript",
         removes="Python: the module calls and the torch calls, replaced by the TorchScript interpreter's graph",
         changes="freezing pre-transposes the weights and concatenates linears that share an input (Q, K and V "
                 "become one matrix product)"),
    Step("torchscript", "aot-inductor",
         removes="the interpreter and the dispatcher between ops: generated C++ calls each kernel directly",
         changes="Inductor fuses pointwise and normalization ops into kernels of its own; matrix products stay "
                 "library calls"),
)
DECODER_LADDER = (
    Step("eager", "compile",
         removes="Python between ops: one guarded graph per step",
         changes="Inductor fuses pointwise and normalization ops into kernels of its own"),
    Step("compile", "aot-inductor",
         removes="the guards and Python wrapper of torch.compile: generated C++ runs the whole step",
         changes="both run kernels Inductor generated, but AOTInductor lowers an exported graph under its own "
                 "options, so its kernels can differ: the step's kernel part says by how much"),
)
# A forward runs the encoder's ladder; a decoder's prefill and decode steps the decoder's.
LADDERS = {"forward": ENCODER_LADDER, "prefill": DECODER_LADDER, "decode": DECODER_LADDER}
ONE_ROUND = ("profiled in one round: no interval on the kernel part (`ftax sweep --decompose-rounds N` profiles N "
             "rounds)")
# torch.compile is not compiled with kernel profiling (only AOTInductor's packages are), so on a CPU its fused kernels
# have no profiler event: only its extern kernels (matrix products, attention) count as busy.
UNSEEN_FUSED = ("torch.compile's fused C++ kernels emit no profiler event on a CPU: its kernel part is a lower bound "
                "and its host part an upper bound")
# Two runtimes of one shape are timed together in a sweep's block (seconds apart); visits of "the same round" more
# than this far apart were stored by different sweeps (a config resumed from another study's records).
TOGETHER_MINUTES = 5.0


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(LEDGER_COLUMNS))


def _row(key: dict, part: str, point: float, low: float, high: float, method: str, rounds: int,
         note: str = "", bounds: tuple[float, float] = (math.nan, math.nan)) -> dict:
    return {**{c: key.get(c) for c in KEY_COLUMNS}, "part": part, "estimate_ms": point, "low_ms": low,
            "high_ms": high, "method": method, "rounds": rounds, "note": note, "device": key.get("device"),
            "overrides": key.get("overrides"), "bound_low_ms": bounds[0], "bound_high_ms": bounds[1]}


def _interval(values: np.ndarray | pd.Series, point: float | None = None, log: bool = False
              ) -> tuple[float, float, float]:
    """(point, low, high): the t-interval on values (on logs with `log`, for a time that is always positive; on the
    values for a difference or a host part, which may be negative), widened to contain `point` when given; NaN
    bounds for fewer than two values."""
    median, low, high = t_interval(list(values), log=log)
    point = median if point is None else point
    if not (math.isfinite(low) and math.isfinite(high)):
        return point, math.nan, math.nan
    return point, min(low, point), max(high, point)


@dataclass(frozen=True)
class _Busy:
    """A config's profiled busy time: its median over the profiled visits, their values by round, and why not."""

    busy_ms: float
    by_round: dict
    method: str
    unseen_ms: float
    reason: str
    inflation_ms: float = math.nan  # what profiling added to a call: profiled wall - the paired unprofiled wall


def _busy(config: pd.DataFrame) -> _Busy:
    """The busy time of one config's visits, from those whose profile saw its kernels (`blind_reason`)."""
    method = config.get("decomposition_method", pd.Series(None, index=config.index)).astype(object)
    busy, host = numbers(config, "decomposition_busy_ms"), numbers(config, "decomposition_host_ms")
    backend, device = config["backend"].iloc[0], config["device"].iloc[0]
    seen = busy.notna() & method.isin(list(BUSY_METHODS)) & np.array(
        [blind_reason(backend, device, str(m)) is None for m in method], dtype=bool)
    if not seen.any():
        message = config.get("decomposition_message", pd.Series("", index=config.index))
        said = [str(m) for m in message[method.notna()] if isinstance(m, str) and m]
        stored = [str(m) for m in method.dropna()]
        reason = (blind_reason(backend, device, stored[-1]) if stored and blind_reason(backend, device, stored[-1])
                  else said[-1] if said else "no profiled visit stored: measure it with decompose on (`ftax sweep "
                  "--study ledger`, or `ftax measure --decompose`)")
        return _Busy(math.nan, {}, "", math.nan, reason)
    by_round = busy[seen].groupby(config.loc[seen, "_round"]).median().to_dict()
    # The aten ops that are not counted as compute (views, wrappers, allocation) ran for this long in their own
    # code: the most kernel time the op list can have missed.
    unseen = float(np.nanmedian((host - busy)[seen])) if host[seen].notna().any() else math.nan
    added = numbers(config, "decomposition_profiled_wall_ms") - numbers(config, "decomposition_wall_ms")
    inflation = max(float(np.nanmedian(added[seen])), 0.0) if added[seen].notna().any() else math.nan
    return _Busy(float(np.median(list(by_round.values()))), by_round, str(method[seen].iloc[-1]), unseen, "",
                 inflation)


def _runtime_rows(key: dict, walls: pd.Series, busy: _Busy) -> list[dict]:
    """The wall, kernels and host rows of one config, from its per-round walls and its busy time."""
    fit = t_intervals(walls, np.zeros(len(walls), int)).iloc[0]
    k = len(walls)
    rows = [_row(key, "wall", fit["point"], fit["low"] if k > 1 else math.nan, fit["high"] if k > 1 else math.nan,
                 "median of round medians, between-round t-interval on logs", k,
                 "" if k > 1 else "one round: no interval")]
    if not math.isfinite(busy.busy_ms):
        bound = f"kernels and host each lie between 0 and the wall time ({sig(fit['point'])} ms)"
        return rows + [_row(key, part, math.nan, math.nan, math.nan, "not split", k, f"{busy.reason}; {bound}")
                       for part in ("kernels", "host")]
    label = BUSY_METHODS[busy.method].label
    profiled = len(busy.by_round)
    by_round = pd.Series(busy.by_round, dtype=float)
    k_point, k_low, k_high = _interval(by_round, busy.busy_ms, log=bool((by_round > 0).all()))
    missed = (f"the op list may miss up to {sig(busy.unseen_ms)} ms of kernel time (self time of the aten ops "
              f"not counted as compute)" if math.isfinite(busy.unseen_ms) and busy.unseen_ms > 0 else "")
    overstated = (f"profiling made the call {sig(busy.inflation_ms)} ms slower, so the busy time may overstate the "
                  f"kernels by up to that" if math.isfinite(busy.inflation_ms) and busy.inflation_ms > 0 else "")
    fused = (UNSEEN_FUSED if str(key.get("backend", "")).startswith("compile") and busy.method == "cpu-compute-ops"
             else "")
    bounds = (max(k_point - busy.inflation_ms, 0.0) if math.isfinite(busy.inflation_ms) else math.nan,
              fit["point"] if fused else k_point + busy.unseen_ms if math.isfinite(busy.unseen_ms) else math.nan)
    rows.append(_row(key, "kernels", k_point, k_low, k_high, f"profiler busy time: {label}", profiled,
                     "; ".join(n for n in (fused, ONE_ROUND if profiled < 2 else "", missed, overstated) if n),
                     bounds))
    h_point, h_low, h_high = _interval(walls - busy.busy_ms)
    rows.append(_row(key, "host", h_point, h_low, h_high,
                     "wall per round - profiled busy time, between-round t-interval", k,
                     "" if k > 1 else "one round: no interval"))
    return rows


def _apart_minutes(sides: pd.DataFrame, key: dict) -> float:
    """The longest time between the two runtimes' visits of one round, in minutes, for the pair `key` names."""
    if "timestamp" not in sides:
        return math.nan
    mask = np.ones(len(sides), dtype=bool)
    for column, value in key.items():
        if column in sides and column != "backend":
            mask &= (sides[column].isna() if not isinstance(value, str) and pd.isna(value)
                     else sides[column] == value).to_numpy()
    part = sides[mask]
    stamps = pd.to_datetime(part["timestamp"], utc=True, errors="coerce")
    per_round = stamps.groupby([part["_round"], part["backend"]]).median().unstack("backend").dropna()
    if per_round.shape[1] != 2 or per_round.empty:
        return math.nan
    return float((per_round.iloc[:, 0] - per_round.iloc[:, 1]).abs().max().total_seconds() / 60)


def _step_rows(key: dict, step: Step, saved: pd.Series, source: _Busy, target: _Busy, apart_min: float) -> list[dict]:
    """A step's paired wall saving and its kernel and host parts (kernel + host = wall, row by row)."""
    k = len(saved)
    point, low, high = _interval(saved)
    what = f"removes {step.removes}; changes: {step.changes}"
    if math.isfinite(apart_min) and apart_min > TOGETHER_MINUTES:
        what = (f"not timed together: the two runtimes' visits of a round are up to {sig(apart_min)} minutes apart "
                f"(stored by different sweeps), so the pairing does not cancel the machine's drift; {what}")
    rows = [_row(key, step.name, point, low, high, f"paired by round: {step.source} wall - {step.target} wall, "
                 "t-interval on the differences", k, what if k > 1 else f"one round: no interval; {what}")]
    kernel_diff = source.busy_ms - target.busy_ms
    if not math.isfinite(kernel_diff):
        why = source.reason or target.reason
        return rows + [_row(key, f"{step.name}:{part}", math.nan, math.nan, math.nan, "not split", k, why)
                       for part in ("kernels", "host")]
    both = sorted(set(source.by_round) & set(target.by_round))
    k_point, k_low, k_high = _interval(pd.Series([source.by_round[r] - target.by_round[r] for r in both]),
                                       kernel_diff)
    rows.append(_row(key, f"{step.name}:kernels", k_point, k_low, k_high, "difference of the profiled busy times",
                     len(both), ONE_ROUND if len(both) < 2 else ""))
    h_point, h_low, h_high = _interval(saved - kernel_diff)
    rows.append(_row(key, f"{step.name}:host", h_point, h_low, h_high,
                     "paired wall difference per round - kernel difference", k, "" if k > 1 else "one round"))
    return rows


def ledger(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per config and part (`LEDGER_COLUMNS`) from the visits of `ftax.store.dataframe.load`.

    Parts: `wall`, `kernels` and `host` for each runtime (`backend` names it), and for each ladder step whose two
    runtimes were timed together (`LADDERS`) one row named `<from>-><to>` (its `backend` is the step's target),
    the wall time the step saves, paired by round, with its `:kernels` and `:host` parts. `method` says how a part
    was computed, `rounds` from how many rounds, `note` what it lacks (no interval, what the profiler cannot see).
    Intervals are 95% between-round t-intervals (`ftax.read.intervals`); NaN where one round was taken.
    """
    visits = ok_visits(frame, "ledger")
    if visits.empty:
        return _empty()
    visits = newest_series(visits)
    keys = series_identity(visits)
    rows: list[dict] = []
    walls: dict[tuple, pd.Series] = {}
    busy: dict[tuple, _Busy] = {}
    for config_key, config in visits.groupby(keys, dropna=False, sort=True):
        key = dict(zip(keys, config_key))
        walls[config_key] = config.groupby("_round")["median_ms"].median()
        busy[config_key] = _busy(config)
        rows += _runtime_rows(key, walls[config_key], busy[config_key])
    rows += _ladder(frame, visits, keys, busy)
    out = pd.DataFrame(rows, columns=list(LEDGER_COLUMNS))
    return out.reset_index(drop=True)


def _ladder(frame: pd.DataFrame, visits: pd.DataFrame, keys: list[str], busy: dict[tuple, _Busy]) -> list[dict]:
    """The rows of every ladder step whose two runtimes share rounds."""
    rows = []
    kept = frame.loc[frame.index.isin(visits.index)]
    for phase, ladder in LADDERS.items():
        for step in ladder:
            sides = kept[(kept["phase"] == phase) & kept["backend"].isin([step.source, step.target])]
            if sides.empty or set(sides["backend"]) != {step.source, step.target}:
                continue
            pairs = paired_rounds(sides, "backend", step.source)
            timed = ok_visits(sides, "ledger")
            group = [c for c in keys if c != "backend" and c in pairs]
            for pair_key, pair in pairs.groupby(group, dropna=False, sort=True):
                key = {**dict(zip(group, pair_key)), "backend": step.target}
                config = tuple(key.get(c) for c in keys)
                source = tuple(step.source if c == "backend" else key.get(c) for c in keys)
                saved = (pair["baseline_ms"] - pair["other_ms"]).reset_index(drop=True)
                rows += _step_rows(key, step, saved, _lookup(busy, source), _lookup(busy, config),
                                   _apart_minutes(timed, key))
    return rows


def _lookup(busy: dict[tuple, _Busy], key: tuple) -> _Busy:
    """A config's busy time by its series key (NaN-safe: a missing version is None on one side, NaN on the other)."""
    def norm(values: tuple) -> tuple:
        return tuple(None if not isinstance(v, str) and pd.isna(v) else v for v in values)
    wanted = norm(key)
    for found, value in busy.items():
        if norm(found) == wanted:
            return value
    return _Busy(math.nan, {}, "", math.nan, "no profiled visit stored")


def _span(row: pd.Series | None, sign: float = 1.0) -> str:
    """'2.1 [1.9, 2.3] ms' (times `sign`), 'n/a' without a row, and no interval where the row has none."""
    if row is None or not math.isfinite(row["estimate_ms"]):
        return "n/a"
    point, low, high = (sign * row[c] for c in ("estimate_ms", "low_ms", "high_ms"))
    if not (math.isfinite(low) and math.isfinite(high)):
        once = "profiled in one round" if str(row["part"]).endswith("kernels") else "one round"
        return f"{sig(point)} ms (no interval: {once})"
    return f"{sig(point)} [{sig(min(low, high))}, {sig(max(low, high))}] ms"


def _saving(name: str, row: pd.Series | None, source: str) -> str:
    if row is None:
        return f"{name} was not timed with {RUNTIME_NAMES.get(source, source)}"
    if math.isfinite(row["estimate_ms"]) and row["estimate_ms"] < 0:
        return f"{name} costs {_span(row, -1.0)} more"
    return f"{name} saves {_span(row)}"


def answer(rows: pd.DataFrame, model: str, batch_size: int, seq_len: int | None = None,
           machine_id: str | None = None, dtype: str = "fp32", label: str | None = None) -> str:
    """The ledger's answer for one config, from `ledger` rows: "eager spends X [lo, hi] ms in kernels and Y outside
    them; TorchScript saves A, AOTInductor saves B, of which C comes from faster kernels." (a decoder's: torch.compile
    for TorchScript), on the named machine. A and B are the ladder's two steps (B is the second step's saving, C
    that step's kernel difference, with a caveat where either side's host part is not told from zero), for the
    registry's model (no overrides) in `dtype`. `seq_len` defaults to the
    shortest stored, `machine_id` to the only machine;
    raises SelectionError (one line) when the rows hold no such config or several machines."""
    mine = rows[(rows["model"] == model) & (rows["batch_size"] == batch_size) & (rows["dtype"] == dtype)
                & (rows["overrides"].fillna("{}") == "{}")] if len(rows) else rows
    if mine.empty:
        stored = ", ".join(sorted(map(str, rows["model"].unique()))) if len(rows) else "none"
        raise SelectionError(f"the ledger has no rows for {model} at batch {batch_size} (models stored: {stored})")
    machines = sorted(mine["machine_id"].dropna().unique())
    if machine_id is None and len(machines) > 1:
        raise SelectionError(f"{model}'s ledger holds {len(machines)} machines ({', '.join(machines)}): name one")
    machine = machine_id if machine_id is not None else (machines[0] if machines else "this machine")
    mine = mine[mine["machine_id"] == machine] if machines else mine
    if mine.empty:
        raise SelectionError(f"the ledger has no rows for {model} at batch {batch_size} on {machine}")
    seq = seq_len if seq_len is not None else int(mine["seq_len"].min())
    mine = mine[mine["seq_len"] == seq]
    phases = list(mine["phase"].unique())
    phase = "forward" if "forward" in phases else (sorted(phases)[0] if phases else "forward")
    mine = mine[mine["phase"] == phase]

    def part(backend: str, name: str) -> pd.Series | None:
        found = mine[(mine["backend"] == backend) & (mine["part"] == name)]
        return found.iloc[0] if len(found) else None

    first, second = LADDERS.get(phase, ENCODER_LADDER)
    kernels, host = part("eager", "kernels"), part("eager", "host")
    step, faster = part(second.target, second.name), part(second.target, f"{second.name}:kernels")
    of_which = ""
    if step is not None and faster is not None and math.isfinite(faster["estimate_ms"]):
        saves, quicker = step["estimate_ms"] >= 0, faster["estimate_ms"] >= 0
        straddles = faster["low_ms"] < 0 < faster["high_ms"]  # NaN bounds (one profiled round) compare False
        of_which = (f", with a kernel part of {_span(faster)} that its interval does not tell from zero" if straddles
                    else f", of which {_span(faster)} comes from faster kernels" if saves and quicker else
                    f", although its kernels take {_span(faster, -1.0)} longer" if saves else
                    f", although its kernels are {_span(faster)} faster" if quicker else
                    f", of which {_span(faster, -1.0)} comes from slower kernels")
        # a side whose host part is not told from zero has its split decided by what profiling added to its call,
        # so the kernel difference may hold the two profilers' costs (an interval, not a point, so a re-run agrees)
        unresolved = [RUNTIME_NAMES.get(b, b) for b in (second.source, second.target)
                      if (h := part(b, "host")) is not None
                      and (h["low_ms"] if math.isfinite(h["low_ms"]) else h["estimate_ms"]) <= 0]
        if unresolved and not straddles:
            parts = "part of" if len(unresolved) == 1 else "parts of"
            verb = "is" if len(unresolved) == 1 else "are"
            of_which += (f" (a difference of profiled busy times; the host {parts} {' and '.join(unresolved)} {verb} "
                         f"not told from zero, so the profiler's own cost may be in it)")
    where = f"On {label or machine}, {model} at batch {batch_size} and sequence {seq}" + (
        f" ({phase} step)" if phase != "forward" else "")
    return (f"{where}: eager spends {_span(kernels)} in kernels and {_span(host)} outside them; "
            f"{_saving(RUNTIME_NAMES[first.target], part(first.target, first.name), first.source)}, "
            f"{_saving(RUNTIME_NAMES[second.target], part(second.target, second.name), second.source)}{of_which}.")
