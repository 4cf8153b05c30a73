"""Then and now (07-claims): each claim's verdict per machine, computed once for every page that quotes it.

A claim reads its own case study's grids (`CLAIM_STUDY`: each config's newest series, every machine), and the
claims made about a framework-bound model also read claim (a)'s (`studies_for`); `table` is the one computation of
every verdict, so the claims page, the intro and every case page (`quoted`) read the same rows. Functions return
Markdown.
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from ftax.claims import table as claims
from ftax.claims.verdicts import (CONTRADICTED, INCONCLUSIVE, NO_INTERVAL, NOT_TESTABLE, PREMISE_NOT_MET, SUPPORTED,
                                  VERDICTS)
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
# claim -> the case study (`ftax/study/catalogue.yaml`) whose grids are its inputs
CLAIM_STUDY = {"a": "framework-bound", "b": "paradigms", "c": "model-design", "d": "model-design",
               "e": "framework-bound", "f": "hardware", "g": "where-time-goes", "h": "decode"}
PREMISE_STUDY = CLAIM_STUDY["a"]
CLAIMS_PAGE = "07-claims"
# sphinx-design's badge role per verdict: one colour per verdict on every page
BADGE = {SUPPORTED: "success", CONTRADICTED: "danger", INCONCLUSIVE: "warning", NOT_TESTABLE: "muted",
         PREMISE_NOT_MET: "info"}


def studies_for(letters: str) -> list[str]:
    """The studies the claims in `letters` read: their own, and claim (a)'s where one is made about a framework-bound
    model (its premise)."""
    own = [CLAIM_STUDY[c] for c in letters]
    premise = [PREMISE_STUDY] if any(c in claims.PREMISED for c in letters) else []
    return list(dict.fromkeys(own + premise))


def study_visits(data) -> pd.DataFrame:
    """A study's visits (what `open_study` returned), each config's newest series, every machine: a claim's input."""
    return pd.DataFrame() if data.frame.empty else newest_series(with_columns(data.frame)).reset_index(drop=True)


def visits(studies: Mapping[str, object]) -> pd.DataFrame:
    """Every visit the claims read, once (studies share configs), of each config's newest series, on every
    machine. `studies` maps a study to what `open_study` returned."""
    data = [studies[s] for s in dict.fromkeys(CLAIM_STUDY.values()) if s in studies]
    everything = data[0].all if data else None
    if everything is None or everything.empty:
        return pd.DataFrame()
    configs = [c for d in data for g in d.grid_rows for c in g.configs]
    return newest_series(rows_matching(with_columns(everything), configs))


def table(studies: Mapping[str, object], letters: str = "".join(CLAIM_STUDY)) -> pd.DataFrame:
    """The one verdict frame (`ftax.claims.table.evaluate_claims`) of the claims in `letters` whose study is in
    `studies`: each claim on its study's visits (`study_visits`), the premise on claim (a)'s; one row per claim and
    machine, and per runtime where runtimes disagree. Raises ValueError where a claim about a framework-bound model
    is asked for without claim (a)'s study: its verdict would differ from the claims page's."""
    present = [c for c in letters if CLAIM_STUDY[c] in studies]
    if PREMISE_STUDY not in studies and any(c in claims.PREMISED for c in present):
        raise ValueError(f"claims {', '.join(claims.PREMISED)} need the {PREMISE_STUDY!r} study for their premise: "
                         "open the studies of `studies_for(letters)`")
    read = {s: study_visits(studies[s]) for s in dict.fromkeys(CLAIM_STUDY[c] for c in present)}
    premise = study_visits(studies[PREMISE_STUDY]) if PREMISE_STUDY in studies else None
    return claims.evaluate_claims({c: read[CLAIM_STUDY[c]] for c in present}, premise)


def summary(verdicts: pd.DataFrame, studies: Mapping[str, object]) -> str:
    """What the verdicts rest on (visits, machines, profile) and how many rows each verdict got."""
    data = next(iter(studies.values()), None)
    shown = visits(studies)
    machines = sorted(shown["machine_label"].dropna().unique()) if not shown.empty else []
    counts = verdicts["verdict"].value_counts()
    tally = join([f"{plural(int(counts[v]), 'row')} {v}" for v in VERDICTS if v in counts], "no rows")
    where = f"`{data.results_dir}`, profile `{data.profile}`" if data is not None else "no records"
    return (f"Computed when this page was built from the {len(shown)} visits of the case studies' grids in {where}, "
            f"on {plural(len(machines), 'machine')} ({join([f'**{m}**' for m in machines], 'none')}): {tally}.")


def verdict_badge(verdict: str) -> str:
    """The verdict as a sphinx-design badge, coloured by verdict: {bdg-success}`supported`."""
    return f"{{bdg-{BADGE.get(verdict, 'secondary')}}}`{verdict}`"


def _num(x: float) -> str:
    return "inf" if x == math.inf else sig(x)


def _interval(low: float, high: float) -> str:
    return f"[{_num(low)}, {_num(high)}]" if not (pd.isna(low) or pd.isna(high)) else NO_INTERVAL


def statistic_text(row: Mapping) -> str:
    """'1.62 [1.51, 1.74]', '1.62 (one round: no between-run interval)', or 'n/a' (not testable): a row's statistic
    as every page writes it."""
    if pd.isna(row["statistic"]):
        return "n/a"
    shown = _interval(row["low"], row["high"])
    return f"{_num(row['statistic'])} " + (shown if shown.startswith("[") else f"({shown})")


def _where(row: Mapping) -> str:
    where = str(row.get("machine_label") or row.get("machine_id") or "no machine")
    return where + (f", {row['runtime']}" if row.get("runtime") else "")


