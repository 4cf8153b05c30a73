"""How fine should a sweep interleave the configs it compares? Three granularities, measured.

Two prepared callables that a page compares (default: bert-tiny eager and torchscript at batch 1,
sequence 16, CPU) are timed in `--rounds` rounds under three schemes:
- `visits`: one adaptive ftax measurement of each, back to back (what `ftax sweep` does in a round,
  with the quick profile's time split over 3 rounds);
- `blocks`: alternating blocks of about `--block-ms` of one callable, the first call of each block
  dropped (it pays for the other callable having evicted the caches);
- `calls`: alternating call by call.
Each scheme gives, per round, the two medians and their ratio. Reported: the between-round CV of the
ratio (what a paired speedup's interval is made of: smaller is better) and each callable's median
relative to warm back-to-back measurement (`visits`; a scheme that moves the absolute latency
measures something else than a user's steady state). Interleaving that is finer than needed costs
absolute accuracy; coarser costs ratio precision.

Usage, on an idle machine: python benchmarks/interleave_granularity.py [--rounds 8] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import numpy as np
import torch

from ftax.run import backends, models
from ftax.measure.devices import sync_for
from ftax.sweep.profiles import RULES
from ftax.measure.timing import measure, timed_call


def prepared(model: models.BuiltModel, backend: str, batch: int, seq: int):
    inputs = model.inputs(batch, seq)
    return backends.prepare(backend, model, inputs).call


def alternate(fns, block_s: float | None, budget_s: float, sync) -> list[float]:
    """Medians (ms) of each callable, alternating blocks of `block_s` (None: call by call) for `budget_s` in all."""
    samples = [[] for _ in fns]
    spent = 0.0
    while spent < budget_s:
        for i, fn in enumerate(fns):
            if block_s is None:
                t = timed_call(fn, sync)
                samples[i].append(t)
                spent += t
                continue
            timed_call(fn, sync)  # the first call of a block is dropped
            block = 0.0
            while block < block_s:
                t = timed_call(fn, sync)
                samples[i].append(t)
                block += t
            spent += block
    return [statistics.median(s) * 1e3 for s in samples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--backends", default="eager,torchscript")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block-ms", type=float, default=30.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = models.build(args.model)
    names = args.backends.split(",")
    with torch.inference_mode():
        fns = [prepared(model, name, args.batch_size, args.seq_len) for name in names]
        sync = sync_for("cpu")
        rule = RULES["quick"].share(3)
        budget = 2 * rule.max_time_s
        rows = []
        for round_ in range(args.rounds):
            order = fns if round_ % 2 == 0 else fns[::-1]
            first = [measure(fn, rule, sync=sync).stats.median_ms for fn in order]
            visits = first if round_ % 2 == 0 else first[::-1]
            schemes = {"visits": visits, "blocks": alternate(fns, args.block_ms / 1e3, budget, sync),
                       "calls": alternate(fns, None, budget, sync)}
            rows += [{"round": round_, "scheme": s, **{n: m for n, m in zip(names, ms)}} for s, ms in schemes.items()]
            print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)

    report = {}
    base = {n: statistics.median(r[n] for r in rows if r["scheme"] == "visits") for n in names}
    for scheme in ("visits", "blocks", "calls"):
        part = [r for r in rows if r["scheme"] == scheme]
        ratios = np.array([r[names[0]] / r[names[1]] for r in part])
        report[scheme] = {"ratio_median": float(np.median(ratios)), "ratio_cv": float(ratios.std(ddof=1) / ratios.mean()),
                          **{f"{n}_vs_visits": statistics.median(r[n] for r in part) / base[n] for n in names}}
    print(f"{args.model} bs{args.batch_size} seq{args.seq_len}, {names[0]}/{names[1]}, {args.rounds} rounds")
    for scheme, r in report.items():
        shifts = ", ".join(f"{n} {r[f'{n}_vs_visits']:.2f}x" for n in names)
        print(f"{scheme:7s} ratio {r['ratio_median']:.3f}, between-round CV {r['ratio_cv']:.1%}; "
              f"median vs warm visits: {shifts}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "report": report}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
