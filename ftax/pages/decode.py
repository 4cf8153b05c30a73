"""RQ5, is LLM decoding framework-bound: the figures, tables and findings of 09-decode.

The paper timed one forward pass of encoders; this page times what an LLM spends its time on: one decode step
per token over a KV cache already holding `seq_len` tokens (`ftax.run.decoding`), next to the prompt pass (prefill),
and AOTInductor, a runtime with no Python in the call, next to the other runtimes of page 02. Every comparison is
a ratio paired by round (`ftax.read.estimates`); a decode step's latency is its per-token latency (one new token per
sequence per call).
"""
from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from ftax.figures import decomposition_plots, plots
from ftax.read import analysis
from ftax.read.estimates import curve_columns
from ftax.read.ratios import paired_ratios, speedups
from ftax.read.findings import band_phrase, interval_text, knee_phrases, no_data, ratio_text, speedup_phrases, verdict_note
from ftax.pages import PageView, glue_figure, glue_markdown
from ftax.read.rows import decomposed, ok_rows
from ftax.read.text import join, markdown_table, sig

GENERATED_TOKENS = 128  # the generation the page prices: a prompt of seq_len tokens, then this many new tokens
# Visits of two runtimes pair as "timed together" only when, in each round they share, they were stored within
# this many seconds: a sweep stores the runtimes of one shape within seconds of each other, while a runtime
# resumed from an earlier sweep (page 01's eager, say) sits minutes or days away and shares only a round number.
TOGETHER_S = 300.0
FLOOR_BACKEND = "aot-inductor"


def _of_phase(frame: pd.DataFrame, phase: str) -> pd.DataFrame:
    if frame.empty or "phase" not in frame:
        return frame.iloc[0:0]
    return frame[frame["phase"].fillna("forward") == phase]


def decode_rows(v: PageView) -> pd.DataFrame:
    """The page's decode configs (one row per config)."""
    return _of_phase(v.frame, "decode")


def decode_visits(v: PageView) -> pd.DataFrame:
    """The page's decode visits (one row per visit, every round)."""
    return _of_phase(v.visits, "decode")


def decode_figure(v: PageView) -> tuple[Figure, str]:
    """Per-token decode latency against batch size per runtime, one panel per model, shaded by eager's regimes."""
    rows = decode_rows(v)
    visits = decode_visits(v)
    eager = analysis.framework_bound_regimes(visits[visits.backend == "eager"] if not visits.empty else visits)
    figure = plots.latency_vs_batch(rows, hue="backend", style=None, panel="model", fits=analysis.with_regime(eager),
                                    title=f"Decode step (one token per sequence): {v.machine}, profile {v.profile}")
    cache = join(sorted({str(s) for s in rows.seq_len.unique()})) if not rows.empty else "none"
    return figure, no_data(rows, v.here) or (
        f"Latency of one decode step ({band_phrase(rows)}) against batch size on {v.here}: each call feeds one new "
        f"token per sequence at position {cache} of a static KV cache already holding that many tokens, so the "
        f"step's latency is the per-token latency of every sequence in the batch. Shaded where eager has a "
        f"framework-bound regime by claim (a)'s rule.")


def decode_finding(v: PageView) -> str:
    """Eager's decode step by claim (a)'s rule per model, and each runtime's tokens per second at the batch ends."""
    rows, visits = decode_rows(v), decode_visits(v)
    if no_data(rows, v.here):
        return no_data(rows, v.here)
    eager = analysis.framework_bound_regimes(visits[visits.backend == "eager"])
    ok = ok_rows(rows)
    ends = sorted({int(ok.batch_size.min()), int(ok.batch_size.max())})
    knees = knee_phrases(eager.assign(cache="cache " + eager.seq_len.astype(str)), ["model", "cache"])
    rates = []
    for batch in ends:
        at = ok[ok.batch_size == batch].sort_values("estimate_ms")
        listed = [f"{r.model} {r.backend} {sig(_tokens_per_s(batch, r.estimate_ms))}"
                  + (f" [{sig(_tokens_per_s(batch, r.high_ms))}, {sig(_tokens_per_s(batch, r.low_ms))}]"
                     if pd.notna(r.low_ms) and pd.notna(r.high_ms) else "") for r in at.itertuples()]
        rates.append(f"at batch {batch}: {join(listed)}")
    beyond = past_the_rule(visits[visits.backend == "eager"])
    return (f"**Finding.** On {v.here}, the eager decode step: "
            f"{'; '.join(knees) or 'no curve with batch 1 and 4'}. "
            + (f"Past batch {RULE_BATCH}, paired by round: {'; '.join(beyond)}. " if beyond else "")
            + f"Tokens per second (batch / step latency, interval from the step's): {'; '.join(rates)}.")