def _label(claim: str) -> str:
    """'**(a)** eager latency is flat at small batch': how a page names a claim before quoting its verdict."""
    return f"**({claim})** {claims.CLAIM_TITLES[claim]}"


def threshold_text(claim: str) -> str:
    """'T(4)/T(1) <= 1.25': the statistic and the threshold a claim is held to."""
    statistic, value, _ = claims.THRESHOLDS[claim]
    return f"{statistic} {sig(value)}"


def _held_to(row: Mapping) -> str:
    """'T(4)/T(1) <= 1.25': the quoted test's statistic and threshold, or the claim's where no test ran."""
    return row["tests"][row["deciding"]].bound() if row["deciding"] >= 0 else threshold_text(row["claim"])


def table_markdown(verdicts: pd.DataFrame) -> str:
    """One row per claim and machine (and runtime where they disagree): the claim with the page that shows its
    records, the verdict, the deciding statistic with its interval, and the threshold it is held to."""
    rows = [(f"{_label(r['claim'])} ({{doc}}`page {SHOWN_ON[r['claim']][0][:2]} <{SHOWN_ON[r['claim']][0]}>`)",
             _where(r), verdict_badge(r["verdict"]), statistic_text(r), _held_to(r))
            for c in claims.CLAIMS for _, r in verdicts[verdicts["claim"] == c].iterrows()]
    return markdown_table(["claim ((h) is ours)", "on", "verdict", "statistic [95% interval]", "held to"], rows)


def premise_markdown(verdicts: pd.DataFrame) -> str:
    """Each machine where the claims made about a framework-bound model lack their premise, with the reason."""
    missing = verdicts[verdicts["premise"].fillna("") != ""]
    said = {}
    for _, r in missing.iterrows():
        said.setdefault(r["premise"], []).append(f"({r['claim']})")
    return "\n".join(f"- {PREMISE_NOT_MET.capitalize()} for {join(list(dict.fromkeys(c)))}: {reason}."
                     for reason, c in said.items())


def _test_rows(r: Mapping) -> list[tuple]:
    return [(_where(r), f"{t.name}: {t.what}{t.note}", _num(t.statistic), _interval(t.low, t.high), t.rounds or "",
             verdict_badge(t.verdict()) + (" (quoted)" if i == r["deciding"] else ""))
            for i, t in enumerate(r["tests"])]


def tests_markdown(verdicts: pd.DataFrame) -> str:
    """Every test of every claim, folded per claim: the claim's statement and its threshold with the reason for it,
    then one table row per test and machine (what each test alone says), and the reason of each row without one."""
    parts = []
    for c in claims.CLAIMS:
        mine = [r for _, r in verdicts[verdicts["claim"] == c].iterrows()]
        tests = [t for r in mine for t in _test_rows(r)]
        lacking = [f"- {_where(r)}: {r['why']}." for r in mine if not len(r["tests"])]
        body = [claims.CLAIMS[c], f"Held to {threshold_text(c)}: {claims.THRESHOLDS[c][2]}."]
        if tests:
            body.append(markdown_table(["on", "test", "statistic", "95% interval", "rounds", "test's verdict"], tests))
        body += ["\n".join(lacking)] if lacking else []
        parts.append(f":::{{dropdown}} ({c}) {claims.CLAIM_TITLES[c]}: {plural(len(tests), 'test')}\n"
                     + "\n\n".join(body) + "\n:::")
    return "\n\n".join(parts)


def glued(studies: Mapping[str, object]) -> dict[str, str]:
    """The claims page's Markdown, by the glue key its notebook places it under: what the page shows."""
    verdicts = table(studies)
    return {"claims-table": table_markdown(verdicts), "claims-premise": premise_markdown(verdicts) or
            "On every machine here, claim (a)'s rule finds a framework-bound regime: (c), (d) and (e) are judged.",
            "claims-tests": tests_markdown(verdicts),
            "claims-summary": summary(verdicts, studies)}


def _quote(r: Mapping) -> str:
    test = r["tests"][r["deciding"]] if r["deciding"] >= 0 else None
    what = f": {test.what}, {test.name} ({test.rule()})" if test else f": {r['why']}"
    n = len(r["tests"])
    every = f" {{doc}}`{f'All {n} tests' if n > 1 else 'Its test'} <{CLAIMS_PAGE}>`." if n else ""
    return f"- {_label(r['claim'])}, on {_where(r)}: {verdict_badge(r['verdict'])} {statistic_text(r)}{what}.{every}"


def quoted(studies: Mapping[str, object], letters: str) -> str:
    """A case page's "What this means" for the claims in `letters`: per row of `table(studies)`, the verdict (badge),
    the deciding statistic with its interval and the link to every test on the claims page; then, once, the reason
    of each machine where a claim's premise is not met. `studies` needs `studies_for(letters)`."""
    verdicts = table(studies, letters)
    said = "\n".join(_quote(r) for _, r in verdicts.iterrows()) or "No claim could be evaluated."
    premise = premise_markdown(verdicts)
    return said + (f"\n\n{premise}" if premise else "")


def glue_quoted(studies: Mapping[str, object], letters: str) -> None:
    """Glue `quoted(studies, letters)` as `verdicts`: what a case page's "What this means" places."""
    from ftax.pages import glue_markdown

    glue_markdown("verdicts", quoted(studies, letters))


def glue_page(studies: Mapping[str, object]) -> None:
    """Glue the claims page's Markdown (`glued`), each under the key its notebook places it."""
    from ftax.pages import glue_markdown

    for key, markdown in glued(studies).items():
        glue_markdown(key, markdown)
