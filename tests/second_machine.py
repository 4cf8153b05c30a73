"""A synthetic second machine for tests: a machine's stored records rewritten as another's, latencies scaled.

What a contributed records file looks like to the book, with a known answer: every latency of the source
records multiplied by `factor`, everything else (rounds, rules, software, counts, shares) kept, so any ratio a
page computes between the two machines must come out at `factor`.
"""
from __future__ import annotations

import json
from pathlib import Path

from ftax.store.schema import MeasureConfig, config_key

# The record fields that hold a latency in milliseconds (a duration of one timed call or part of it), by section.
STATS_MS = ("median_ms", "mean_ms", "ci_low_ms", "ci_high_ms", "iqr_ms", "std_ms", "p90_ms", "p99_ms")
DECOMPOSITION_MS = ("busy_ms", "host_ms", "overhead_ms", "wall_ms", "profiled_wall_ms")
PER_TOKEN_MS = ("ms", "ci_low_ms", "ci_high_ms")
SETUP_MS = ("first_call_ms", "first_timed_call_ms")


def _scaled(value, factor: float):
    return value * factor if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _scale_section(section: dict | None, keys: tuple[str, ...], factor: float) -> dict | None:
    if not section:
        return section
    return {k: (_scaled(v, factor) if k in keys else v) for k, v in section.items()}


def as_second_machine(record: dict, factor: float, machine_id: str, cpu_model: str,
                      gpu_name: str | None = None) -> dict:
    """One stored record (a dict) as measured on another machine whose every latency is `factor` times."""
    env = {**(record.get("env") or {}), "machine_id": machine_id, "cpu_model": cpu_model, "gpu_name": gpu_name,
           "hostname": f"{machine_id}-host"}
    out = {**record, "machine_id": machine_id, "env": env,
           "config_key": config_key(MeasureConfig.from_dict(record["config"]), machine_id)}
    out["samples_ms"] = [s * factor for s in record.get("samples_ms") or []]
    out["pipelined_ms"] = _scaled(record.get("pipelined_ms"), factor)
    out["stats"] = _scale_section(record.get("stats"), STATS_MS, factor)
    out["decomposition"] = _scale_section(record.get("decomposition"), DECOMPOSITION_MS, factor)
    out["setup"] = _scale_section(record.get("setup"), SETUP_MS, factor)
    per_token = _scale_section(record.get("per_token"), PER_TOKEN_MS, factor)
    if per_token and isinstance(per_token.get("tokens_per_s"), (int, float)):
        per_token["tokens_per_s"] = per_token["tokens_per_s"] / factor
    out["per_token"] = per_token
    return out


def write_second_machine(source: Path, out_dir: Path, factor: float, machine_id: str = "synthetic-cpu-2c-000000",
                         cpu_model: str = "Synthetic CPU", gpu_name: str | None = None) -> Path:
    """`source`'s records rewritten by `as_second_machine` into `<out_dir>/<machine_id>.jsonl`; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{machine_id}.jsonl"
    lines = [json.dumps(as_second_machine(json.loads(line), factor, machine_id, cpu_model, gpu_name), sort_keys=True)
             for line in source.read_text().splitlines() if line.strip()]
    path.write_text("\n".join(lines) + "\n")
    return path
