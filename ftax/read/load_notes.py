"""A page's Load section: what records it loaded and from where, what failed, and how to weigh its numbers.

Each case-study page opens its data with these notes: the grids it measures (`grid_table`), how many records
matched and on which machine the figures are (`loaded`), the configs that did not measure ok (`not_ok`), how
many rounds each estimate pools, which visits missed their precision target, when and on which host the
records were measured, and a caution where a machine was overloaded while measuring. They read the config rows
of `ftax.read.estimates.per_config` and return Markdown, so the page never types a count by hand.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ftax.read.findings import curves
from ftax.read.text import join, markdown_table, plural
from ftax.store.grid_rows import GridRows


def grid_table(grids: Sequence, grid_rows: Sequence[GridRows]) -> str:
    """Markdown table of what a study will measure: one row per grid, its configs counted from the expansion the
    study made once (`grid_rows`), so the read layer never expands a grid itself."""
    configs = {r.name: len(r.configs) for r in grid_rows}

    def over(g) -> str:
        return f" ({len(g.overrides)} width x depth)" if any(g.overrides) else ""

    return markdown_table(["grid", "models", "backends", "dtypes", "batch sizes", "seq lens", "configs"],
                          [(g.name, ", ".join(g.models) + over(g), ", ".join(g.backends), ", ".join(g.dtypes),
                            ", ".join(map(str, g.batch_sizes)), ", ".join(map(str, g.seq_lens)), configs[g.name])
                           for g in grids])


def not_ok(frame: pd.DataFrame) -> str:
    """Markdown: which configs did not measure ok here and why (one line per distinct reason)."""
    if frame.empty:
        return "No records yet: nothing was measured or loaded for this page."
    bad = frame[frame["status"] != "ok"]
    if bad.empty:
        return f"All {len(frame)} configs shown measured ok."
    rows = [(status, model, backend, dtype, ", ".join(map(str, sorted(part["batch_size"].unique()))),
             message.replace("|", "/"))
            for (status, model, backend, dtype, message), part in bad.groupby(
                ["status", "model", "backend", "dtype", "message"], sort=True)]
    return (f"{len(bad)} of {len(frame)} configs did not measure ok:\n\n"
            + markdown_table(["status", "model", "backend", "dtype", "batch sizes", "reason"], rows))


def where(machine: str | None, profile: str) -> str:
    """How a page names the data it shows: machine and profile."""
    return f"**{machine or 'no machine yet'}** (profile `{profile}`)"


def loaded(study_frame: pd.DataFrame, frame: pd.DataFrame, machine: str | None, profile: str,
           results_dir: str | Path, visits: int | None = None, summary: object = None) -> str:
    """Markdown: how many records (`visits`) and configs the study has (`study_frame`, one row per config,
    every machine), on how many machines, which one the page shows (`frame`), what failed there, and what
    the reader needs to weigh its numbers: rounds per estimate, missed precision targets, load, and when
    and where the records were measured (`summary`: what this page measured, None when it only read)."""
    machines = study_frame["machine_label"].nunique() if not study_frame.empty else 0
    configs = f" ({plural(len(study_frame), 'config')})" if visits is not None and visits != len(study_frame) else ""
    head = (f"{len(study_frame) if visits is None else visits} records{configs} in `{results_dir}` match this "
            f"study's grids, from {machines} machine{'s' if machines != 1 else ''}; "
            f"the figures below show {where(machine, profile)}.")
    notes = [n for n in (rounds_note(frame), target_note(frame), provenance_note(frame, summary)) if n]
    return (head + "\n\n" + not_ok(frame) + "".join(f"\n\n{n}" for n in notes)
            + loaded_machine_note(frame))


def _ok_configs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"] if not frame.empty and "status" in frame else frame.iloc[0:0]


def config_list(rows: pd.DataFrame) -> str:
    """'bert-tiny eager fp32 at batch 1, 4 and 8; bert-mini onnxruntime fp32 at batch 2': configs named
    compactly, grouped by what varies among model, backend, dtype and sequence length, and the phase where a
    decoder's prefill or decode steps are among them (so a prompt pass and a step are never counted as one)."""
    by = ["model", "backend", "dtype", "seq_len"]
    if "phase" in rows and (rows["phase"].fillna("forward") != "forward").any():
        rows, by = rows.assign(phase=rows["phase"].fillna("forward")), by + ["phase"]
    named = []
    for name, part in curves(rows.assign(seq_len=[f"seq {s}" for s in rows["seq_len"]]), by):
        batches = sorted(part["batch_size"].unique())
        extra = f" ({plural(len(part), 'config')})" if len(part) > len(batches) else ""
        named.append(f"{name} at batch {join([str(b) for b in batches])}{extra}")
    return "; ".join(named)


