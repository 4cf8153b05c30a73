"""Then and now (07-claims): each of the paper's claims with this data's verdict per machine.

It also builds the verdict sentences that the other pages and the intro quote.

The verdicts are `ftax.claims.table.evaluate` on the visits the case-study pages show (`visits`: every study's
grids, each config's newest series, every machine), so a claim's row here and the pages' sentences judge
the same records. Functions return Markdown; `table` is the one computation a page makes.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from typing import Mapping

import pandas as pd

from ftax.claims import table as claims
from ftax.claims.verdicts import NO_INTERVAL, VERDICTS
from ftax.read.estimates import newest_series
from ftax.store.dataframe import rows_matching
from ftax.read.rows import with_columns
from ftax.read.text import join, markdown_table, plural, sig

# claim -> (page, section) where its figure is: the link in the table.
SHOWN_ON = {
    "a": ("01-framework-bound", "Latency against batch size"),
    "b": ("02-framework-paradigms", "Speedup over eager"),
    "c": ("03-model-design", "Width and depth"),
    "d": ("03-model-design", "Efficient architectures"),
    "e": ("01-framework-bound", "Latency against batch size, half precision"),
    "f": ("04-hardware", "Where each machine leaves the flat regime"),
    "g": ("05-where-time-goes", "Busy time and overhead; On a GPU"),
    "h": ("09-decode", "Per-token latency against batch size"),
}
CLAIMS_PAGE = "07-claims"


def visits(studies: Mapping[str, object]) -> pd.DataFrame:
    """Every visit of the studies' grids, once (studies share configs), of each config's newest series:
    what the case-study pages show, on every machine. `studies` maps a study to what `open_study` returned."""
    data = list(studies.values())
    everything = data[0].all if data else None
    if everything is None or everything.empty:
        return pd.DataFrame()
    configs = [c for d in data for g in d.grid_rows for c in g.configs]
    return newest_series(rows_matching(with_columns(everything), configs))


def table(studies: Mapping[str, object]) -> pd.DataFrame:
    """The claims table (`ftax.claims.table.evaluate`) on `visits(studies)`: one row per claim and machine."""
    return claims.evaluate(visits(studies))


def summary(verdicts: pd.DataFrame, studies: Mapping[str, object]) -> str:
    """What the verdicts rest on (visits, machines, profile) and how many claims each verdict got."""
    data = next(iter(studies.values()), None)
    shown = visits(studies)
    machines = sorted(shown["machine_label"].dropna().unique()) if not shown.empty else []
    counts = verdicts["verdict"].value_counts()
    tally = join([f"{plural(int(counts[v]), 'row')} {v}" for v in VERDICTS if v in counts], "no rows")
    where = f"`{data.results_dir}`, profile `{data.profile}`" if data is not None else "no records"
    return (f"Computed when this page was built from the {len(shown)} visits of the case studies' grids in {where}, "
            f"on {plural(len(machines), 'machine')} ({join([f'**{m}**' for m in machines], 'none')}): {tally}.")


def _num(x: float) -> str:
    return "inf" if x == math.inf else sig(x)


def _statistic(row: Mapping) -> str:
    """'1.62 [1.51, 1.74]', '1.62 (one round: no between-run interval)', or 'n/a' (not testable)."""
    if pd.isna(row["statistic"]):
        return "n/a"
    if pd.isna(row["low"]) or pd.isna(row["high"]):
        return f"{_num(row['statistic'])} ({NO_INTERVAL})"
    return f"{_num(row['statistic'])} [{_num(row['low'])}, {_num(row['high'])}]"


def _where(row: Mapping) -> str:
    return str(row.get("machine_label") or row.get("machine_id") or "no machine")


def verdict_badge(verdict: str) -> str:
    """A verdict as the pages show it: bold (the claims page's coloured badge replaces this)."""
    return f"**{verdict}**"


def threshold_text(claim: str) -> str:
    """'T(4)/T(1) <= 1.25': the statistic and the threshold a claim is held to."""
    statistic, value, _ = claims.THRESHOLDS[claim]
    return f"{statistic} {sig(value)}"


def table_markdown(verdicts: pd.DataFrame) -> str:
    """One row per claim: the paper's statement (paraphrased), the verdict, statistic and interval per machine,
    the threshold, and the page that shows it."""
    rows = []
    for claim in claims.CLAIMS:
        mine = [r for _, r in verdicts[verdicts["claim"] == claim].iterrows()]
        page, section = SHOWN_ON[claim]
        rows.append((f"({claim}) {claims.CLAIMS[claim]}",
                     "; ".join(f"**{r['verdict']}** on {_where(r)}" for r in mine) or "no rows",
                     "; ".join(_statistic(r) for r in mine) or "n/a", threshold_text(claim),
                     f"{{doc}}`{page}` ({section})"))
    return markdown_table(["claim (a)-(g) the paper's, (h) ours", "verdict here", "statistic [95% interval]",
                           "threshold", "shown on"], rows)


def thresholds_markdown() -> str:
    """Each claim's threshold with its one-line reason (`ftax.claims.table.THRESHOLDS`)."""
    return "\n".join(f"- ({c}) {threshold_text(c)}: {reason}." for c, (_, _, reason) in claims.THRESHOLDS.items())


def sentences(verdicts: pd.DataFrame, letters: str = "abcdefgh") -> list[str]:
    """The verdict sentence (`ftax.claims.table.verdict_sentence`) of each row of the claims in `letters`."""
    return [claims.verdict_sentence(r) for _, r in verdicts[verdicts["claim"].isin(list(letters))].iterrows()]


def sentences_markdown(verdicts: pd.DataFrame) -> str:
    """Every row's sentence: what was compared, on what, with which number (the deciding test)."""
    return "\n".join(f"- {s}" for s in sentences(verdicts)) or "No claim could be evaluated."


def on_page(page_visits: pd.DataFrame, letters: str) -> str:
    """Markdown for a page's "What this means": the verdicts of the claims in `letters` on the visits that page
    shows, one sentence per machine, and the link to every claim on every machine (07-claims pools every study's
    visits, so its verdict can differ from one page's: say which records each rests on)."""
    rows = pd.DataFrame([asdict(r) for c in letters for r in claims.CLAIM_FUNCTIONS[c](page_visits)])
    said = sentences(rows, letters) if not rows.empty else []
    link = (f" Every claim, on every machine, judged on all the book's records (which may decide a claim "
            f"differently from this page's alone): {{doc}}`{CLAIMS_PAGE}`.")
    return "On this page's records: " + (" ".join(said) or "no claim could be evaluated here.") + link
