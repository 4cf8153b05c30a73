"""The bottom-up model of the host time: counts x unit costs per config, and its agreement with a measured host time.

A probe (`benchmarks/unit_costs.py`, stored in `results/unit-costs/<machine_id>.jsonl`) holds, per config, the counts
of one eager forward (`ftax.measure.host_counts`) and the prices of its units (`ftax.measure.unit_costs`). Each
method below turns them into an estimate of the host time and rests on one assumption; `agreement` sets each
estimate beside the ledger's host time (its rows with part `host`, interval over rounds) and, where a method misses
the target, shows the assumption that fails rather than dropping the method:

- `bottom-up`: module calls x an empty module call + torch calls x a tiny torch call + each (op, shapes) x its meta
  replay. Assumes the three layers add without overlap and that a meta replay costs what the op's host work costs
  on the CPU.
- `bottom-up, host ops`: the same with only the aten ops whose self time the CPU profiler counts as host (views,
  reshapes, composites); the compute ops' own dispatch falls inside the ledger's kernel time.
- `bottom-up, CPU replay`: as `bottom-up, host ops`, each of those ops priced by its replay on the forward's own
  CPU tensors instead of meta: the op's real host path, but a composite (`linear`) brings its children's kernels.
- `calls only`: module calls and torch calls alone, each torch call at a tiny one's price: assumes the ops below a
  torch call add no host work beyond the one dispatch that price includes.
- `meta forward`: the whole forward on meta (its first variant that ran), the framework with no math.

What no method counts is pure-Python work (mask preparation, keyword handling, output objects): host time minus an
estimate is `unexplained_ms`, with the host time's interval. Nothing here measures or writes.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ftax.read.text import sig
from ftax.store import jsonl
from ftax.store.errors import SelectionError

KIND = "unit-costs"
FORMAT = 1
TARGET = 0.25  # the model's target: within 25% of the measured host time (reported, never asserted)
CONFIG = ["model", "dtype", "batch_size", "seq_len"]
# probes stored a config's dtype by torch's name; the ledger, like every record, by ftax's (`ftax.run.backends.DTYPES`)
_FTAX_DTYPE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
LEDGER_COLUMNS = ("model", "backend", "dtype", "batch_size", "seq_len", "part", "estimate_ms", "low_ms", "high_ms")
METHODS: dict[str, str] = {
    "bottom-up": "module calls, torch calls and aten ops add without overlap, and a meta replay costs what the op's "
                 "host work costs on the CPU",
    "bottom-up, host ops": "as bottom-up, and the compute ops' dispatch lies inside the profiler's busy time",
    "bottom-up, CPU replay": "as bottom-up, host ops, and a host op's CPU replay is host work (a composite's replay "
                             "adds its children's kernels)",
    "calls only": "the aten ops below a torch call add no host work beyond the one dispatch a tiny torch call has",
    "meta forward": "the forward on meta runs the CPU forward's Python, modules and dispatch, and nothing more",
}


def stored(results_dir: str | Path) -> list[dict]:
    """Every stored probe of every machine, oldest first."""
    runs = [r for r in jsonl.iter_side(results_dir, KIND) if r.get("format") == FORMAT]
    return sorted(runs, key=lambda r: r.get("timestamp", ""))


def _price(cost: dict) -> float:
    return float(cost["median_ms"]) if cost.get("median_ms") is not None else math.nan


def _config_row(run: dict, units: dict[str, float], config: dict) -> dict:
    counts = config["counts"]
    ops = counts["ops"]
    aten = [op["count"] * _price(op["meta"]) for op in ops]
    on_cpu = [op["count"] * _price(op.get("cpu") or {}) for op in ops]
    forward = next((c for c in config["meta_forward"] if c.get("median_ms") is not None), None)
    first_error = next((c["error"] for c in config["meta_forward"] if c.get("error")), None)
    row = {"timestamp": run["timestamp"], "machine_id": run["machine_id"],
           "machine_label": run.get("machine_label", run["machine_id"]),
           **{k: config[k] for k in CONFIG}, "dtype": _FTAX_DTYPE.get(config["dtype"], config["dtype"]),
           "module_calls": counts["module_calls"],
           "torch_calls": counts["torch_calls"], "aten_ops": counts["aten_ops"], "distinct_ops": len(ops),
           "unpriced_ops": sum(op["count"] for op, ms in zip(ops, aten) if math.isnan(ms)),
           "python_meta_ops": sum(op["count"] for op in ops if (op["meta"].get("python_calls") or 0) > 1),
           "module_ms": counts["module_calls"] * units["module_call"],
           "torch_ms": counts["torch_calls"] * units["torch_call"],
           "aten_ms": sum(ms for ms in aten if not math.isnan(ms)),
           "aten_host_ms": sum(ms for op, ms in zip(ops, aten) if not math.isnan(ms) and not op["busy"]),
           "aten_cpu_host_ms": sum(ms for op, ms in zip(ops, on_cpu) if not math.isnan(ms) and not op["busy"]),
           "meta_forward_ms": _price(forward) if forward else math.nan,
           "meta_forward_variant": forward["name"] if forward else None, "meta_forward_error": first_error,
           "python_frames_cpu": config.get("python_calls_cpu"),
           "python_frames_meta": forward.get("python_calls") if forward else None}
    row["bottom-up"] = row["module_ms"] + row["torch_ms"] + row["aten_ms"]
    row["bottom-up, host ops"] = row["module_ms"] + row["torch_ms"] + row["aten_host_ms"]
    row["bottom-up, CPU replay"] = row["module_ms"] + row["torch_ms"] + row["aten_cpu_host_ms"]
    row["calls only"] = row["module_ms"] + row["torch_ms"]
    row["meta forward"] = row["meta_forward_ms"]
    return row


def model_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per probe and config: the counts, each term's ms (count x price), each method's estimate (a column
    named by the method), the calls with no price (`unpriced_ops`) and those whose meta replay ran Python, and the
    Python frames one forward enters on the CPU and on meta (the meta kernels written in Python are the difference)."""
    rows = []
    for run in runs:
        units = {u["name"]: _price(u) for u in run["units"]}
        rows += [_config_row(run, units, config) for config in run["configs"]]
    return pd.DataFrame(rows)


