"""What does running a sweep on Ray cost, and does it measure the same latencies as a local sweep?

The same grid (default: the smoke grid of tests/test_ray_engine.py) is swept twice into fresh
directories: locally (`ftax sweep`) and with `--engine ray --per-node` on a local Ray instance
that this script starts with all of this machine's CPUs. Reported:
- wall time of each sweep, and of `ray.init` separately (a cluster pays it once, not per sweep);
- the ratio Ray / local, with and without `ray.init`;
- per config (same config key on both sides): the ratio of the Ray record's median latency to the
  local one, and whether each median lies in the other's 95% CI.

    python benchmarks/ray_overhead.py [--models bert-tiny,synthetic-layernorm] [--json]

Needs Ray (`pip install 'ftax[ray]'`). Measures live; writes only to a temporary directory.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from ftax import cli
from ftax.store import dataframe
from ftax.sweep.ray_engine import import_ray


def _sweep(argv: list[str]) -> float:
    start = time.perf_counter()
    if cli.main(argv) != 0:
        raise SystemExit(f"sweep failed: {' '.join(argv)}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="bert-tiny,synthetic-layernorm")
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--seq-lens", default="8,16")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)

    ray = import_ray()
    grid = ["sweep", "--models", args.models, "--backends", "eager", "--batch-sizes", args.batch_sizes,
            "--seq-lens", args.seq_lens, "--device", "cpu", "--profile", args.profile, "--threads", "1", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        local_dir, ray_dir = Path(tmp) / "local", Path(tmp) / "ray"
        local_s = _sweep(grid + ["--out", str(local_dir)])
        start = time.perf_counter()
        ray.init(address="local", num_cpus=os.cpu_count(), logging_level="warning", include_dashboard=False)
        init_s = time.perf_counter() - start
        try:
            ray_s = _sweep(grid + ["--engine", "ray", "--per-node", "--out", str(ray_dir)])
        finally:
            ray.shutdown()
        columns = ["config_key", "model", "batch_size", "seq_len", "median_ms", "ci_low_ms", "ci_high_ms"]
        newest = [dataframe.newest_visits(dataframe.load(d))[columns] for d in (local_dir, ray_dir)]
        pair = newest[0].merge(newest[1], on=columns[:4], suffixes=("_local", "_ray"))  # one visit each: its own CI
    pair["ratio"] = pair["median_ms_ray"] / pair["median_ms_local"]
    pair["ray_in_local_ci"] = pair["median_ms_ray"].between(pair["ci_low_ms_local"], pair["ci_high_ms_local"])
    pair["local_in_ray_ci"] = pair["median_ms_local"].between(pair["ci_low_ms_ray"], pair["ci_high_ms_ray"])
    summary = {"configs": len(pair), "local_s": local_s, "ray_init_s": init_s, "ray_s": ray_s,
               "wall_ratio": ray_s / local_s, "wall_ratio_with_init": (ray_s + init_s) / local_s,
               "median_ratio_median": float(pair["ratio"].median()),
               "median_ratio_min": float(pair["ratio"].min()), "median_ratio_max": float(pair["ratio"].max()),
               "medians_in_other_ci": int((pair["ray_in_local_ci"] | pair["local_in_ray_ci"]).sum())}
    if args.json:
        print(json.dumps(summary))
        return 0
    pd.set_option("display.width", 160)
    print(pair.drop(columns=["config_key"]).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("\n" + "\n".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
