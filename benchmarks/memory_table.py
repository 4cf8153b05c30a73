"""Memory per inference (ftax.measure.memory) for bert-tiny and bert-base, three runtimes, batch 1, 8 and 64, and
what measuring it costs the latency.

1. The table: each (model, runtime, batch) measured once, as a sweep's round 0 does (`ftax.run.runner`), with the
   weights the runtime holds against 4 bytes x the parameter count, and the peak resident memory above the
   baseline taken before the runtime's first forward. Energy says why it is unavailable here, or its joules.
2. The overhead: bert-tiny at batch 1, eager, measured in `--pairs` pairs, each pair one visit with memory and
   energy and one without, back to back in alternating order; reported: the ratio of their medians (with, over
   without) per pair, its median and a t-interval on the log ratios. Memory and energy are taken outside the
   timed loop, so the ratio should be 1 within noise.

Usage, on an idle machine: python benchmarks/memory_table.py [--seq-len 32] [--pairs 8] [--rule smoke|quick]
    [--no-table] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import torch
from scipy import stats

from ftax.run import models
from ftax.sweep.profiles import RULES
from ftax.store.schema import MeasureConfig
from ftax.run.runner import MeasureOptions, measure_config


def table(seq: int, options: MeasureOptions) -> list[dict]:
    rows = []
    for model in ("bert-tiny", "bert-base"):
        spec = models.get_spec(model)
        params = sum(p.numel() for p in models.build_validated(spec, {}, torch.float32, "cpu").module.parameters())
        for backend in ("eager", "torchscript", "onnxruntime"):
            for batch in (1, 8, 64):
                record = measure_config(MeasureConfig(model, backend, "fp32", "cpu", batch, seq), options)
                mem, energy = record.memory or {}, record.energy or {}
                rows.append({"model": model, "backend": backend, "batch": batch, "status": record.status,
                             "median_ms": (record.stats or {}).get("median_ms"),
                             "weights_bytes": mem.get("weights_bytes"), "params_x4": 4 * params,
                             "peak_bytes": mem.get("peak_bytes"), "method": mem.get("method"),
                             "energy": energy.get("status"), "energy_reason": energy.get("reason")})
                print(f"{model:9s} {backend:11s} bs={batch:<3d} weights {mem.get('weights_bytes', 0) / 2**20:7.1f} MiB "
                      f"(4 x params {4 * params / 2**20:7.1f} MiB)  peak {(mem.get('peak_bytes') or 0) / 2**20:7.1f} MiB "
                      f"[{mem.get('method')}]  energy: {energy.get('status')}", file=sys.stderr)
    return rows


def overhead(pairs: int, options: MeasureOptions) -> dict:
    config = MeasureConfig("bert-tiny", "eager", "fp32", "cpu", 1, 16)
    ratios = []
    for i in range(pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        medians = {}
        for with_resources in order:
            record = measure_config(config, MeasureOptions(rule=options.rule, threads=options.threads,
                                                           count_flops=False, resources=with_resources))
            medians[with_resources] = record.stats["median_ms"]
        ratios.append(medians[True] / medians[False])
    logs = np.log(ratios)
    half = stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs))
    return {"pairs": pairs, "ratios": ratios, "median_ratio": float(np.median(ratios)),
            "ratio": float(math.exp(logs.mean())), "low": float(math.exp(logs.mean() - half)),
            "high": float(math.exp(logs.mean() + half))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--rule", choices=sorted(RULES), default="smoke", help="stop rule of every visit")
    parser.add_argument("--no-table", action="store_true", help="only the overhead pairs")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    options = MeasureOptions(rule=RULES[args.rule], count_flops=False)
    rows = [] if args.no_table else table(args.seq_len, options)
    cost = overhead(args.pairs, options)
    print(f"overhead: with/without memory+energy, bert-tiny bs1: {cost['ratio']:.3f} "
          f"[{cost['low']:.3f}, {cost['high']:.3f}] over {cost['pairs']} pairs", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"table": rows, "overhead": cost}, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
