"""Probe this machine's unit costs and count the host work of the encoder models' eager forwards.

One probe: the module-call and torch-call prices (`ftax.measure.unit_costs.micro_costs`), then for each config
(model:seq at each batch) the counts of one forward under inference mode (`ftax.measure.host_counts.count_host`),
each distinct (aten op, shapes) replayed on meta and on the CPU and priced (`unit_costs.replay_costs`), and the
forward timed on meta (`unit_costs.meta_forward`: with the model's inputs, and for a text model without its attention
mask too, since transformers asks the mask's data whether it can be skipped). One JSON line per probe is appended to
`<results-dir>/unit-costs/<machine_id>.jsonl` with the machine's fingerprint (`ftax.store.env`); the bottom-up
model (`ftax.read.bottom_up`) reads them back. With `--repeat-after-s S` a second probe follows S seconds after the
first ends, so the store holds how far the prices move between the two.

The models are those of the `ledger` study at batch 1, built with random weights by `ftax.run.models`. It holds the
machine's measuring lock (`ftax.measure.measure_lock`) while probing, never while waiting between probes, so a sweep
can run in the gap.

Usage, on an idle machine:
    python benchmarks/unit_costs.py [--results-dir results] [--configs bert-tiny:16,...] [--batch-sizes 1]
        [--repeat-after-s 600]
    python benchmarks/unit_costs.py --show [--results-dir results] [--ledger-csv ledger.csv]
    python benchmarks/unit_costs.py --counts-only [--configs ...] [--batch-sizes 1,2,4,8]
"""
from __future__ import annotations

import argparse
import time

import torch

from ftax.measure import unit_costs
from ftax.measure.host_counts import count_host
from ftax.measure.measure_lock import measuring
from ftax.read import bottom_up
from ftax.run.models import build
from ftax.store import env, jsonl

DEFAULT_CONFIGS = "bert-tiny:16,bert-tiny:128,bert-mini:16,bert-mini:128,bert-base:32,distilbert:128"


def parse_configs(text: str) -> list[tuple[str, int]]:
    """`model:seq,model:seq` as (model, seq) pairs."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        model, _, seq = item.partition(":")
        if not seq.isdigit():
            raise SystemExit(f"--configs: {item!r} is not model:seq (e.g. bert-tiny:16)")
        pairs.append((model, int(seq)))
    return pairs


def probe_config(model: str, batch_size: int, seq_len: int) -> dict:
    """One config's counts, its ops' meta prices and its meta forward, as stored."""
    built = build(model)
    inputs = built.inputs(batch_size, seq_len)
    counts = count_host(built.module, inputs)
    names = [o.op for o in counts.ops]
    on_meta = unit_costs.replay_costs(counts.replays, names)
    on_cpu = unit_costs.replay_costs(counts.cpu_replays, names)
    data = counts.to_dict()
    for op, meta, cpu in zip(data["ops"], on_meta, on_cpu):
        op["meta"], op["cpu"] = meta.to_dict(), cpu.to_dict()
    with torch.inference_mode():
        cpu_frames = unit_costs.python_calls(lambda: built.module(*inputs))
    variants = [("inputs", inputs)] + ([("without attention mask", inputs[:1])] if len(inputs) > 1 else [])
    forward = unit_costs.meta_forward(built.module, variants)
    return {"model": model, "batch_size": batch_size, "seq_len": seq_len, "dtype": "fp32",
            "phase": "forward", "counts": data, "python_calls_cpu": cpu_frames,
            "meta_forward": [c.to_dict() for c in forward]}


def print_counts(configs: list[tuple[str, int]], batch_sizes: list[int]) -> None:
    """The counts of each config's forward, printed and not stored (seconds: one forward each, no pricing)."""
    for model, seq_len in configs:
        built = build(model)
        for batch_size in batch_sizes:
            inputs = built.inputs(batch_size, seq_len)
            counts = count_host(built.module, inputs)
            busy = sum(o.count for o in counts.ops if o.busy)
            print(f"{model} b{batch_size} s{seq_len}: {counts.module_calls} module calls, {counts.torch_calls} "
                  f"torch calls, {counts.aten_ops} aten ops ({len(counts.ops)} distinct, {busy} busy); most called: "
                  + ", ".join(f"{name} {n}" for name, n in counts.torch_call_names[:5]))


def probe(configs: list[tuple[str, int]], batch_sizes: list[int], results_dir: str) -> dict:
    """One probe of every config, appended to the store; returns the stored line."""
    with measuring():
        torch.set_num_threads(env.default_threads())
        start = time.time()
        micro = unit_costs.micro_costs()
        rows = []
        for model, seq_len in configs:
            for batch_size in batch_sizes:
                rows.append(probe_config(model, batch_size, seq_len))
                print(f"  {model} b{batch_size} s{seq_len}: {rows[-1]['counts']['aten_ops']} aten ops, "
                      f"{len(rows[-1]['counts']['ops'])} distinct ({time.time() - start:.0f} s)", flush=True)
        fingerprint = env.fingerprint()
        data = {"format": bottom_up.FORMAT, "machine_id": fingerprint["machine_id"],
                "machine_label": env.machine_label(fingerprint, "cpu"), "env": fingerprint,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seconds": time.time() - start,
                "calls_per_sample": unit_costs.CALLS_PER_SAMPLE, "rule": unit_costs.UNIT_RULE.name,
                "units": [c.to_dict() for c in micro], "configs": rows}
        path = jsonl.append_side(results_dir, bottom_up.KIND, data["machine_id"], data)
    print(f"stored in {path} ({data['seconds']:.0f} s)")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="model:seq,... (default: %(default)s)")
    parser.add_argument("--batch-sizes", default="1", help="comma-separated (default: 1)")
    parser.add_argument("--repeat-after-s", type=float, default=None,
                        help="take a second probe this many seconds after the first")
    parser.add_argument("--show", action="store_true",
                        help="print the stored probes' model and drift; measure nothing")
    parser.add_argument("--counts-only", action="store_true", help="print each config's counts; price nothing")
    parser.add_argument("--ledger-csv", default=None, help="with --show: a ledger CSV (`ftax ledger --csv`) to agree with")
    args = parser.parse_args()
    configs, batches = parse_configs(args.configs), [int(b) for b in args.batch_sizes.split(",")]
    if args.counts_only:
        print_counts(configs, batches)
        return
    if not args.show:
        probe(configs, batches, args.results_dir)
        if args.repeat_after_s is not None:
            print(f"waiting {args.repeat_after_s:.0f} s for the second probe", flush=True)
            time.sleep(args.repeat_after_s)
            probe(configs, batches, args.results_dir)
    print(bottom_up.report(args.results_dir, args.ledger_csv))


if __name__ == "__main__":
    main()
