"""`ftax ledger`: one config's ledger (kernels and host per runtime, the ladder's steps) printed from stored records.

The ledger is `ftax.read.ledger` over the visits stored in its own folder (`results/ledger/<machine_id>.jsonl`, where
`ftax sweep --study ledger --decompose-rounds 3 --out results/ledger` measures the ledger run); with
`--csv` every stored config's ledger is written as one CSV. Nothing is measured: where no record is stored, the
command says how to measure one (the runtimes of the ladder timed together, decomposed).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ftax.store.errors import SelectionError

LADDER_BACKENDS = "eager,torchscript,aot-inductor,onnxruntime"
DECODER_LADDER = "eager,compile,aot-inductor --phases decode"  # TorchScript cannot run a decode step
LEDGER_DIR = Path("results") / "ledger"  # the ledger run's own folder: its ladder is never paired with older visits


def _cell(value: object) -> str:
    from ftax.read.text import sig

    if isinstance(value, float):
        return "" if math.isnan(value) else sig(value)
    return str(value)


def how_to_measure(args: argparse.Namespace) -> str:
    """The sweep that stores the ledger of the config `args` names (its ladder timed together, decomposed)."""
    from ftax.run.models import get_spec

    seq = f" --seq-lens {args.seq_len}" if args.seq_len is not None else ""
    ladder = DECODER_LADDER if get_spec(args.model).decoder else LADDER_BACKENDS
    return (f"ftax sweep --models {args.model} --backends {ladder} --dtypes {args.dtype} "
            f"--batch-sizes {args.batch_size}{seq} --decompose --decompose-rounds 3 --out {args.results_dir}")


def cmd_ledger(args: argparse.Namespace) -> int:
    """Print one config's ledger as a table (and its answer sentence), or write every stored config's as CSV."""
    from ftax.read.ledger import answer, ledger
    from ftax.read.text import markdown_table
    from ftax.store.dataframe import load

    visits = load(args.results_dir)  # a folder's records (.jsonl, .jsonl.gz); none: an empty frame
    if args.csv is not None:
        rows = ledger(visits) if not visits.empty else ledger(_no_visits())
        rows.to_csv(args.csv, index=False)
        print(f"wrote the ledger of {len(rows)} parts to {args.csv}")
        return 0
    if args.model is None:
        raise SelectionError("give --model (and --backend), or --csv FILE for the ledger of every stored config")
    _check_names(args.model, args.backend)
    if not visits.empty:
        mine = ((visits["model"] == args.model) & (visits["batch_size"] == args.batch_size)
                & (visits["dtype"] == args.dtype) & (visits["overrides"] == "{}"))
        if args.seq_len is not None:
            mine &= visits["seq_len"] == args.seq_len
        visits = visits[mine]
    rows = ledger(visits) if not visits.empty else None
    shown = None if rows is None else rows[(rows["backend"] == args.backend) |
                                           rows["part"].str.startswith(f"{args.backend}->")]
    if shown is None or shown.empty:
        seq = f", sequence {args.seq_len}" if args.seq_len is not None else ""
        raise SelectionError(f"no stored ledger of {args.model} {args.backend} at batch {args.batch_size}{seq} in "
                             f"{args.results_dir}; measure it with: {how_to_measure(args)}")
    header = ["machine", "seq", "backend", "part", "estimate ms", "95% low", "95% high", "rounds", "method", "note"]
    print(markdown_table(header, [[_cell(r[c]) for c in ("machine_id", "seq_len", "backend", "part", "estimate_ms",
                                                            "low_ms", "high_ms", "rounds", "method", "note")]
                                  for _, r in shown.iterrows()]))
    if (rows["backend"] == "eager").any():
        for (machine, seq), _ in rows.groupby(["machine_id", "seq_len"], sort=True):
            print("\n" + answer(rows, args.model, args.batch_size, int(seq), machine, args.dtype))
    return 0


def _no_visits():
    import pandas as pd

    return pd.DataFrame(columns=["status", "median_ms"])


def _check_names(model: str, backend: str) -> None:
    """An unknown model or backend is a one-line error naming the allowed ones (`ftax.run`'s registries)."""
    from ftax.run import backends, models

    models.get_spec(model)
    backends.check_name(backend)


def add_ledger_parser(sub) -> None:
    p = sub.add_parser("ledger", help="print one config's ledger (kernels and host per runtime, the ladder's steps) "
                                      "from stored records")
    p.add_argument("--model", help="a registry name, e.g. bert-tiny")
    p.add_argument("--backend", default="eager", help="the runtime whose parts and steps are shown (default eager)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--seq-len", type=int, help="default: every stored sequence length")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--results-dir", type=Path, default=LEDGER_DIR,
                   help=f"where the ledger's records are (default {LEDGER_DIR}/)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write the ledger of every stored config to FILE")
    p.set_defaults(func=cmd_ledger)