RULE_BATCH = 4  # claim (a)'s rule compares batch 4 with batch 1


def past_the_rule(visits: pd.DataFrame) -> list[str]:
    """'gpt2: T(16)/T(4) = 1.1x [1.0, 1.3], 5 rounds' per curve with a batch larger than RULE_BATCH: how the step
    grows after the rule's batch (a step that is not flat from 1 to 4 can be nearly flat beyond it)."""
    if visits.empty or not (visits.batch_size > RULE_BATCH).any() or not (visits.batch_size == RULE_BATCH).any():
        return []
    largest = int(visits.batch_size.max())
    both = visits[visits.batch_size.isin([RULE_BATCH, largest])]
    ratios = paired_ratios(both, "batch_size", largest)  # = T(largest) / T(RULE_BATCH) on the batch-4 row
    ratios = ratios[ratios.batch_size == RULE_BATCH]
    return [f"{r.model} cache {r.seq_len}: T({largest})/T({RULE_BATCH}) = "
            f"{ratio_text(r.ratio, r.ratio_low, r.ratio_high, r.rounds)}"
            for r in ratios.sort_values(["model", "seq_len"]).itertuples()]


def _tokens_per_s(batch: int, step_ms: float) -> float:
    return batch / (step_ms / 1e3) if step_ms and step_ms > 0 else math.nan


def speedup_figure(v: PageView) -> tuple[Figure, str]:
    """Each runtime's decode speedup over eager against batch size, one panel per model."""
    pairs = speedups(decode_visits(v))
    figure = plots.speedup_vs_batch(pairs, panel="model", title=f"Decode speedup over eager: {v.machine}, "
                                                                 f"profile {v.profile}")
    rows = decode_rows(v)
    small = int(rows.batch_size.min()) if not rows.empty else None
    return figure, no_data(rows, v.here) or (
        f"Eager's decode step latency divided by each runtime's at the same model, cache length and batch size on "
        f"{v.here}, paired by round (the runtimes of a shape are timed together in alternating blocks); error bars: "
        f"the ratio's 95% between-round interval. At batch {small}: "
        f"{join(speedup_phrases(pairs, small, ('model',)), 'no speedup measured')}.")


def speedup_finding(v: PageView) -> str:
    """Every decode speedup over eager with its interval, and how many of them the data calls real."""
    pairs = speedups(decode_visits(v))
    pairs = pairs[pairs.backend != "eager"] if not pairs.empty else pairs
    rows = decode_rows(v)
    if no_data(rows, v.here) or pairs.empty:
        return no_data(rows, v.here) or f"No runtime besides eager decoded ok on {v.here}."
    listed = [f"{r.model} batch {r.batch_size} {r.backend} "
              f"{ratio_text(r.speedup, r.speedup_low, r.speedup_high, r.rounds)}"
              for r in pairs.sort_values(["model", "batch_size", "backend"]).itertuples()]
    return (f"**Finding.** On {v.here}, decode speedups over eager: {'; '.join(listed)}. "
            f"{verdict_note(pairs, 'speedup_low', 'speedup_high', 'speedups')}")


def prefill_ratios(v: PageView) -> pd.DataFrame:
    """Per model, runtime, cache length and batch: the prompt pass over one decode step, paired by round (the
    two phases of one shape are timed together): how many decode steps one prefill of seq_len tokens costs."""
    visits = v.visits
    if visits.empty or "phase" not in visits:
        return pd.DataFrame()
    both = visits[visits.phase.isin(["prefill", "decode"])]
    if both.empty or both.phase.nunique() < 2:
        return pd.DataFrame()
    ratios = paired_ratios(both, "phase", "decode", curve_columns("phase", series=False))  # ratio = decode / prefill per round
    ratios = ratios[ratios.phase == "prefill"]
    return ratios.assign(ratio=1 / ratios.ratio, ratio_low=1 / ratios.ratio_high, ratio_high=1 / ratios.ratio_low)


