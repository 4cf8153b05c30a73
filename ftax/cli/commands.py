"""`ftax env | measure | predict | sweep | book`, and the parser that registers every command (`compare`, `ledger` too).

Errors the user can fix print as one line on stderr with a non-zero exit, never a traceback.
Heavy modules (torch, papermill, Ray) are imported inside the commands, so `ftax --help` is quick.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path

from ftax.cli.compare import add_compare_parser
from ftax.cli.ledger import add_ledger_parser
from ftax.store.errors import EXIT_FAILED, EXIT_USAGE, FtaxError


def csv_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def int_csv_list(value: str) -> list[int]:
    try:
        return [int(item) for item in csv_list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def _overrides(values: list[str] | None) -> dict[str, int]:
    result = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise argparse.ArgumentTypeError(f"override must look like width=512, got {item!r}")
        result[key.strip()] = int(value)
    return result


def _add_stop_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stopping rule")
    group.add_argument("--min-iters", type=int)
    group.add_argument("--min-time", type=float, dest="min_time_s", help="seconds")
    group.add_argument("--max-time", type=float, dest="max_time_s", help="seconds")
    group.add_argument("--target-ci", type=float, dest="target_rel_ci",
                       help="stop when the median's 95%% CI is narrower than this fraction of it")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: a sweep fixes the "
                        "physical cores; ftax measure keeps torch's)")
    parser.add_argument("--decompose", action="store_true", help="add a profiled decomposition of the tax")
    parser.add_argument("--trace-dir", type=Path, help="also save Chrome/Perfetto traces here (with --decompose)")


def _stop_rule(args: argparse.Namespace, base=None):
    from ftax.measure.timing import StopRule

    base = base or StopRule()
    changes = {k: getattr(args, k) for k in ("min_iters", "min_time_s", "max_time_s", "target_rel_ci")
               if getattr(args, k, None) is not None}
    return replace(base, **changes, name="custom") if changes else base


def cmd_env(args: argparse.Namespace) -> int:
    from ftax.store.env import fingerprint
    from ftax.measure.memory import energy_source

    env = dict(fingerprint())
    for device in ("cpu", "cuda") if env.get("gpu_count") else ("cpu",):
        source, reason = energy_source(device)
        env[f"energy_{device}"] = source or f"unavailable: {reason}"
    if args.json:
        print(json.dumps(env, indent=2, sort_keys=True))
    else:
        width = max(map(len, env))
        for key, value in env.items():
            print(f"{key:<{width}}  {value}")
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    from ftax.store.errors import InvalidConfigError
    from ftax.measure.measure_lock import measuring
    from ftax.read.console_text import format_record
    from ftax.store.schema import MeasureConfig
    from ftax.run.runner import MeasureOptions, check, measure_config

    checked = check(MeasureConfig.make(args.model, args.backend, args.dtype, args.device, args.batch_size,
                                       args.seq_len, _overrides(args.override), args.phase))
    if checked.invalid_size:
        raise InvalidConfigError(checked.invalid_size)
    options = MeasureOptions(rule=_stop_rule(args), threads=args.threads, decompose=args.decompose,
                             trace_dir=args.trace_dir)
    with measuring():  # one measuring process per machine (ftax.measure.measure_lock)
        record = measure_config(checked, options)
    if args.json:
        print(record.to_json())
    else:
        print(format_record(record))
    if record.status != "ok":
        print(f"ftax: {record.status}: {record.message}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Measure batch 1 (and the smallest shape), then print the model's curve over batch 1..512 (ftax.read.tax_model)."""
    from ftax.read import tax_model
    from ftax.read.console_text import format_prediction
    from ftax.store import jsonl
    from ftax.store.errors import InvalidConfigError
    from ftax.study.predict_inputs import PREDICTIONS, measure_inputs
    from ftax.store.schema import MeasureConfig

    config = MeasureConfig.make(args.model, args.backend, args.dtype, args.device, 1, args.seq_len,
                                _overrides(args.override))
    inputs = measure_inputs(config, args.out, second_batch=args.second_batch)
    first = inputs.batch1
    if first.flops is None or inputs.flops_batch2 is None or not first.gemm_calls:
        raise InvalidConfigError(f"{first.config.label()}: FLOPs could not be counted, so there is no work to model")
    counts2 = inputs.counts_batch2
    bytes_known = first.written_bytes is not None and counts2 is not None
    work = tax_model.Work(first.flops, inputs.flops_batch2 - first.flops, first.gemm_calls,
                          written_batch1=first.written_bytes if bytes_known else None,
                          written_per_item=counts2.written_bytes - first.written_bytes if bytes_known else None,
                          writes=first.writes if bytes_known else None,
                          write_sizes=tax_model.write_sizes_of(first.write_sizes) if bytes_known else ())
    t1 = first.stats["median_ms"]
    hosts = {"decomposition": (first.decomposition or {}).get("overhead_ms"),
             "smallest": (inputs.smallest.stats or {}).get("median_ms"),
             "probe": tax_model.host_from_probe(t1, work, inputs.probe)}
    hosts = {k: float(v) for k, v in hosts.items() if v is not None}
    prediction = tax_model.predict_from(t1, hosts, work, inputs.probe, source=args.host, form=args.form)
    record = {"status": "ok", "config": first.config.to_dict(), "machine_id": first.machine_id, "env": first.env,
              "predicted": prediction.to_dict(),
              "inputs": {"t1_ms": t1, "t1_ci_ms": [first.stats["ci_low_ms"], first.stats["ci_high_ms"]],
                         "hosts_ms": hosts, "host_source": prediction.inputs["host_source"],
                         "work": asdict(work),
                         "probe": inputs.probe.to_dict(), "probe_reused": inputs.probe_reused,
                         "probe_times": list(inputs.probe_times),
                         "decomposition": first.decomposition, "smallest_seq_len": inputs.smallest.config.seq_len},
              "ftax_version": first.ftax_version, "timestamp": first.timestamp}
    shown = [prediction]
    if inputs.second is not None:
        second = inputs.second.stats
        two = tax_model.two_point(t1, args.second_batch, second["median_ms"],
                                  (first.stats["ci_low_ms"], first.stats["ci_high_ms"]),
                                  (second["ci_low_ms"], second["ci_high_ms"]))
        record["predicted_two_point"] = two.to_dict()
        record["inputs"]["second"] = {"batch_size": args.second_batch, "ms": second["median_ms"],
                                      "ci_ms": [second["ci_low_ms"], second["ci_high_ms"]]}
        shown.append(two)
    jsonl.append_side(args.out, PREDICTIONS, first.machine_id, record)
    print(json.dumps(record, sort_keys=True) if args.json else
          "\n\n".join(format_prediction(first.config.label(), p) for p in shown))
    return 0


