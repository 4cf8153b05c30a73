"""How much does ftax's own timing loop cost, and does it agree with torch.utils.benchmark?

(a) Harness overhead on an empty callable:
    - inside the timed window: ftax's median sample of `lambda: None` (clock read, call, sync);
    - per iteration overall: the sampling loop's total time / iterations (adds the stopping
      checks and the clock read between samples), for a fixed-n run and a default adaptive run;
    - for reference, a bare `perf_counter(); fn(); perf_counter()` loop of the same length.
(b) Agreement with the paper's tool: on bert-tiny eager, bs1, seq16, CPU (prepared by
    ftax.backends.prepare), ftax's per-call median and pipelined time vs
    `torch.utils.benchmark.Timer(...).blocked_autorange()`'s median, in alternating rounds so
    that drift on a shared machine affects both alike. Timer runs with torch's current thread
    count (its default would be 1 thread).

    python benchmarks/harness_overhead.py [--iters 20000] [--rounds 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.utils.benchmark as tbench

from ftax import backends, models
from ftax.env import fingerprint
from ftax.timing import StopRule, measure


def _empty() -> None:
    return None


def bare_loop_ns(fn, iters: int) -> tuple[float, float]:
    """(median in-window ns, total loop ns / iters) of the simplest possible timing loop."""
    clock = time.perf_counter
    samples = [0.0] * iters
    start = clock()
    for i in range(iters):
        t0 = clock()
        fn()
        samples[i] = clock() - t0
    total = clock() - start
    return statistics.median(samples) * 1e9, total / iters * 1e9


def harness_overhead(iters: int) -> dict:
    fixed = StopRule(warmup_iters=100, warmup_time_s=0.0, min_iters=iters, max_iters=iters, min_time_s=0.0,
                     max_time_s=3600.0)
    timing_fixed = measure(_empty, fixed)
    timing_adaptive = measure(_empty, StopRule())
    bare_median_ns, bare_per_iter_ns = bare_loop_ns(_empty, iters)
    return {
        "iters": timing_fixed.stats.n,
        "ftax_median_ns": timing_fixed.stats.median_ms * 1e6,
        "ftax_loop_per_iter_ns": timing_fixed.total_time_s / timing_fixed.stats.n * 1e9,
        "ftax_adaptive_iters": timing_adaptive.stats.n,
        "ftax_adaptive_stop_reason": timing_adaptive.stop_reason,
        "ftax_adaptive_median_ns": timing_adaptive.stats.median_ms * 1e6,
        "ftax_adaptive_loop_per_iter_ns": timing_adaptive.total_time_s / timing_adaptive.stats.n * 1e9,
        "bare_median_ns": bare_median_ns,
        "bare_loop_per_iter_ns": bare_per_iter_ns,
    }


def versus_torch_benchmark(rounds: int, min_run_time_s: float) -> dict:
    model = models.build("bert-tiny")
    inputs = model.inputs(1, 16)
    prepared = backends.prepare("eager", model, inputs)
    threads = torch.get_num_threads()
    rule = StopRule(min_time_s=min_run_time_s, max_time_s=max(5.0, 2 * min_run_time_s))
    timer = tbench.Timer(stmt="call()", globals={"call": prepared.call}, num_threads=threads,
                         label="bert-tiny eager bs1 seq16 cpu")
    rows = []
    for _ in range(rounds):
        with torch.inference_mode():
            timing = measure(prepared.call, rule)
            blocked = timer.blocked_autorange(min_run_time=min_run_time_s)
        rows.append({"ftax_median_ms": timing.stats.median_ms, "ftax_pipelined_ms": timing.pipelined_ms,
                     "ftax_n": timing.stats.n, "ftax_stop_reason": timing.stop_reason,
                     "torch_median_ms": blocked.median * 1e3, "torch_iqr_ms": blocked.iqr * 1e3,
                     "torch_blocks": len(blocked.times), "torch_calls": blocked.number_per_run * len(blocked.times)})
    ftax_ms = statistics.median(r["ftax_median_ms"] for r in rows)
    pipelined_ms = statistics.median(r["ftax_pipelined_ms"] for r in rows)
    torch_ms = statistics.median(r["torch_median_ms"] for r in rows)
    return {"threads": threads, "rounds": rows, "ftax_median_ms": ftax_ms, "ftax_pipelined_ms": pipelined_ms,
            "torch_median_ms": torch_ms, "ratio_ftax_over_torch": ftax_ms / torch_ms,
            "ratio_pipelined_over_torch": pipelined_ms / torch_ms}


def _table(overhead: dict, versus: dict) -> str:
    lines = [f"(a) harness overhead on an empty callable ({overhead['iters']} iterations)",
             f"    {'':38} {'median in window':>18} {'loop time / iter':>18}",
             f"    {'ftax measure, fixed n':38} {overhead['ftax_median_ns']:>15.0f} ns "
             f"{overhead['ftax_loop_per_iter_ns']:>15.0f} ns",
             f"    {'ftax measure, default StopRule':38} {overhead['ftax_adaptive_median_ns']:>15.0f} ns "
             f"{overhead['ftax_adaptive_loop_per_iter_ns']:>15.0f} ns"
             f"   (n={overhead['ftax_adaptive_iters']}, stop: {overhead['ftax_adaptive_stop_reason']})",
             f"    {'bare perf_counter loop':38} {overhead['bare_median_ns']:>15.0f} ns "
             f"{overhead['bare_loop_per_iter_ns']:>15.0f} ns",
             "",
             f"(b) bert-tiny eager bs1 seq16 on CPU, {versus['threads']} threads, {len(versus['rounds'])} alternating rounds",
             f"    {'round':>5} {'ftax median':>12} {'ftax pipelined':>15} {'Timer median':>13} {'ftax n':>7} {'Timer calls':>12}"]
    for i, r in enumerate(versus["rounds"], start=1):
        lines.append(f"    {i:>5} {r['ftax_median_ms']:>9.4f} ms {r['ftax_pipelined_ms']:>12.4f} ms "
                     f"{r['torch_median_ms']:>10.4f} ms {r['ftax_n']:>7} {r['torch_calls']:>12}")
    lines += [f"    {'median':>5} {versus['ftax_median_ms']:>9.4f} ms {versus['ftax_pipelined_ms']:>12.4f} ms "
              f"{versus['torch_median_ms']:>10.4f} ms",
              f"    ratio ftax median / Timer median     = {versus['ratio_ftax_over_torch']:.3f}",
              f"    ratio ftax pipelined / Timer median  = {versus['ratio_pipelined_over_torch']:.3f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=20_000, help="samples of the empty callable (a)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ftax/Timer rounds (b)")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per measurement in (b)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.iters < 1 or args.rounds < 1:
        parser.error("--iters and --rounds must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    overhead = harness_overhead(args.iters)
    versus = versus_torch_benchmark(args.rounds, args.min_run_time)
    env = fingerprint()
    # Other processes on the machine inflate (b) a lot with >1 thread; the load average says if there were any.
    load = {"loadavg_1min_before": load_before, "loadavg_1min_after": os.getloadavg()[0]}
    if args.json:
        print(json.dumps({"harness_overhead": overhead, "versus_torch_benchmark": versus, **load,
                          "machine_id": env["machine_id"], "torch_version": env["torch_version"]}, sort_keys=True))
    else:
        print(f"machine {env['machine_id']}  torch {env['torch_version']}  "
              f"load average {load['loadavg_1min_before']:.2f} before, {load['loadavg_1min_after']:.2f} after")
        print(_table(overhead, versus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
