"""What `ftax compare` prints: a comparison as a text table, as Markdown for a PR comment, or as JSON.

Read layer: formats a `ftax.read.compare.Comparison`; never measures, never writes.
"""
from __future__ import annotations

import json
import math

import pandas as pd

from ftax.read.compare import VERDICTS, Comparison
from ftax.read.text import markdown_table, sig

_FIELDS = ("model", "backend", "dtype", "batch_size", "seq_len", "phase", "overrides", "device_kind")


def config_label(row: pd.Series) -> str:
    """One config's identity in a few words: model backend dtype b<batch> s<seq>, then what is not the default."""
    words = [str(row["model"]), str(row["backend"]), str(row["dtype"]), f"b{row['batch_size']}", f"s{row['seq_len']}"]
    if row.get("phase", "forward") not in ("forward", None):
        words.append(str(row["phase"]))
    if row.get("overrides") not in (None, "{}"):
        words.append(str(row["overrides"]))
    if "device_kind" in row:
        words.append(str(row["device_kind"]))
    return " ".join(words)


def _interval(low: float, high: float) -> str:
    return "no interval" if not (math.isfinite(low) and math.isfinite(high)) else f"[{low:.2f}, {high:.2f}]"


def _detectable(row: pd.Series) -> str:
    """The smallest change a config's interval could show, as a percentage (blank without an interval)."""
    return "" if not math.isfinite(row["min_detectable"]) else f"{row['min_detectable']:.0%}"


def _config_cells(row: pd.Series) -> list[str]:
    return [config_label(row), sig(row["ms_a"]), sig(row["ms_b"]), f"{row['ratio']:.2f}",
            _interval(row["low"], row["high"]), _detectable(row), row["verdict"]]


def _summary_cells(row: pd.Series) -> list[str]:
    counts = ", ".join(f"{row[v]} {v}" for v in VERDICTS if row[v])
    return [f"{row['by']} {row['group']}", str(row["configs"]), f"{row['ratio']:.2f}",
            _interval(row["low"], row["high"]), counts]


_CONFIG_HEADER = ["config", "A ms", "B ms", "B/A", "interval", "detectable", "verdict"]
_SUMMARY_HEADER = ["group", "configs", "B/A (geo. mean)", "interval", "verdicts"]


def heading(c: Comparison) -> str:
    """How many configs matched and on what, the interval level, and what 'detectable' means: one paragraph."""
    level = f"{c.confidence:.0%} family-wise (Sidak over {c.corrected_over} configs)"
    unmatched = f"; {c.only_a} only on A, {c.only_b} only on B" if c.only_a or c.only_b else ""
    return (f"{len(c.rows)} configs matched on {', '.join(c.identity)}{unmatched}. Intervals {level}; "
            f"'detectable' is the smallest change each could show (asked: {c.min_change:.0%}).")


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *rows])


def text(c: Comparison) -> str:
    """The terminal view: one line per config, then the summaries, the differences and the notes."""
    parts = [heading(c), _aligned(_CONFIG_HEADER, [_config_cells(r) for _, r in c.rows.iterrows()]),
             _aligned(_SUMMARY_HEADER, [_summary_cells(r) for _, r in c.summary.iterrows()]),
             "A -> B: " + ("; ".join(c.differences) or "no fingerprint differs"), *c.notes]
    return "\n\n".join(parts)


def verdict_counts(c: Comparison) -> str:
    """The configs per verdict, in `VERDICTS` order, those with none left out: "3 faster, 9 too noisy"."""
    counts = c.rows["verdict"].value_counts()
    return ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts)


def configs_markdown(c: Comparison) -> str:
    """The per-config table as Markdown, changed configs first (by verdict, then largest ratio)."""
    order = c.rows.assign(_rank=c.rows["verdict"].map({v: i for i, v in enumerate(VERDICTS)})).sort_values(
        ["_rank", "ratio"], ascending=[True, False])
    return markdown_table(_CONFIG_HEADER, [_config_cells(r) for _, r in order.iterrows()])


def summary_markdown(c: Comparison) -> str:
    """The summaries per runtime and per model family as one Markdown table."""
    return markdown_table(_SUMMARY_HEADER, [_summary_cells(r) for _, r in c.summary.iterrows()])


def markdown(c: Comparison) -> str:
    """The same as Markdown for a pull-request comment: changed configs first, then the summaries."""
    return "\n\n".join([
        f"### ftax compare: {verdict_counts(c)}", heading(c), configs_markdown(c), summary_markdown(c),
        "**A -> B:** " + ("; ".join(f"`{d}`" for d in c.differences) or "no fingerprint differs"),
        *[f"_{note}_" for note in c.notes]])


def regressions_line(worse: pd.DataFrame, pct: float) -> str:
    """The one line `--fail-on-regression` prints: how many configs are surely slower than 1 + pct / 100, and which."""
    named = "; ".join(f"{config_label(r)} {r['ratio']:.2f}x {_interval(r['low'], r['high'])}"
                      for _, r in worse.iterrows())
    return f"ftax: {len(worse)} configs slower by more than {pct:g}%: {named}"


def _plain(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


def to_json(c: Comparison) -> str:
    """One object: `configs` (identity, `a_ms`, `b_ms`, `ratio`, `low`, `high`, `verdict`, `min_detectable`, rounds,
    `p_adjusted`), `summary`, `differences`, `notes` and the correction."""
    configs = [{**{k: _plain(r[k]) for k in _FIELDS if k in r}, "a_ms": _plain(r["ms_a"]), "b_ms": _plain(r["ms_b"]),
                "rounds_a": _plain(r["k_a"]), "rounds_b": _plain(r["k_b"]),
                **{k: _plain(r[k]) for k in ("ratio", "low", "high", "verdict", "min_detectable", "p_adjusted")}}
               for _, r in c.rows.iterrows()]
    summary = [{k: _plain(v) for k, v in r.items()} for _, r in c.summary.iterrows()]
    return json.dumps({"configs": configs, "summary": summary, "differences": c.differences, "notes": c.notes,
                       "confidence": c.confidence, "correction": "sidak", "corrected_over": c.corrected_over,
                       "min_change": c.min_change, "only_a": c.only_a, "only_b": c.only_b}, indent=1)


_AB_HEADER = ["config", "rounds", "B/A (paired)", "interval", "detectable", "verdict"]


def _ab_cells(row: pd.Series) -> list[str]:
    return [config_label(row), str(row["rounds"]), f"{row['ratio']:.3f}", _interval(row["low"], row["high"]),
            _detectable(row), row["verdict"]]


def _ab_footer(table: pd.DataFrame, run: str) -> str:
    counts = table["verdict"].value_counts()
    level = f"{table['confidence'].max():.4f}" if not table.empty else "-"
    return (", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS) +
            f"; each interval at level {level} (Sidak over the configs); {run}")


def ab_text(table: pd.DataFrame, run: str) -> str:
    """`ftax compare --run` in a terminal: one line per config (B over A paired by round), the counts, the run."""
    return _aligned(_AB_HEADER, [_ab_cells(r) for _, r in table.iterrows()]) + "\n\n" + _ab_footer(table, run)


def ab_markdown(table: pd.DataFrame, run: str) -> str:
    """`ftax compare --run --markdown`: the same as a Markdown table, for a PR comment."""
    return markdown_table(_AB_HEADER, [_ab_cells(r) for _, r in table.iterrows()]) + "\n\n" + _ab_footer(table, run)