def prefill_table(v: PageView) -> str:
    """One row per model, runtime and batch with both phases: prefill and decode-step latency with intervals,
    each per token, the paired ratio prefill / step, and a generation's share of time in the decode steps."""
    ratios = prefill_ratios(v)
    rows = ok_rows(v.frame)
    if ratios.empty or rows.empty:
        return f"No shape on {v.here} has both a prefill and a decode step measured ok."
    table = []
    for r in ratios.sort_values(["model", "backend", "batch_size"]).itertuples():
        pre, step = (_row(rows, r, phase) for phase in ("prefill", "decode"))
        if pre is None or step is None:
            continue
        generation = pre.estimate_ms + GENERATED_TOKENS * step.estimate_ms
        shape = v.visits[(v.visits.model == r.model) & (v.visits.backend == r.backend) & (v.visits.dtype == r.dtype)
                         & (v.visits.batch_size == r.batch_size) & (v.visits.seq_len == r.seq_len)]
        ratio = (f"{sig(r.ratio)}{interval_text(r.ratio_low, r.ratio_high, r.rounds)}"
                 if timed_together(shape, "prefill", "decode", "phase") else "not timed together")
        table.append((r.model, r.backend, r.batch_size, _ms(pre), sig(pre.estimate_ms / r.seq_len), _ms(step), ratio,
                      f"{GENERATED_TOKENS * step.estimate_ms / generation:.0%}"))
    seq = join(sorted({str(s) for s in ratios.seq_len}))
    return (f"Prompt of {seq} tokens (prefill) and one decode step after it, on {v.here}. Prefill per prompt "
            f"position is the call over seq_len (a position holds one token of every sequence in the batch); a "
            f"decode step makes one new token of each sequence. The last column is the share of a generation of "
            f"{GENERATED_TOKENS} new tokens spent in decode steps (prefill + {GENERATED_TOKENS} steps at this step's "
            f"latency; later steps attend over a longer cache, so it is a floor).\n\n" + markdown_table(
                ["model", "runtime", "batch", "prefill ms [95%]", "prefill ms per prompt position",
                 "decode step ms [95%]", "prefill / step (paired)", f"decode share of {GENERATED_TOKENS} tokens"],
                table))


def _row(rows: pd.DataFrame, key, phase: str) -> pd.Series | None:
    match = rows[(rows.model == key.model) & (rows.backend == key.backend) & (rows.batch_size == key.batch_size)
                 & (rows.seq_len == key.seq_len) & (rows.dtype == key.dtype) & (rows.phase == phase)]
    return None if match.empty else match.iloc[0]


def _ms(row: pd.Series) -> str:
    bounds = (f" [{sig(row.low_ms)}, {sig(row.high_ms)}]" if pd.notna(row.low_ms) and pd.notna(row.high_ms)
              else "")
    return f"{sig(row.estimate_ms)}{bounds}"


def split_figure(v: PageView) -> tuple[Figure, str]:
    """The profiler's overhead share of one decode step against batch size per runtime, one panel per model."""
    rows = decomposed(decode_rows(v))
    figure = decomposition_plots.overhead_share_vs_batch(rows, panel="model",
                                                         title=f"Overhead share of a decode step: {v.machine}")
    return figure, no_data(decode_rows(v), v.here) or (
        f"Share of one decode step's wall time outside compute kernels (the profiler's split of one separate "
        f"profiled visit, as on page 05) per runtime on {v.here}; {len(rows)} decode configs were profiled.")


