"""What AOTInductor's kernel profiling costs a timed call: the same package compiled with and without it, A/B.

A package compiled with `cpp.enable_kernel_profile` lets the profiler see AOTInductor's kernels
(`ftax.run.backends.package_aoti`); every kernel then opens a RecordFunction. Whether that is small next to a
forward of a few hundred microseconds is measured here, not assumed (it is not, so the ledger times a package
without it and profiles one with it): one package of each kind for one config, timed in alternating order round
by round with ftax's own timing (`ftax.measure.timing.measure`), and the ratio with/without paired by round with
its 95% t-interval (`ftax.read.intervals.t_interval` on the logs). One JSON line per run goes to
`results/aoti-profile-cost/<machine_id>.jsonl`.

    python benchmarks/aoti_profile_cost.py [--model bert-tiny] [--batch-size 1] [--seq-len 16] [--rounds 7]

About two minutes on 2 cores for bert-tiny (two packages compiled, then the rounds); run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ftax.measure.timing import StopRule, measure
from ftax.read.intervals import t_interval
from ftax.run import backends, models
from ftax.store import env

RULE = StopRule(name="quick")


def _runner(built, inputs: tuple, cache: Path, profiled: bool):
    """An AOTInductor package of `built` compiled with kernel profiling on or off, loaded."""
    import torch._inductor as inductor

    path = backends.aoti_path(built, "fp32", inputs, cache, kernel_profile=profiled)
    backends.package_aoti(built, inputs, path, kernel_profile=profiled)  # the packaging step the ledger uses
    return inductor.aoti_load_package(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert-tiny")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("results") / "aoti-profile-cost")
    args = parser.parse_args()

    built = models.build(args.model)
    inputs = built.inputs(args.batch_size, args.seq_len)
    with tempfile.TemporaryDirectory() as tmp:
        runners = {on: _runner(built, inputs, Path(tmp), on) for on in (True, False)}
        medians: dict[bool, list[float]] = {True: [], False: []}
        with torch.inference_mode():
            for r in range(args.rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    call = runners[on]
                    medians[on].append(measure(lambda c=call: c(*inputs), RULE).stats.median_ms)
    ratios = np.array(medians[True]) / np.array(medians[False])
    point, low, high = t_interval(ratios, log=True)
    fp = env.fingerprint()
    mid = fp["machine_id"]
    record = {"format": 1, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime()), "machine_id": mid,
              "env": fp, "model": args.model, "batch_size": args.batch_size, "seq_len": args.seq_len,
              "rule": RULE.name, "rounds": args.rounds, "profiled_ms": medians[True], "plain_ms": medians[False],
              "ratio": point, "low": low, "high": high}
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{mid}.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(f"{args.model} b{args.batch_size} s{args.seq_len}: with kernel profiling / without = {point:.3f} "
          f"[{low:.3f}, {high:.3f}] over {args.rounds} rounds (paired); medians with "
          f"{np.median(medians[True]):.3f} ms, without {np.median(medians[False]):.3f} ms")


if __name__ == "__main__":
    main()