def drift(runs: list[dict]) -> pd.DataFrame:
    """How far each price moved from the first probe of a machine to its last: the two micro units and each config's
    aten term, with the minutes between the probes and the change (last / first - 1)."""
    rows = []
    for machine, group in pd.DataFrame({"run": runs, "machine_id": [r["machine_id"] for r in runs]}).groupby(
            "machine_id"):
        first, last = group["run"].iloc[0], group["run"].iloc[-1]
        minutes = (pd.Timestamp(last["timestamp"]) - pd.Timestamp(first["timestamp"])).total_seconds() / 60
        pairs = [(u, _price(u), _price(v)) for u, v in zip(first["units"], last["units"])]
        both = model_frame([first]).merge(model_frame([last]), on=CONFIG, suffixes=("_first", "_last"))
        for _, r in both.iterrows():
            pairs.append(({"name": f"aten ops of {r['model']} b{r['batch_size']} s{r['seq_len']}"},
                          r["aten_ms_first"], r["aten_ms_last"]))
        rows += [{"machine_id": machine, "unit": u["name"], "first_ms": x, "last_ms": y, "minutes_apart": minutes,
                  "probes": len(group), "change": y / x - 1 if x else math.nan} for u, x, y in pairs]
    return pd.DataFrame(rows)


def check_ledger(frame: pd.DataFrame) -> pd.DataFrame:
    """The ledger's host rows, or a one-line error naming the columns a ledger frame lacks."""
    missing = [c for c in LEDGER_COLUMNS if c not in frame.columns]
    if missing:
        raise SelectionError(f"a ledger frame needs columns {', '.join(missing)}; it has {', '.join(frame.columns)}")
    return frame[frame["part"] == "host"]


