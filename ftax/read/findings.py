"""Findings: the phrases and tables a page states about latency, computed from the records it shows.

Pure functions from DataFrames (config rows of `ftax.read.estimates.per_config`, whose latency is
`estimate_ms` with `low_ms`/`high_ms`; fits of `ftax.read.analysis`) to short strings or Markdown; the pages (`ftax.pages`) assemble them into captions and findings, so prose never
carries a number typed by hand. Phrases name only what varies among the rows they describe,
and a figure without ok rows gets `no_data`'s sentence instead of a caption. Rows are
selected in `ftax.read.rows`; phrases about the profiler's decomposition are in
`ftax.read.decomposition_findings`.

About 400 lines: the latency phrases of every case-study page plus the interval and verdict wording
they share (`interval_text`, `verdict_note`, `ratio_text`); kept together so that every page words
an interval and a verdict the same way. The decomposition's phrases already live apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ftax.read.analysis import FLAT, FLAT_MAX_RATIO, NO_REGIME, NOT_FLAT, UNTESTED
from ftax.read.estimates import curve_columns
from ftax.read.intervals import is_real
from ftax.read.text import join, markdown_table, plural, sig

NO_INTERVAL = "one round: no between-run interval"


def grid_table(grids: Sequence) -> str:
    """Markdown table of what a study will measure: one row per grid."""
    def over(g) -> str:
        return f" ({len(g.overrides)} width x depth)" if any(g.overrides) else ""

    return markdown_table(["grid", "models", "backends", "dtypes", "batch sizes", "seq lens", "configs"],
                          [(g.name, ", ".join(g.models) + over(g), ", ".join(g.backends), ", ".join(g.dtypes),
                            ", ".join(map(str, g.batch_sizes)), ", ".join(map(str, g.seq_lens)), len(g.configs()))
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


def curves(rows: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per curve of the ok rows; a name mentions only the `by` columns that vary
    (all of them when none does), so one machine's pages do not repeat its name in every phrase."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return []
    shown = [c for c in by if ok[c].nunique() > 1] or list(by)
    return [(_name(tuple(part[c].iloc[0] for c in shown)), part) for _, part in ok.groupby(list(by), sort=True)]


def _name(keys) -> str:
    return " ".join(map(str, keys if isinstance(keys, tuple) else (keys,)))


def ratio_text(ratio: float, low: float | None = None, high: float | None = None, rounds: int = 0,
               digits: int = 2) -> str:
    """'2.1x [1.9, 2.3], 3 rounds' with a between-round interval, '2.1x (one round: no between-run interval)'
    without one (one round, or records measured before rounds). Digits are added (`shown_digits`) where the
    bounds would otherwise print alike: '1.2x [1.2, 1.2]' reads as no uncertainty."""
    digits = shown_digits(low, high, digits)
    return f"{sig(ratio, digits)}x{interval_text(low, high, rounds, digits)}"


def shown_digits(low: float | None, high: float | None, digits: int = 2, most: int = 4) -> int:
    """The fewest significant digits from `digits` (up to `most`) at which two different bounds print apart."""
    if is_real(low, high) is None or low == high:
        return digits
    while digits < most and sig(low, digits) == sig(high, digits):
        digits += 1
    return digits


def interval_text(low: float | None, high: float | None, rounds: int = 0, digits: int = 2) -> str:
    """' [1.9, 2.3], 3 rounds', or ' (one round: no between-run interval)' without an interval."""
    if is_real(low, high) is None:
        return f" ({NO_INTERVAL})"
    digits = shown_digits(low, high, digits)
    return f" [{sig(low, digits)}, {sig(high, digits)}], {plural(int(rounds), 'round')}"


def verdict_note(table: pd.DataFrame, low: str, high: str, what: str, threshold: float = 1.0) -> str:
    """Which ratios of `table` are real (their interval excludes `threshold`) and for which the data cannot
    decide: 'All 6 speedups exclude 1 ...', or 'The data cannot decide ...: one round gives no interval.'"""
    if table.empty:
        return ""
    verdicts = [is_real(lo, hi, threshold) for lo, hi in zip(table[low], table[high])]
    real, unsure, none = verdicts.count(True), verdicts.count(False), verdicts.count(None)
    if none == len(verdicts):
        return (f"With one round per config there is no between-run interval, so the data cannot decide whether "
                f"these {what} are real.")
    parts = [f"{real} of {len(verdicts)} {what} are real (their 95% interval excludes {threshold:g}x)"]
    if unsure:
        parts.append(f"for {unsure} the interval contains {threshold:g}x, so the data cannot decide")
    if none:
        parts.append(f"for {none} one round gives no interval, so the data cannot decide")
    return "; ".join(parts) + "."


def _ratio_for(ratios: pd.DataFrame | None, row: pd.Series, x: str) -> pd.Series | None:
    """The paired ratio (`ftax.read.ratios.scaling_ratios`) of the config in `row` against its curve's start."""
    if ratios is None or ratios.empty:
        return None
    match = ratios[ratios[x] == row[x]]
    for column in curve_columns(x, series=False):
        if column in match and column in row and pd.notna(row[column]):
            match = match[match[column] == row[column]]
    return None if match.empty else match.iloc[0]