def rounds_note(frame: pd.DataFrame) -> str:
    """'Estimates pool 3 rounds for 40 configs and 1 round for 5 ...': how many rounds each estimate has."""
    ok = _ok_configs(frame)
    if ok.empty or "rounds" not in ok:
        return ""
    counts = ok["rounds"].astype(int).value_counts().sort_index(ascending=False)
    pooled = join([f"{plural(int(k), 'round')} for {plural(int(n), 'config')}" for k, n in counts.items()])
    single = int(counts.get(1, 0))
    return (f"Each estimate is the median of a config's round medians; its interval comes from the spread between "
            f"rounds. Estimates pool {pooled}." + (f" With one round there is no between-run interval, so "
                                                   f"{'that config has' if single == 1 else 'those configs have'} "
                                                   f"no band or error bar." if single else ""))


def target_note(frame: pd.DataFrame) -> str:
    """Which ok configs missed the precision target in a visit (sampling stopped at the time limit first)."""
    ok = _ok_configs(frame)
    if ok.empty or "target_met" not in ok:
        return ""
    missed = ok[ok["target_met"].map(lambda m: m is False or m == False)]  # noqa: E712 (None: not recorded)
    if missed.empty:
        return "Every config met its precision target in every visit." if ok["target_met"].notna().any() else ""
    target = pd.to_numeric(ok.get("target_rel_ci"), errors="coerce").dropna() if "target_rel_ci" in ok else None
    within = f" within {target.max():.0%} of it" if target is not None and len(target) else ""
    return (f"{len(missed)} of {len(ok)} ok configs missed the precision target (the median's 95% CI{within}) in "
            f"at least one visit, which stopped at its time limit instead: {config_list(missed)}.")


def _stamp(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def provenance_note(frame: pd.DataFrame, summary: object = None) -> str:
    """When and on which host the records shown were measured, and whether this page measured any of them."""
    ok = _ok_configs(frame)
    if ok.empty or "first_timestamp" not in ok:
        return ""
    first, last = pd.to_datetime(ok["first_timestamp"]).min(), pd.to_datetime(ok["last_timestamp"]).max()
    if pd.isna(first):
        return ""
    span = (f"on {_stamp(first)[:10]} between {_stamp(first)[11:]} and {_stamp(last)[11:]} UTC"
            if _stamp(first)[:10] == _stamp(last)[:10] else f"between {_stamp(first)} and {_stamp(last)} UTC")
    hosts = ok["hosts"].fillna("") if "hosts" in ok else pd.Series("", index=ok.index)
    named = sorted({h for value in hosts for h in str(value).split(", ") if h})
    on = join([f"`{h}`" for h in named] + (["host not recorded"] if (hosts == "").any() else []))
    measured = sum(getattr(summary, "counts", {}).values()) if summary is not None else 0
    earlier = ("This page measured none of them: they are stored records, " if not measured else
               f"This page measured {plural(measured, 'visit')}; with the stored ones, the records were ")
    return f"{earlier}measured {span} ({on})."


def loaded_machine_note(frame: pd.DataFrame) -> str:
    """Markdown: a warning naming the ok configs measured while the machine was overloaded.

    Reads `max_load_avg_1m` (the highest over a config's visits, `ftax.read.estimates.per_config`) where
    present, else `env_load_avg_1m`. The fingerprint stores the 1-minute load average at measuring
    time. Above the core count, other processes competed for the CPU (ftax's own threads alone stay
    at or below it), so those latencies may be inflated; on a shared 2-core machine we saw up to tens
    of times."""
    column = "max_load_avg_1m" if "max_load_avg_1m" in frame else "env_load_avg_1m"
    needed = {column, "env_cpu_count", "status"}
    if frame.empty or not needed <= set(frame.columns):
        return ""
    ok = frame[frame["status"] == "ok"]
    load = pd.to_numeric(ok[column], errors="coerce")
    busy = ok[load > pd.to_numeric(ok["env_cpu_count"], errors="coerce")]
    if busy.empty:
        return ""
    return (f"\n\n**Caution:** {len(busy)} of {len(ok)} ok configs were measured (in at least one visit) while "
            f"the machine's 1-minute load average (up to {load[busy.index].max():.1f}) exceeded its "
            f"{int(busy['env_cpu_count'].max())} cores: {config_list(busy)}. Other processes competed for the CPU, "
            f"so those latencies may be inflated. A sweep skips configs stored ok, so remeasure them on an idle "
            f"machine into a fresh `--out` directory.")