def grids_from_args(args: argparse.Namespace) -> list:
    """The grids a `ftax sweep` invocation asks for: a study, a grid file, or flags (flags win)."""
    from ftax.study.grid_files import grids_from_spec, load_grid_file
    from ftax.study.page_parameters import GRID_FIELDS

    spec = load_grid_file(args.grid) if args.grid else {}
    spec.update({k: getattr(args, k) for k in GRID_FIELDS if getattr(args, k) is not None})
    return grids_from_spec(spec, args.profile, args.device, args.study)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ftax.store.errors import InvalidConfigError
    from ftax.run.runner import MeasureOptions
    from ftax.sweep.profiles import ROUNDS
    from ftax.study.catalogue import RUNS
    from ftax.study.studies import measure_grids

    grids = grids_from_args(args)
    if args.engine == "local" and (args.address or args.per_node or args.accelerator_type):
        raise InvalidConfigError("--address, --per-node and --accelerator-type need --engine ray")
    if args.rounds is not None and args.rounds < 1:
        raise InvalidConfigError(f"--rounds must be a positive integer, got {args.rounds}")
    if args.decompose_rounds < 1:
        raise InvalidConfigError(f"--decompose-rounds must be a positive integer, got {args.decompose_rounds}")
    if args.budget_s is not None and not (math.isfinite(args.budget_s) and args.budget_s > 0):
        raise InvalidConfigError(f"--budget-s must be a positive number of seconds, got {args.budget_s:g}")
    # A run's tiers (gpu-reference) are its plan; a study's tiers order only the book's budgeted first run.
    tiered = args.plan or args.budget_s is not None or (args.study in RUNS and len({g.tier for g in grids}) > 1)
    if tiered:
        if args.engine == "ray":
            raise InvalidConfigError("--plan, --budget-s and tiered studies run with --engine local")
        return _sweep_tiers(args, grids)
    jobs = [(grid, MeasureOptions(rule=_stop_rule(args, grid.rule), threads=args.threads,
                                  decompose=args.decompose or grid.decompose, trace_dir=args.trace_dir))
            for grid in grids]
    if args.engine == "ray":
        from ftax.sweep.ray_engine import run_ray_sweep


        rounds = args.rounds or min(ROUNDS.get(grid.rule.name, 1) for grid, _ in jobs)
        print(run_ray_sweep(jobs, args.out, address=args.address, per_node=args.per_node,
                            accelerator_type=args.accelerator_type, retry_failed=args.retry_failed,
                            progress=not args.quiet, rounds=rounds, seed=args.seed))
        return 0
    grids = [replace(grid, rule=options.rule) for grid, options in jobs]
    rounds = args.rounds or ROUNDS.get(grids[0].rule.name, 1)
    options = MeasureOptions(threads=args.threads, decompose=args.decompose, trace_dir=args.trace_dir,
                             decompose_rounds=args.decompose_rounds)
    print(measure_grids(grids, args.out, rounds, options, progress=not args.quiet, retry_failed=args.retry_failed,
                        isolate=args.isolate, seed=args.seed))
    return 0