def scaling_phrases(rows: pd.DataFrame, x: str, by: Sequence[str], ratios: pd.DataFrame | None = None) -> list[str]:
    """'bert-tiny fp32: 64x the batch (1 to 64) costs 3.1x the latency [2.9, 3.3], 3 rounds (0.21 to 0.65 ms)'
    per curve (largest vs smallest `x`). The ratio is the paired one from `ratios` (`ftax.read.ratios.
    scaling_ratios` of the visits) where given, with its interval where it has one (a page then says once,
    with `verdict_note`, that the others have none), else the ratio of the two estimates."""
    noun = "batch" if x == "batch_size" else "sequence length"
    phrases = []
    for name, curve in curves(rows, by):
        curve = curve.sort_values(x)
        if curve[x].nunique() < 2:
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        paired = _ratio_for(ratios, last, x)
        value = paired["ratio"] if paired is not None else last["estimate_ms"] / first["estimate_ms"]
        interval = (interval_text(paired["ratio_low"], paired["ratio_high"], paired["rounds"], 3)
                    if paired is not None and is_real(paired["ratio_low"], paired["ratio_high"]) is not None else "")
        phrases.append(f"{name}: {last[x] / first[x]:g}x the {noun} ({first[x]} to {last[x]}) costs {sig(value, 3)}x "
                       f"the latency{interval} ({sig(first['estimate_ms'])} to {sig(last['estimate_ms'])} ms)")
    return phrases


def latency_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'onnxruntime 0.21 ms' per row at one batch size, fastest first (named as in `curves`)."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)] if not rows.empty else rows
    return [f"{name} {sig(part['estimate_ms'].median())} ms"
            for name, part in sorted(curves(ok, by), key=lambda item: item[1]["estimate_ms"].median())]


def flat_text(fit: pd.Series) -> str:
    """'T(4)/T(1) = 1.62 [1.51, 1.74], 3 rounds' of one curve of `ftax.read.analysis.framework_bound_regimes`."""
    return f"T(4)/T(1) = {ratio_text(fit['t4'], fit['t4_low'], fit['t4_high'], fit['t4_rounds'], 3)}"