def _verdict(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "no estimate"
    if 1 - TARGET <= low and high <= 1 + TARGET:
        return f"within {TARGET:.0%}"
    if high < 1 - TARGET or low > 1 + TARGET:
        return f"outside {TARGET:.0%}"
    return "undecided"


def agreement(models: pd.DataFrame, ledger_rows: pd.DataFrame, backend: str = "eager") -> pd.DataFrame:
    """Each method's estimate (the newest probe of each config) beside the ledger's host time of `backend`: the ratio
    estimate / host with its 95% interval (estimate / high, estimate / low: the host time's interval over rounds,
    the estimate held fixed), what is left unexplained (host - estimate, with the same interval), a verdict against
    the target (`within 25%`, `outside 25%`, `undecided` when the interval straddles a bound, `no estimate`) and,
    where a method is outside it or has no estimate, the assumption that fails or the reason it has none."""
    host = check_ledger(ledger_rows)
    host = host[host["backend"] == backend].dropna(subset=["batch_size", "seq_len"])
    if "phase" in host.columns:  # a decoder's decode step is not the forward a probe counts
        host = host[host["phase"].fillna("forward") == "forward"]
    host = host.copy()
    keys = CONFIG + (["machine_id"] if "machine_id" in host.columns else [])  # never a probe of another machine
    newest = models.sort_values("timestamp").drop_duplicates(keys, keep="last").copy()
    for key in ("batch_size", "seq_len"):
        host[key], newest[key] = host[key].astype(int), newest[key].astype(int)
    joined = newest.merge(host[keys + ["estimate_ms", "low_ms", "high_ms"]], on=keys, how="inner")
    rows = []
    for _, r in joined.iterrows():
        for method, assumption in METHODS.items():
            est = float(r[method])
            ratio_low = est / r["high_ms"] if r["high_ms"] > 0 else math.nan
            ratio_high = est / r["low_ms"] if r["low_ms"] > 0 else math.inf
            verdict = _verdict(ratio_low, ratio_high)
            failing = assumption if verdict.startswith("outside") else ""
            if verdict == "no estimate":
                failing = (r["meta_forward_error"] if method == "meta forward" else None) or "no price"
            rows.append({**{k: r[k] for k in CONFIG}, "machine_id": r["machine_id"],
                         "machine_label": r["machine_label"], "backend": backend,
                         "method": method, "estimate_ms": est, "host_ms": r["estimate_ms"],
                         "host_low_ms": r["low_ms"], "host_high_ms": r["high_ms"],
                         "ratio": est / r["estimate_ms"] if r["estimate_ms"] > 0 else math.nan,
                         "ratio_low": ratio_low, "ratio_high": ratio_high,
                         "unexplained_ms": r["estimate_ms"] - est, "unexplained_low_ms": r["low_ms"] - est,
                         "unexplained_high_ms": r["high_ms"] - est, "verdict": verdict,
                         "direction": "over" if est > r["estimate_ms"] else "under", "failing_assumption": failing})
    return pd.DataFrame(rows)


def sentences(agree: pd.DataFrame) -> list[str]:
    """One verdict per agreement row, on its machine: the method's estimate over the host time with the interval,
    the verdict, and the assumption that fails where the method misses the target or has no estimate."""
    out = []
    for _, r in agree.iterrows():
        config = f"{r['model']} batch {r['batch_size']} seq {r['seq_len']}"
        if r["verdict"] == "no estimate":
            out.append(f"On {r['machine_label']}, {r['method']} gives no estimate for {config}: "
                       f"{r['failing_assumption']}.")
            continue
        line = (f"On {r['machine_label']}, {r['method']} for {config} is {sig(r['ratio'])}x "
                f"[{sig(r['ratio_low'])}, {sig(r['ratio_high'])}] the {r['backend']} host time "
                f"({sig(r['estimate_ms'])} ms against {sig(r['host_ms'])} ms): {r['verdict']}")
        out.append(line + (f"; it assumes {r['failing_assumption']}." if r["failing_assumption"] else "."))
    return out


def report(results_dir: str | Path, ledger_csv: str | Path | None = None) -> str:
    """What `benchmarks/unit_costs.py --show` prints: each probe's model terms, the prices' drift, and with a ledger
    CSV (`ftax ledger --csv`), each method's agreement with the eager host time."""
    runs = stored(results_dir)
    if not runs:
        return f"no unit-cost probes stored under {Path(results_dir) / KIND}"
    models = model_frame(runs)
    shown = CONFIG + ["timestamp", "module_calls", "torch_calls", "aten_ops", "unpriced_ops", "python_meta_ops",
                      "python_frames_cpu", "python_frames_meta", *METHODS, "meta_forward_error"]
    parts = ["Bottom-up model per probe (ms):", models[shown].to_string(index=False),
             "\nDrift between the first and last probe:", drift(runs).to_string(index=False)]
    if ledger_csv:
        agree = agreement(models, pd.read_csv(ledger_csv))
        parts += ["\nAgreement with the ledger's eager host time:", agree.to_string(index=False), "",
                  *sentences(agree)]
    return "\n".join(parts)