def _sweep_tiers(args: argparse.Namespace, grids: list) -> int:
    """`ftax sweep --plan` prints the plan (on any machine: it measures nothing); otherwise the tiers run in
    priority order, each one sweep, with the budget as the whole run's deadline (ftax.study.tiered_run)."""
    from ftax.plan import schedule as plan
    from ftax.study import tiered_run
    from ftax.run.runner import MeasureOptions
    from ftax.sweep.profiles import ROUNDS

    grids = [replace(grid, rule=_stop_rule(args, grid.rule)) for grid in grids]
    rounds = args.rounds or ROUNDS.get(grids[0].rule.name, 1)
    budget = args.budget_s if args.budget_s is not None else plan.DEFAULT_BUDGET_S
    if args.plan:
        print(plan.plan_sweep(grids, args.out, rounds, budget, decompose_all=args.decompose, seed=args.seed).format())
        return 0
    options = MeasureOptions(threads=args.threads, decompose=args.decompose, trace_dir=args.trace_dir)
    print(tiered_run.run_tiers(grids, args.out, rounds, options, budget, progress=not args.quiet,
                               log=lambda line: print(line, file=sys.stderr, flush=True),
                               retry_failed=args.retry_failed, isolate=args.isolate, seed=args.seed))
    return 0


def _add_sweep_parser(sub) -> None:
    from ftax.plan.schedule import DEFAULT_BUDGET_S
    from ftax.study.catalogue import RUNS, STUDIES
    from ftax.sweep.profiles import PROFILES, ROUNDS

    p = sub.add_parser("sweep", help="measure a grid of configs into results/<machine_id>.jsonl (resumable)")
    p.add_argument("--models", type=csv_list)
    p.add_argument("--backends", type=csv_list)
    p.add_argument("--dtypes", type=csv_list)
    p.add_argument("--batch-sizes", type=int_csv_list)
    p.add_argument("--seq-lens", type=int_csv_list)
    p.add_argument("--phases", "--phase", type=csv_list, dest="phases",
                   help="forward (default), prefill, decode: what one timed call is (decoders only for the last two)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--grid", type=Path, help="YAML file with the same keys (flags override it)")
    p.add_argument("--study", choices=STUDIES + RUNS, help="measure a case study's grids (gpu-reference: the GPU "
                   "reference run, in priority tiers cut at --budget-s)")
    p.add_argument("--profile", choices=PROFILES, help="stopping rule and study grids (default quick)")
    p.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results/)")
    p.add_argument("--retry-failed", action="store_true", help="re-run configs stored with a non-ok status")
    p.add_argument("--isolate", action="store_true", help="one child process per model: native crashes become rows")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--rounds", type=int, help="visit every config this many times, interleaved (default: the "
                   f"profile's, {', '.join(f'{k} {v}' for k, v in ROUNDS.items())}; a custom stop rule: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaved order (round r uses seed + r)")
    p.add_argument("--decompose-rounds", type=int, default=1, metavar="N",
                   help="profile the decomposed configs in the first N rounds, not only the first (the ledger's "
                        "kernel time then has a between-round interval)")
    p.add_argument("--plan", action="store_true", help="print the configs in priority order with estimated and "
                   "cumulative seconds and where the budget cuts; measures nothing (runs on any machine)")
    p.add_argument("--budget-s", type=float, help="run the grids' priority tiers in order with this many seconds "
                   "as the whole run's deadline: a tier that does not fit is cut in priority order, and no visit "
                   f"starts past it (default {DEFAULT_BUDGET_S:g} for a tiered study or --plan)")
    cluster = p.add_argument_group("cluster (see book/cluster.md)")
    cluster.add_argument("--engine", choices=("local", "ray"), default="local",
                         help="local (default) or ray: one task per model group, one device per task")
    cluster.add_argument("--address", help="Ray cluster: auto or ray://host:port (default: RAY_ADDRESS or local)")
    cluster.add_argument("--per-node", action="store_true", help="every alive Ray node runs the whole grid (RQ4)")
    cluster.add_argument("--accelerator-type", help="only GPUs of this Ray accelerator type, e.g. A100, H100, L4")
    _add_stop_args(p)
    p.set_defaults(func=cmd_sweep)