def knee_phrases(regimes: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """Per curve of `ftax.read.analysis.framework_bound_regimes`: its framework-bound regime by claim (a)'s rule and
    where it leaves it ('bert-tiny fp32: flat at small batch (T(4)/T(1) = 1.1x [1.0, 1.2], 3 rounds); leaves the
    flat regime at batch 16'), or NO_REGIME and why (T(4)/T(1) above the threshold, or undecided)."""
    limit = sig(FLAT_MAX_RATIO)
    phrases = []
    for name, fit in ((n, part.iloc[0]) for n, part in curves(regimes, by)):
        regime = fit["regime"]
        if regime == FLAT and fit["reached"]:
            point, low = fit["inflection_batch"], fit["inflection_low"]
            maybe = f", possibly from batch {int(low)}" if pd.notna(low) and low < point else ""
            phrases.append(f"{name}: flat at small batch ({flat_text(fit)}); leaves the flat regime (T(b)/T(1) above "
                           f"{limit} with its interval) at batch {int(point)}{maybe}")
        elif regime == FLAT:
            phrases.append(f"{name}: flat at small batch ({flat_text(fit)}) and not surely above {limit}x batch 1's "
                           f"latency up to batch {int(fit['max_batch'])}, the largest measured")
        elif regime == NOT_FLAT:
            phrases.append(f"{name}: {NO_REGIME} ({flat_text(fit)}, above {limit})")
        elif regime == UNTESTED:
            phrases.append(f"{name}: {NO_REGIME} (no batch 4 was measured, which the rule needs)")
        else:
            straddles = "" if is_real(fit["t4_low"], fit["t4_high"]) is None else f": the interval contains {limit}"
            phrases.append(f"{name}: {NO_REGIME} that the data can confirm ({flat_text(fit)}{straddles})")
    return phrases


def regimes_below() -> str:
    """What a latency figure's caption says of its regimes when the finding under it states them per curve."""
    return ("The finding below states, per curve, claim (a)'s T(4)/T(1) with its 95% interval and the batch where "
            "the curve leaves its flat regime.")


def regime_rule() -> str:
    """The rule every page's framework-bound regime and inflection follow, in one sentence."""
    limit = sig(FLAT_MAX_RATIO)
    return (f"A curve has a framework-bound regime when its latency at batch 4 is within {limit}x its batch-1 "
            f"latency with the 95% interval of the paired ratio T(4)/T(1) (claim (a)'s rule); its inflection is the "
            f"first batch whose T(b)/T(1) exceeds {limit} with its interval. Elsewhere the page reports {NO_REGIME}.")


def speedup_phrases(speedups: pd.DataFrame, batch_size: int, by: Sequence[str] = ("model", "dtype")) -> list[str]:
    """'bert-tiny fp32: onnxruntime 2.1x [1.9, 2.3], 3 rounds, torchscript 1.3x [...]' at one batch size,
    fastest first; without an interval: 'onnxruntime 2.4x, torchscript 1.3x (one round: no between-run
    interval)', said once per list."""
    rows = speedups[speedups["batch_size"] == batch_size] if not speedups.empty else speedups
    phrases = []
    named = curves(rows, by)
    for name, part in named:
        part = part.sort_values("speedup", ascending=False)
        bare = all(is_real(lo, hi) is None for lo, hi in zip(part["speedup_low"], part["speedup_high"]))
        listed = ", ".join(f"{r.backend} {sig(r.speedup, 2)}x" if bare else
                           f"{r.backend} {ratio_text(r.speedup, r.speedup_low, r.speedup_high, r.rounds)}"
                           for r in part.itertuples())
        listed += f" ({NO_INTERVAL})" if bare else ""
        phrases.append(listed if len(named) == 1 else f"{name}: {listed}")
    return phrases


def band_phrase(rows: pd.DataFrame, what: str = "band") -> str:
    """How a figure's latencies and their `what` (band, error bars) were estimated from rounds, counted
    from the ok rows it draws (`ftax.read.estimates.per_config`)."""
    ok = rows[rows["status"] == "ok"] if not rows.empty and "status" in rows else rows
    rounds = ok["rounds"].astype(int) if "rounds" in ok else pd.Series(1, index=ok.index)
    multi = rounds[rounds >= 2]
    if multi.empty:
        return f"median of one round per config: no between-run interval, so no {what}"
    span = plural(int(multi.min()), "round") if multi.min() == multi.max() else f"{multi.min()} to {multi.max()} rounds"
    if len(multi) == len(rounds):
        return f"median of the round medians over {span}, their 95% between-round interval as {what}"
    return (f"median of the round medians; 95% between-round interval as {what} for the {len(multi)} of "
            f"{plural(len(rounds), 'config')} with {span}, none for those with one round")


def doubling_factor(rows: pd.DataFrame, along: str, batch_size: int, value: str = "estimate_ms") -> float | None:
    """Multiplier of `value` (latency, or flops) per doubling of `along` (width or depth) at one batch
    size: 2 ** the mean slope of log2 `value` on log2 `along`, fitted at each value of the other one."""
    other = "depth" if along == "width" else "width"
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)].dropna(subset=[along, other, value])
    slopes = [np.polyfit(np.log2(part[along].astype(float)), np.log2(part[value].astype(float)), 1)[0]
              for _, part in ok.groupby(other) if part[along].nunique() >= 2]
    return float(2 ** np.mean(slopes)) if slopes else None