def generation_finding(v: PageView) -> str:
    """The share of a generation spent outside compute: the decode steps' overhead (their profiled share times
    their latency) over prefill + GENERATED_TOKENS steps, the prefill counted as all compute and every step at the
    measured step's latency (later steps attend over a longer cache: neither is a bound on its own)."""
    rows = decomposed(decode_rows(v))
    prefill = ok_rows(_of_phase(v.frame, "prefill"))
    if rows.empty:
        return f"No decode step was profiled on {v.here}."
    listed = []
    for r in rows.sort_values(["model", "backend", "batch_size"]).itertuples():
        match = prefill[(prefill.model == r.model) & (prefill.batch_size == r.batch_size)
                        & (prefill.seq_len == r.seq_len) & (prefill.dtype == r.dtype)]
        if match.empty:
            continue
        steps = GENERATED_TOKENS * r.estimate_ms
        outside = GENERATED_TOKENS * r.decomposition_overhead_share * r.estimate_ms / (match.estimate_ms.median() + steps)
        listed.append(f"{r.model} {r.backend} batch {r.batch_size} about {outside:.0%} "
                      f"(step {r.decomposition_overhead_share:.0%} overhead)")
    return (f"**Observation** (one profiled visit per config: no between-run interval for the shares). On {v.here}, "
            f"a generation of {GENERATED_TOKENS} tokens after the prompt spends outside compute kernels: "
            f"{join(listed, 'no shape with both phases')}. The prompt pass is counted as all compute, which lowers "
            f"the share, and every step at the measured step's latency, while later steps attend over a longer cache "
            f"and cost more, which raises it: neither way is a bound.")


# --- no Python in the call: AOTInductor next to the other runtimes -------------------------------------------

def _forward_visits(v: PageView) -> pd.DataFrame:
    return _of_phase(v.visits, "forward")


def timed_together(visits: pd.DataFrame, a: str, b: str, column: str = "backend") -> bool:
    """Whether the visits of one shape with `column` == `a` and == `b` (two runtimes, or two phases) were timed
    together: in every round both visited, they were stored within TOGETHER_S seconds of each other (else a
    paired ratio would pair a round number only)."""
    if "timestamp" not in visits or "round" not in visits:
        return False
    stamps = visits.assign(_t=pd.to_datetime(visits["timestamp"], utc=True, errors="coerce"))
    by = stamps.groupby([column, "round"])["_t"].median()
    if a not in by.index.get_level_values(0) or b not in by.index.get_level_values(0):
        return False
    joined = pd.concat([by[a], by[b]], axis=1, keys=["a", "b"]).dropna()
    return not joined.empty and bool(((joined.a - joined.b).abs().dt.total_seconds() <= TOGETHER_S).all())


def floor_table(v: PageView) -> str:
    """The forward shapes with AOTInductor: each runtime's latency, parity and preparation, and its latency over
    AOTInductor's, paired by round where the two were timed together."""
    rows = ok_rows(_of_phase(v.frame, "forward"))
    visits = _forward_visits(v)
    if rows.empty or FLOOR_BACKEND not in set(rows.backend):
        return f"AOTInductor did not run ok on {v.here}."
    pairs = speedups(visits, baseline=FLOOR_BACKEND)  # speedup = aot-inductor / backend per round
    table = []
    for r in rows.sort_values("estimate_ms").itertuples():
        same = visits[(visits.model == r.model) & (visits.batch_size == r.batch_size) & (visits.seq_len == r.seq_len)]
        pair = pairs[(pairs.model == r.model) & (pairs.batch_size == r.batch_size) & (pairs.seq_len == r.seq_len)
                     & (pairs.backend == r.backend)]
        if r.backend == FLOOR_BACKEND:
            ratio = "1 (the reference)"
        elif pair.empty or not timed_together(same, r.backend, FLOOR_BACKEND):
            ratio = "not timed together"
        else:
            p = pair.iloc[0]
            ratio = ratio_text(1 / p.speedup, 1 / p.speedup_high, 1 / p.speedup_low, p.rounds)
        parity = {True: "ok", False: "differs"}.get(r.parity_ok if isinstance(r.parity_ok, bool) else None, "n/a")
        first = (pd.Timestamp(r.first_timestamp).strftime("%Y-%m-%d %H:%M UTC") if pd.notna(r.first_timestamp)
                 else "n/a")
        table.append((f"{r.model} bs {r.batch_size} seq {r.seq_len}", r.backend, _ms(pd.Series(r._asdict())), ratio,
                      parity, sig(r.prepare_s), first))
    return (f"The forward pass with no Python in the call (AOTInductor: `torch.export`, compiled ahead of time to a "
            f"shared library and run from its package) next to the other runtimes on {v.here}. A latency ratio is "
            f"paired by round only where the two runtimes were timed together (stored within {sig(TOGETHER_S)} s of "
            f"each other in every round); a runtime resumed from an earlier sweep is shown with its own interval "
            f"and date.\n\n" + markdown_table(["shape", "runtime", "latency ms [95%]", "latency / AOTInductor's",
                                               "parity vs fp32 eager", "prepare s (a cached package only loads)",
                                               "first measured"], table))


