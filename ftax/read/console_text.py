"""What the command line prints about a result: one record, or one predicted curve, as readable lines.

`ftax measure` prints `format_record` of the record it made and `ftax predict` prints `format_prediction` of
each curve it predicted, unless asked for JSON. Plain text for a terminal: numbers with their units and
intervals, and a warning where the machine was overloaded while measuring.
"""
from __future__ import annotations


def format_prediction(label: str, prediction) -> str:
    """The predicted curve as a table, then where it leaves the flat regime."""
    from ftax.read.tax_model import TWO_POINT  # here, so `ftax measure` does not load scipy to print a record

    if prediction.form == TWO_POINT:
        head = (f"{label}: predicted from batch 1 and batch {prediction.inputs['second_batch']} (a line: "
                f"H = {prediction.host_ms:.3g} ms, {prediction.work_scale:.3g} ms per item; range from both intervals)")
    else:
        head = (f"{label}: predicted from batch 1 ({prediction.form}; H = {prediction.host_ms:.3g} ms from "
                f"{prediction.inputs['host_source']}, range {prediction.host_range_ms[0]:.3g}-"
                f"{prediction.host_range_ms[1]:.3g} ms)")
    lines = [head, "  batch   latency ms   range ms"]
    for b, t, lo, hi in zip(prediction.batch_sizes, prediction.latency_ms, prediction.low_ms, prediction.high_ms):
        lines.append(f"  {b:>5}   {t:>10.3g}   {lo:.3g}-{hi:.3g}")
    if prediction.inflection_batch is not None:
        low, high = prediction.inflection_interval
        lines.append(f"  leaves the flat regime at batch {prediction.inflection_batch:g} "
                     f"(range {low:g}-{'beyond 512' if high is None else f'{high:g}'})")
    else:
        lines.append(f"  {prediction.message}")
    return "\n".join(lines)


def format_record(record) -> str:
    """A readable multi-line summary of one record."""
    lines = [record.config.label(), f"  status       {record.status}" + (f": {record.message}" if record.message else "")]
    if record.status == "ok":
        s, setup = record.stats, record.setup
        lines += [
            f"  median       {s['median_ms']:.4g} ms  (95% CI {s['ci_low_ms']:.4g}..{s['ci_high_ms']:.4g}, n={s['n']})",
            f"  p90 / p99    {s['p90_ms']:.4g} / {s['p99_ms']:.4g} ms   mean {s['mean_ms']:.4g} ± {s['std_ms']:.3g} ms"
            f"   IQR {s['iqr_ms']:.3g} ms",
            f"  pipelined    {record.pipelined_ms:.4g} ms per call",
            f"  setup        prepare {setup['prepare_s']:.3g} s, cold first call {setup['first_call_ms']:.4g} ms,"
            f" {setup['threads']} threads, stop: {setup['stop_reason']}"
            + ("" if setup["target_met"] else " (precision target NOT met)"),
            f"  parity       max |diff| {record.parity['max_abs_diff']:.3g} "
            f"({'ok' if record.parity['ok'] else 'FAILED'}, tolerance {record.parity['tolerance']:.3g})",
        ]
        if record.flops:
            lines.append(f"  flops        {record.flops:.4g} ({record.flops / s['median_ms'] / 1e9:.3g} TFLOP/s achieved)")
        if record.decomposition:
            p = record.decomposition
            lines.append(f"  decomposed   {p['method']}: busy {p['busy_ms']:.4g} ms, overhead {p['overhead_ms']:.4g} ms"
                         f" ({p['overhead_share']:.0%} of {p['wall_ms']:.4g} ms), {p['ops']} ops, {p['launches']} launches")
    lines.append(f"  machine      {record.machine_id}")
    load, cores = record.env.get("load_avg_1m"), record.env.get("cpu_count")
    if load is not None and cores and load > cores:
        lines.append(f"  warning      load average {load:.1f} exceeds {cores} cores: timings are inflated by other work")
    return "\n".join(lines)
