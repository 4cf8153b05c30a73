"""The cost model's figures for one device type, fitted to stored records (`calibrate`).

What a visit costs is priced by `visit_costs`; this module reads the records a sweep stored and inverts those same
formulas (`timing_s`, `compile_graphs`, `PREPARE_CALLS`) to say what each figure was on this device type: latency
curves, build and prepare seconds, the compile graph's seconds, how far past the stop rule's floor sampling went,
and the fixed costs per visit fitted to the wall time between stored blocks. A figure no record gives stays a
labelled default, so a plan made on a machine with no records of the device type still says where each number
came from.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from ftax.store import dataframe
from ftax.sweep.grids import Grid
from ftax.sweep.profiles import RULES
from ftax.store.env import fingerprint
from ftax.measure.timing import StopRule
from ftax.plan.visit_costs import COMPILE_BACKENDS, PREPARE_CALLS, Calibration, Figure, compile_graphs, timing_s


def parse_rule(name: str | None) -> StopRule | None:
    """The stop rule a stored visit ran under, from its name (`quick/3` -> quick shared by 3)."""
    base, _, visits = (name or "").partition("/")
    if base not in RULES:
        return None
    return RULES[base].share(int(visits)) if visits.isdigit() else RULES[base]


def _device_type(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def calibrate(frame: pd.DataFrame, device: str, machine_id: str | None = None) -> Calibration:
    """The cost model for `device` from a visits frame (`dataframe.load(...)`): records of
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
    detail = ok["backend_detail"].astype(str)
    exported, packaged = detail.str.startswith("exported"), (ok["backend"] == "aot-inductor") & detail.str.startswith(
        "compiled")
    plain = ~ok["backend"].isin(list(COMPILE_BACKENDS)) & ~exported & ~packaged
    cal.prepare_host_s = host[plain].groupby([ok["backend"][plain], ok["model"][plain]]).median().to_dict()
    if exported.any():
        cal.figures["export_s"] = Figure(float(host[exported].median()), f"{src}: prepare of exporting visits")
    if packaged.any():
        loaded = host[(ok["backend"] == "aot-inductor") & ~packaged]
        extra = (host[packaged] - (float(loaded.median()) if len(loaded) else 0.0)).clip(lower=0)
        cal.package_s = extra.groupby(ok["model"][packaged]).mean().to_dict()  # a package grows with its model
        cal.figures["aoti_package_s"] = Figure(float(extra.mean()), f"{src}: prepare of visits "
                                               f"that compiled their package less a cached one's, "
                                               f"{int(packaged.sum())} visits")
    cal.figures.update(_compile_costs(ok, host, src))
    shares = _sampling_share(ok)
    if shares is not None:
        cal.figures["sampling_share"] = Figure(shares[0], f"{src}: (sampling time - floor) / (limit - floor), summed "
                                               f"over {shares[1]} visits")
    cal.figures.update(_fixed_costs(ok, rows, cal, src))
    return cal


def calibration_for(grids: Sequence[Grid], results_dir, calibration_dir) -> tuple[Calibration, dict]:
    """The cost model of the grids' device type from the records in `calibration_dir` and `results_dir`, and this
    machine's fingerprint."""
    device = grids[0].configs()[0].device if grids else "cpu"
    env = fingerprint()
    frame = dataframe.load([p for p in dict.fromkeys((str(calibration_dir), str(results_dir)))])
    return calibrate(frame, device, env["machine_id"]), env