def ratio_phrases(rows: pd.DataFrame, baseline: str, batch_size: int, column: str = "model") -> list[str]:
    """'distilbert: 0.52x the latency, 0.5x the FLOPs of bert-base' at one batch size."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)]
    base = ok[ok[column] == baseline]
    if base.empty:
        return []
    base = base.iloc[0]
    phrases = []
    for _, r in ok[ok[column] != baseline].sort_values("estimate_ms").iterrows():
        flops = (f", {sig(r['flops'] / base['flops'], 2)}x the FLOPs" if pd.notna(r.get("flops"))
                 and pd.notna(base.get("flops")) and base["flops"] else "")
        phrases.append(f"{r[column]}: {sig(r['estimate_ms'] / base['estimate_ms'], 2)}x the latency{flops}")
    return phrases


def precision_phrases(rows: pd.DataFrame, baseline: str = "fp32") -> list[str]:
    """'bert-tiny at batch 1: fp16 3.2x, bf16 1.4x the fp32 latency' at the smallest and largest batch."""
    ok = rows[rows["status"] == "ok"] if not rows.empty else rows
    phrases = []
    for model, part in (ok.groupby("model", sort=True) if not ok.empty else []):
        base = part[part["dtype"] == baseline].groupby("batch_size")["estimate_ms"].median()
        others = part[part["dtype"] != baseline]
        for batch in sorted({base.index.min(), base.index.max()}) if not base.empty else []:
            at = others[others["batch_size"] == batch].sort_values("dtype")
            if not at.empty:
                listed = ", ".join(f"{r.dtype} {sig(r.estimate_ms / base[batch], 2)}x" for r in at.itertuples())
                phrases.append(f"{model} at batch {batch}: {listed} the {baseline} latency")
    return phrases


def growth_phrases(grid: pd.DataFrame) -> list[str]:
    """'at batch 1, doubling width multiplies latency by 1.1 (FLOPs by 3.6), doubling depth by 1.9
    (FLOPs by 2)' per batch size, each factor fitted over the grid (see `doubling_factor`)."""
    phrases = []
    for batch in sorted(grid[grid["status"] == "ok"]["batch_size"].unique()) if not grid.empty else []:
        factors = {(along, value): doubling_factor(grid, along, batch, value)
                   for along in ("width", "depth") for value in ("estimate_ms", "flops")}
        if all(factors.values()):
            phrases.append(f"at batch {batch}, doubling width multiplies latency by "
                           f"{sig(factors['width', 'estimate_ms'])} (FLOPs by {sig(factors['width', 'flops'])}) and "
                           f"doubling depth by {sig(factors['depth', 'estimate_ms'])} "
                           f"(FLOPs by {sig(factors['depth', 'flops'])})")
    return phrases


def no_data(rows: pd.DataFrame, here: str) -> str | None:
    """The sentence a caption or finding becomes when none of its rows measured ok (else None)."""
    if not rows.empty and (rows["status"] == "ok").any():
        return None
    return (f"Nothing to show here: no config of this figure measured ok on {here}. Either the profile does "
            f"not include it, or it failed (the table under *Load* lists failures and why), or it was not "
            f"measured yet (run the page with `measure=True`).")
