"""Page 09's roofline section: each decode step and prefill against its floor, and the per-op profile by batch.

The floor (`ftax.read.roofline`) needs two stored things besides the decode records: a throughput probe with the
read ladder (results/probes/) and the steps' work counts (results/decode-ops/, `benchmarks/decode_ops.py`, which
takes the probe too). Where either is missing the section says what is not measured and the command that
measures it; the per-op profile (`ftax.read.decode_ops`) likewise.
"""
from __future__ import annotations

import pandas as pd

from ftax.pages import PageView
from ftax.read import decode_ops, roofline
from ftax.read.findings import interval_text, ratio_text
from ftax.read.ratios import paired_ratios
from ftax.read.text import join, markdown_table, plural, sig

COMMAND = "`python benchmarks/decode_ops.py --out results`"
PAIRS = ((1, 4), (4, 16))  # the batch steps whose growth the section sets against the roofs


def _phases(v: PageView) -> pd.DataFrame:
    frame = v.frame
    return frame[frame["phase"].isin(["decode", "prefill"])] if not frame.empty and "phase" in frame else frame


def roofline_table(v: PageView) -> pd.DataFrame:
    """The page's decode and prefill configs with their floors (`ftax.read.roofline.floors`)."""
    return roofline.floors(_phases(v), roofline.stored_ops(v.results_dir), roofline.read_probes(v.results_dir))


def roofline_markdown(v: PageView) -> str:
    """The floors' table, each runtime's step over its floor, the growth past batch 1 and 4 against what each roof
    predicts, and the prefill against its compute roof; or what is not measured."""
    table = roofline_table(v)
    if table.empty:
        return f"No decode step or prefill ran ok on {v.here}: no floor to draw."
    if table.floor_ms.isna().all():
        why = join(sorted(set(table.missing) - {""}))
        return (f"Not measured on {v.here}: {why}. {COMMAND} counts each step's work and takes a probe with the "
                f"read ladder.")
    drawn = table[table.floor_ms.notna()].sort_values(["model", "phase", "batch_size", "backend"])
    rows = [(r.model, r.backend, r.phase, r.batch_size, sig(r.bytes_read / 1e6), sig(r.flops / 1e9), sig(r.read_gbs),
             sig(r.memory_ms), sig(r.compute_ms), r.binds, f"{sig(r.estimate_ms)}{interval_text(r.low_ms, r.high_ms, _rounds(r.rounds))}",
             f"{sig(r.over)}x{interval_text(r.over_low, r.over_high, _rounds(r.rounds))}") for r in drawn.itertuples()]
    probes = join(sorted({str(t)[:16].replace("T", " ") + " UTC" for t in drawn.probe_time if t}),
                  "around the steps (the probes taken between their rounds, averaged)")
    return "\n\n".join(part for part in (
        f"The floor of each step on {v.here}: the bytes it must read (every weight once, the rows an embedding "
        f"lookup gathers, the whole static KV cache) at the probe's read rate for a working set of that size, and "
        f"each matrix product's FLOPs at the probe's GEMM rate for that many FLOPs per call; the larger of the two "
        f"binds. The GEMM ladder times square products one `torch.mm` call each, so at small products its rate "
        f"carries that call's host cost: a compute roof of small products is an upper estimate of the hardware's. "
        f"The probe was taken {probes}; a step's interval is its own between-round one (the probe is one "
        f"reading), and a machine's speed drifts between days: a ratio below 1 says the probe and the step saw the "
        f"machine in different states, or, where the compute roof of small products binds, that it is set too high.",
        markdown_table(["model", "runtime", "phase", "batch", "MB read", "GFLOP", "read GB/s", "memory roof ms",
                        "compute roof ms", "binds", "measured ms [95%]", "measured / floor [95%]"], rows),
        _undrawn(table), growth_markdown(v, table), prefill_markdown(table)) if part)


def _undrawn(table: pd.DataFrame) -> str:
    """The configs with no floor, and why (a shape whose work was not counted, no probe with the read ladder)."""
    missing = table[table.floor_ms.isna()]
    listed = [f"{why}: " + join([f"{r.model} {r.backend} {r.phase} batch {r.batch_size}" for r in g.itertuples()])
              for why, g in missing.groupby("missing", sort=True)]
    return f"No floor for {'; '.join(listed)}." if listed else ""


def _rounds(rounds) -> int:
    return int(rounds) if pd.notna(rounds) else 0