def cmd_book(args: argparse.Namespace) -> int:
    from ftax.book.build import BookError, build, parse_budget

    try:
        build(args.profile, args.device, args.results_dir, not args.no_measure, args.out, args.strict,
              budget_s=parse_budget(args.budget_s))
    except BookError as exc:
        print(f"ftax book: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _add_book_parser(sub) -> None:
    """`ftax book`: stopping rules come from the profile, so it takes no stop arguments."""
    from ftax.sweep.profiles import PROFILES

    p = sub.add_parser("book", help="run the case-study notebooks (papermill) and build the Jupyter Book")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="grids and stopping rules (default quick)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="records to read and extend")
    p.add_argument("--no-measure", action="store_true", help="only report what results/ already holds")
    p.add_argument("--out", type=Path, help="build under OUT/_build (default: the repository root)")
    p.add_argument("--strict", action="store_true", help="warnings fail the build (-W --keep-going)")
    p.add_argument("--budget-s", metavar="SECONDS", help="measure in priority tiers cut at this many seconds (0 or "
                   "none: no budget; default: quick's first-run budget, none for smoke and full); a rerun measures "
                   "what was cut")
    p.set_defaults(func=cmd_book)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    """What names one config (`measure` and `predict`; `predict` always starts from batch 1)."""
    p.add_argument("--model", required=True)
    p.add_argument("--backend", default="eager")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--override", action="append", metavar="KEY=N", help="width/depth/heads/intermediate")
    p.add_argument("--json", action="store_true", help="print exactly one JSON record")


def build_parser() -> argparse.ArgumentParser:
    from ftax.store.schema import PHASES

    parser = argparse.ArgumentParser(prog="ftax", description="Measure the framework tax of model inference.")
    sub = parser.add_subparsers(dest="command", required=True)

    env = sub.add_parser("env", help="print this machine's fingerprint")
    env.add_argument("--json", action="store_true")
    env.set_defaults(func=cmd_env)

    m = sub.add_parser("measure", help="measure one config")
    _add_config_args(m)
    m.add_argument("--batch-size", type=int, default=1)
    m.add_argument("--phase", choices=PHASES, default="forward",
                   help="forward (default), prefill (a decoder's prompt pass) or decode (one token, KV cache of seq-len)")
    _add_stop_args(m)
    m.set_defaults(func=cmd_measure)

    p = sub.add_parser("predict", help="predict the latency curve over batch 1..512 and its inflection from batch 1")
    _add_config_args(p)
    p.add_argument("--host", choices=("decomposition", "smallest", "probe"), default=None,
                   help="which estimate of the fixed host cost the point uses (default: probe, the best on the "
                        "book's validation page, page 08; the others give the range)")
    p.add_argument("--form", choices=("additive", "overlap"), default=None,
                   help="host and work add up (CPU) or overlap (GPU); default by device")
    p.add_argument("--second-batch", type=int, default=None, metavar="B",
                   help="also time batch B (alternating with batch 1) and print the line through the two as well "
                        "(page 08 scores that form with B = 8)")
    p.add_argument("--out", type=Path, default=Path("results"), help="where the probe and the prediction are stored")
    p.set_defaults(func=cmd_predict)

    _add_sweep_parser(sub)
    add_compare_parser(sub)
    add_ledger_parser(sub)
    _add_book_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (FtaxError, ValueError, argparse.ArgumentTypeError) as exc:
        print(f"ftax: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ftax: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