# --- how each decode record's cache took its prompt --------------------------------------------------------------

# The commit that gave eager and torch.compile one prompt pass (`ftax.run.decoding.take_prompt`); before it every
# runtime's cache took the prompt a token at a time through its own step. A record without `cache_fill` measured
# before this commit's time was measured at an older commit, so it filled that way.
PROMPT_PASS_COMMIT, PROMPT_PASS_SINCE = "ad97772", pd.Timestamp("2026-12-04T12:58:39Z")
TOKEN_AT_A_TIME = "token at a time"


def fills(visits: pd.DataFrame) -> pd.DataFrame:
    """Per decode visit, how its cache took the prompt: `cache_fill` as the record says it (`recorded` True), else
    what the code at its commit did where its time tells (before `PROMPT_PASS_COMMIT`: a token at a time), else
    None."""
    decode = _of_phase(visits, "decode")
    if decode.empty:
        return pd.DataFrame(columns=["backend", "fill", "recorded", "commit"])
    said = decode["cache_fill"] if "cache_fill" in decode else pd.Series(None, index=decode.index, dtype=object)
    older = pd.to_datetime(decode["timestamp"], utc=True, errors="coerce") < PROMPT_PASS_SINCE
    fill = said.where(said.notna(), pd.Series(TOKEN_AT_A_TIME, index=decode.index).where(older))
    commit = decode["env_git_commit"] if "env_git_commit" in decode else pd.Series("", index=decode.index)
    return pd.DataFrame({"backend": decode["backend"], "fill": fill, "recorded": said.notna(),
                         "commit": commit.fillna("").astype(str).str[:7]})


def fill_markdown(v: PageView) -> str:
    """How the decode records' caches took their prompts, counted from the records (and, for records that do not
    say, from the commit they were measured at)."""
    f = fills(v.visits)
    if f.empty:
        return f"No decode step is stored on {v.here}."
    parts = []
    for (fill, recorded), g in f.groupby([f["fill"].fillna(""), "recorded"], sort=True):
        which = f"{len(g)} of {len(f)} decode records ({join(sorted(set(g['backend'])))})"
        if recorded:
            how = f"by one {fill}" if fill == "prompt pass" else f"a {fill}"
            parts.append(f"{which} say their cache took the prompt {how}")
        elif fill:
            parts.append(f"{which} do not say; they were measured at commit {join(sorted(set(g['commit'])))}, before "
                         f"{PROMPT_PASS_COMMIT}, whose code took the prompt a {fill} through each runtime's own step")
        else:
            parts.append(f"{which} do not say, and were measured after {PROMPT_PASS_COMMIT}: this page cannot tell "
                         f"how their cache took the prompt")
    return ("Before the timed step, the cache holds a prompt of `seq_len` tokens. " + "; ".join(parts) + ". "
            "How the prompt goes in changes the cache's state, not the timed step's shape.")


def glue_page(v: PageView) -> None:
    """Glue what page 09 places: the decode and speedup figures with their findings, the roofline and per-op
    sections, the prompt pass, where a step's time goes, AOTInductor's floor and each record's cache fill."""
    from ftax.pages import decode_roofline  # the roofline reads probes and work counts (torch): only this page needs it

    glue_figure("rq5-decode", decode_figure(v), decode_finding(v))
    glue_figure("rq5-speedup", speedup_figure(v), speedup_finding(v))
    glue_markdown("rq5-roofline", decode_roofline.roofline_markdown(v))
    glue_markdown("rq5-ops", decode_roofline.ops_markdown(v))
    glue_markdown("rq5-prefill", prefill_table(v))
    glue_figure("rq5-split", split_figure(v), generation_finding(v))
    glue_markdown("rq5-floor", floor_table(v))
    glue_markdown("rq5-fill", fill_markdown(v))