def _compile_costs(ok: pd.DataFrame, host: pd.Series, src: str) -> dict[str, Figure]:
    """torch.compile's seconds per graph, cold (the first visit of its config in the records: Inductor generates
    and compiles its code) and warm (a later visit: Dynamo traces again and Inductor loads the code from its cache
    on disk), fitted by non-negative least squares to the compile visits' prepare seconds besides their calls,
    the graphs of each predicted as the planner does (`compile_graphs`, Dynamo reset on a new model or mode)."""
    cold, warm, seconds = [], [], []
    part = ok[ok["backend"].isin(list(COMPILE_BACKENDS))]
    seen: set = set()
    for _, group in part.groupby(["machine_id", "rule", "round", "model", "dtype", "overrides", "phase"], sort=False):
        mode, shapes = None, []
        for i, backend, batch, seq in zip(group.index, group["backend"], group["batch_size"], group["seq_len"]):
            if backend != mode:
                mode, shapes = backend, []
            shapes.append((batch, seq))
            graph = float(compile_graphs(shapes)[-1])
            key = tuple(group.loc[i, ["machine_id", "model", "dtype", "overrides", "phase", "backend", "batch_size",
                                      "seq_len"]])
            cold.append(graph * (key not in seen))
            warm.append(graph * (key in seen))
            seen.add(key)
            seconds.append(float(host[i]))
    if not sum(cold) or not sum(warm):
        graphs = sum(cold) + sum(warm)
        return {"compile_graph_s": Figure(sum(seconds) / graphs, f"{src}: compile prepare / graphs predicted")} \
            if graphs else {}
    coef, _ = nnls(np.array([cold, warm]).T, np.array(seconds))
    why = (f"{src}: fitted to {len(seconds)} compile visits' prepare, {int(sum(cold))} cold and {int(sum(warm))} "
           "warm graphs")
    return {"compile_graph_s": Figure(float(coef[0]), why), "compile_warm_s": Figure(float(coef[1]), why)}


def _sampling_share(ok: pd.DataFrame) -> tuple[float, int] | None:
    """(share, visits): how far past the stop rule's floor sampling went, as a share of the way to its time limit,
    the ratio of the sums over the records (the share that makes the planned sampling seconds add up to the stored
    ones; a median of per-visit shares would miss the few visits that run to the limit)."""
    past, room = [], []
    for rule, t, spent in zip(ok["rule"].map(parse_rule), ok["median_ms"] / 1e3, ok["total_time_s"]):
        if rule is None or spent != spent:
            continue
        floor, limit = max(rule.min_time_s, rule.min_iters * t), max(rule.max_time_s, rule.min_iters * t)
        if limit > floor:
            past.append(spent - floor)
            room.append(limit - floor)
    return (max(float(sum(past) / sum(room)), 0.0), len(past)) if room else None


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
        # Stored timestamps are whole seconds: a gap of 0 is a block shorter than a second, kept, or the blocks
        # that took under a second would be dropped and the rest fitted as though every block took one or more.
        if previous_end is not None and 0 <= end - previous_end < 120 and len(live):
            modeled, calls = 0.0, 0.0
            for r in live.itertuples():
                rule = parse_rule(r.rule) or RULES["quick"]
                modeled += r.prepare_s + timing_s(rule, r.median_ms / 1e3, spent_s=r.total_time_s)
                calls += r.median_ms / 1e3
            if start == 0 or group[start] != group[start - 1]:
                modeled += float(live["model_build_s"].iloc[0])
            round0 = float(live["round"].iloc[0] == 0)
            decomposed = float(live["decomposition_method"].notna().any()) if "decomposition_method" in live else 0.0
            opens = float(start > 0 and group[start][:2] != group[start - 1][:2])  # a new round: the probes first
            step = float((live["phase"] != "forward").any())  # a decoder's step: its KV cache set up around it
            blocks.append(end - previous_end - modeled)
            feats.append([len(live), round0 * len(live), round0 * calls, decomposed * len(live), decomposed * calls,
                          opens, step * len(live), step * calls])
        previous_end = end
    if len(blocks) < 8:
        return {}
    coef, _ = nnls(np.array(feats), np.array(blocks))
    names = ("visit_s", "round0_s", "round0_calls", "decompose_s", "decompose_calls", "round_s", "step_s",
             "step_calls")
    why = f"{src}: fitted to {len(blocks)} blocks' wall time"
    return {n: Figure(float(c), why) for n, c in zip(names, coef)}
