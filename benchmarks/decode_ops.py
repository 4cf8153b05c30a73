"""The decode step's work and per-op profile, what page 09's roofline section reads, into results/decode-ops/.

For each decoder (gpt2, llama-small), fp32, cache `--seq-len` (128) and batch 1, 4 and 16, one record per phase:

- decode: the step's bytes read and each GEMM's FLOPs (`ftax.measure.step_work`, counted on one step over a filled
  cache), and torch.profiler's per-op view of `--steps` eager steps (`ftax.measure.op_profile`: by op, and by op
  and input shape, per step). The same step module, cache and inputs as a decode record's eager visit
  (`ftax.run.decoding`).
- prefill: the prompt pass's work counts only (no profile): what the prefill's compute roof is read against.

With `--probe` (the default) it first takes a throughput probe with the read ladder (`ftax.study.probe_store`),
stored in results/probes/, so the roofline's read rate is measured on the machine and day of the profiles.

Usage, on an idle machine (nothing else measuring):
    python benchmarks/decode_ops.py [--out results] [--models gpt2,llama-small] [--batch-sizes 1,4,16]
        [--seq-len 128] [--steps 10] [--no-probe]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone

import torch

from ftax.measure import measure_lock
from ftax.measure.op_profile import DECODE_OPS, profile_ops
from ftax.measure.step_work import step_work
from ftax.run import decoding, models
from ftax.store import jsonl, resume
from ftax.store.env import default_threads, fingerprint
from ftax.study.probe_store import ensure_probe

TOP = 40  # ops kept per record, slowest self time first: the rest of a step's ops are listed by count only


def _record(model: str, batch: int, seq: int, phase: str, work, env: dict, profiled=None, steps: int = 0) -> dict:
    ms, by_op, by_shape = profiled or (None, [], [])
    return {"model": model, "dtype": "fp32", "device": "cpu", "batch_size": batch, "seq_len": seq, "phase": phase,
            "work": work.to_dict(), "profiled_ms": ms, "steps": steps,
            "ops": [asdict(o) for o in by_op[:TOP]], "shapes": [asdict(o) for o in by_shape[:TOP]],
            "op_count": len(by_op), "threads": torch.get_num_threads(), "machine_id": env["machine_id"],
            "software": list(resume.software(env)), "env": env,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}


@measure_lock.holding
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    parser.add_argument("--models", default="gpt2,llama-small")
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-probe", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(default_threads())
    start = time.perf_counter()
    if not args.no_probe:
        ensure_probe(args.out, "cpu", "fp32", max_age_s=0.0)
        print(f"probe: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    env = fingerprint()
    seq = args.seq_len
    for name in args.models.split(","):
        lm = models.build_validated(models.get_spec(name), {}, torch.float32, "cpu", causal_lm=True)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            step = decoding.step_model(lm, batch, seq, "decode")
            decoding.fill_cache(lambda *a: step.module(*a), step, batch, seq, prompt_pass=True)
            inputs = decoding.step_inputs(step, batch, seq, "decode")
            work = step_work(step.module, inputs)
            profiled = profile_ops(lambda: step.module(*inputs), args.steps)
            jsonl.append_side(args.out, DECODE_OPS, env["machine_id"],
                              _record(name, batch, seq, "decode", work, env, profiled, args.steps))
            prompt = decoding.step_model(lm, batch, seq, "prefill")
            work = step_work(prompt.module, decoding.step_inputs(prompt, batch, seq, "prefill"))
            jsonl.append_side(args.out, DECODE_OPS, env["machine_id"], _record(name, batch, seq, "prefill", work, env))
            print(f"{name} batch {batch}: profiled step {profiled[0]:.1f} ms; top ops "
                  + ", ".join(f"{o.op} {o.self_ms:.1f}" for o in profiled[1][:4])
                  + f" ({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