def growth_markdown(v: PageView, table: pd.DataFrame) -> str:
    """Per model, runtime and batch step: T(large)/T(small) paired by round beside what each roof and the floor
    predict, and whether the step grows more than its floor, less, or as it."""
    visits = v.visits[v.visits["phase"] == "decode"] if not v.visits.empty and "phase" in v.visits else v.visits
    rows, verdicts = [], []
    for small, large in PAIRS:
        both = visits[visits.batch_size.isin([small, large])] if not visits.empty else visits
        if both.empty or both.batch_size.nunique() < 2:
            continue
        grown = roofline.growth(table, paired_ratios(both, "batch_size", large), small, large)
        for r in grown.sort_values(["model", "backend"]).itertuples():
            rows.append((r.model, r.backend, f"T({large})/T({small})",
                         ratio_text(r.ratio, r.ratio_low, r.ratio_high, r.rounds), f"{sig(r.memory_ratio)}x",
                         f"{sig(r.compute_ratio)}x", f"{sig(r.floor_ratio)}x", GROWS[r.versus]))
        verdicts += [f"{g.model.iloc[0]} T({large})/T({small}) {GROWS[versus]} for {join(sorted(g.backend))}"
                     for (_, versus), g in grown.groupby(["model", "versus"], sort=True)]
    if not rows:
        return ""
    return (f"**Finding.** On {v.here}, paired by round: {'; '.join(verdicts)}.\n\n"
            + markdown_table(["model", "runtime", "ratio", "measured [95%]", "memory roof predicts",
                              "compute roof predicts", "floor predicts", "the step"], rows))


GROWS = {"more": "grows more than its floor", "less": "grows less than its floor", "as": "grows as its floor"}


def prefill_markdown(table: pd.DataFrame) -> str:
    """Each prefill over its compute roof and its memory roof."""
    pre = table[(table.phase == "prefill") & table.floor_ms.notna()].sort_values(["model", "batch_size"])
    if pre.empty:
        return ""
    listed = [f"{r.model} {r.backend} batch {r.batch_size} at {sig(r.estimate_ms / r.compute_ms)}x its compute roof "
              f"({sig(r.compute_ms)} ms) and {sig(r.estimate_ms / r.memory_ms)}x its memory roof" for r in pre.itertuples()]
    return f"**The prompt pass** of {join(sorted({str(s) for s in pre.seq_len}))} tokens: {'; '.join(listed)}."


def ops_markdown(v: PageView) -> str:
    """The per-op profile of each decoder's eager step by batch: time per op group, its share, the rate at which
    the matrix products read the weights, and the slowest products; or that no profile is stored."""
    profiles = decode_ops.newest_profiles(roofline.stored_ops(v.results_dir), v.frame["machine_id"].iloc[0]
                                          if not v.frame.empty else None)
    if profiles.empty:
        return f"Not measured: no per-op profile of a decode step is stored for {v.here}; {COMMAND} takes one."
    groups = decode_ops.by_group(profiles)
    rows = []
    for (model, batch), g in groups.groupby(["model", "batch_size"], sort=True):
        cells = {r.group: f"{sig(r.self_ms)} ({r.share:.0%})" for r in g.itertuples()}
        gbs = g[g.group == decode_ops.MATMUL].weight_gbs.iloc[0]
        rows.append((model, batch, sig(g.profiled_ms.iloc[0]), *[cells.get(k, "") for k in decode_ops.ORDER],
                     cells.get("outside ops", ""), sig(gbs) if pd.notna(gbs) else "n/a"))
    products = [f"{model} {p['op']} {p['weights']}: " + join([f"{sig(ms)} ms per call over {plural(rows, 'row')}"
                                                          for rows, ms in sorted(p["ms_per_call"].items())])
                for model, g in profiles.groupby("model", sort=True)
                for p in decode_ops.products_by_rows(g, 1)]
    steps = join(sorted({str(int(s)) for s in profiles.steps}))
    when = join(sorted({str(t)[:16].replace("T", " ") + " UTC" for t in profiles.timestamp}))
    return (f"**Observation** (one profiled run of {steps} eager steps per shape, {when}: no between-run interval; "
            f"the profiler's own cost is in every time). Self time per step by op group on {v.here}, ms and share of "
            f"the profiled step:\n\n"
            + markdown_table(["model", "batch", "profiled step ms", *decode_ops.ORDER, "outside ops",
                              "weights read by the products GB/s"], rows)
            + f"\n\nThe matrix product with the most self time over the batches, per call as the rows grow: "
              f"{'; '.join(products) or 'none listed'}.")
