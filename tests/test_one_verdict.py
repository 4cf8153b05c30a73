"""One verdict everywhere: every page that names a claim reads the same verdict and statistic for it.

The book's text that names claims is built from a frame, the committed records and a synthetic one: the claims
page's Markdown (what its notebook glues) and each case page's `quoted(...)`, opened with only the studies that
page reads. A page names a claim's verdict as `**(x)** ...` followed by the verdict's badge and the statistic with
its interval (`MENTION`); the readings of each claim must agree on every page that names it, and with the rows of
`ftax.pages.claims.table`. A page joins the check with one line in `PAGES` (and fails it where its text names no
claim in that form). Nothing is measured.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import pytest

from fake_study import FakeStudy
from ftax.claims.verdicts import CONTRADICTED, PREMISE_NOT_MET, SUPPORTED
from ftax.pages import claims as claims_page
from ftax.pages import intro
from ftax.store.dataframe import rows_matching
from ftax.study.catalogue import STUDIES
from ftax.sweep.grids import Grid

ROOT = Path(__file__).resolve().parents[1]
# '**(e)** FP16/BF16 ... {bdg-info}`premise not met` 2.71 [1.72, 5.13]' on one line (a table's cells may sit between)
MENTION = re.compile(r"\*\*\((?P<claim>[a-h])\)\*\*(?:(?!\{bdg-|\*\*\([a-h]\)\*\*)[^\n])*"
                     r"\{bdg-[a-z]+\}`(?P<verdict>[^`]+)`[ |]*(?P<statistic>n/a|[^\s|]+(?: \[[^\]]*\]| \([^)]*\))?)")


def _case(letters: str) -> Callable[[Mapping], str]:
    """A case page's "What this means": its claims quoted from the studies that page opens."""
    return lambda studies: claims_page.quoted({s: studies[s] for s in claims_page.studies_for(letters)}, letters)


# (page, the Markdown it shows that names claims, from the studies `open_studies` returned)
PAGES: list[tuple[str, Callable[[Mapping], str]]] = [
    ("07-claims", lambda studies: "\n\n".join(claims_page.glued(studies).values())),
    ("00-intro", lambda studies: "\n\n".join(intro.texts(studies, claims_page.table(studies)).values())),
    ("01-framework-bound", _case("ae")),
    ("02-framework-paradigms", _case("b")),
    ("03-model-design", _case("cd")),
    ("04-hardware", _case("f")),
    ("05-where-time-goes", _case("g")),
    ("09-decode", _case("h")),
]


def readings(text: str) -> dict[str, Counter]:
    """Claim -> the (verdict, statistic) pairs a page's text gives it, one per row it quotes."""
    out: dict[str, Counter] = {}
    for m in MENTION.finditer(text):
        out.setdefault(m["claim"], Counter())[(m["verdict"], m["statistic"])] += 1
    return out


def check_one_verdict(studies: Mapping, pages: list[tuple[str, Callable[[Mapping], str]]] = PAGES
                      ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Every claim reads the same on every page of `pages` that names it, and as its rows of the verdict table; the
    claims page names every claim. Returns the table and, per claim, the pages that name it."""
    table = claims_page.table(studies)
    expected = {c: Counter((r["verdict"], claims_page.statistic_text(r)) for _, r in rows.iterrows())
                for c, rows in table.groupby("claim")}
    said = {page: readings(text(studies)) for page, text in pages}
    silent = [page for page, got in said.items() if not got]
    assert not silent, f"{silent} name no claim's verdict as `MENTION` reads it"
    named = {}
    for claim, want in expected.items():
        named[claim] = [page for page, got in said.items() if claim in got]
        assert "07-claims" in named[claim], f"the claims page does not name claim ({claim})"
        differ = {page: dict(got[claim]) for page, got in said.items() if claim in got and got[claim] != want}
        assert not differ, f"claim ({claim}) reads {dict(want)} in the table but {differ}"
    return table, named


def test_every_page_reads_the_same_verdict_on_the_committed_records():
    from ftax.study.studies import open_studies  # open_studies never measures

    table, named = check_one_verdict(open_studies(STUDIES, "quick", "auto", ROOT / "results"))
    assert set(table["claim"]) == set(named) == set(claims_page.CLAIM_STUDY)
    assert all(len(pages) >= 2 for pages in named.values()), named


# --- a synthetic book: each study its own grids, two machines ------------------------------------------------

ROUND_STATE = (1.0, 1.3, 0.8)
BATCHES = (1, 2, 4, 8)
WIDTHS, DEPTHS = (128, 256, 512), (2, 4, 8)
GRIDS = {
    "framework-bound": [Grid("batch", ("bert-tiny",), batch_sizes=BATCHES, device="cpu"),
                        Grid("half", ("bert-tiny",), dtypes=("fp32", "fp16", "bf16"), device="cpu")],
    "paradigms": [Grid("paradigms", ("bert-tiny",), backends=("eager", "torchscript", "onnxruntime"),
                       batch_sizes=(1, 64), device="cpu")],
    "model-design": [Grid("width-depth", ("bert-base",), seq_lens=(32,), device="cpu",
                          overrides=tuple((("depth", d), ("width", w)) for w in WIDTHS for d in DEPTHS)),
                     Grid("efficient", ("bert-base", "distilbert", "squeezebert", "mobilebert"), seq_lens=(32,),
                          device="cpu")],
    "hardware": [Grid("batch", ("bert-tiny",), batch_sizes=BATCHES, device="cpu")],
    "where-time-goes": [Grid("split", ("bert-tiny",), device="cpu")],
    # page 08's grid: bf16 at a short sequence, faster than fp32 here; (e) must not read it
    "tax-model": [Grid("tax-smallest", ("bert-tiny",), dtypes=("fp32", "bf16"), seq_lens=(16,), device="cpu")],
    "decode": [Grid("decode", ("gpt2",), batch_sizes=(1, 4), phases=("decode",), device="cpu")],
    "ledger": [Grid("ledger", ("bert-tiny",), backends=("eager", "torchscript", "onnxruntime"), seq_lens=(16,),
                    device="cpu")],
}


def _latency(model: str, backend: str, dtype: str, batch: int, seq: int, overrides: dict, t4: float) -> float:
    """The synthetic machine's latency: a batch curve with T(4)/T(1) = t4, static runtimes that disagree on (b),
    half precision slower at seq 128 and faster at seq 16, width and depth each costing 1.5x per doubling."""
    if overrides:
        return 1.5 ** np.log2(overrides["width"] / 128) * 1.5 ** np.log2(overrides["depth"] / 2)
    base = {"bert-base": 10.0, "distilbert": 5.0, "squeezebert": 12.0, "mobilebert": 4.0}.get(model, 1.0)
    growth = {1: 1.0, 2: (1 + t4) / 2, 4: t4, 8: 2 * t4, 64: 40.0}[batch]
    speedup = {("torchscript", 1): 2.0, ("onnxruntime", 64): 2.0}.get((backend, batch), 1.0)
    half = 1.0 if dtype == "fp32" else (0.5 if seq == 16 else 2.0)
    return base * growth * half / speedup


@pytest.fixture(scope="module")
def synthetic() -> dict[str, FakeStudy]:
    return synthetic_studies()


def synthetic_studies() -> dict[str, FakeStudy]:
    """Every study of the catalogue on two machines: 'steep' (no flat curve) and 'flat' (T(4)/T(1) = 1)."""
    rng = np.random.default_rng(0)
    configs = list(dict.fromkeys(c for grids in GRIDS.values() for g in grids for c in g.configs()))
    rows = []
    for machine, t4 in (("steep", 1.8), ("flat", 1.0)):
        for r, state in enumerate(ROUND_STATE):
            for c in configs:
                over = dict(c.overrides)
                ms = _latency(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, over, t4) * state
                ms *= np.exp(rng.normal(0.0, 0.02))
                rows.append(dict(model=c.model, backend=c.backend, dtype=c.dtype, device="cpu",
                                 batch_size=c.batch_size, seq_len=c.seq_len, overrides=json.dumps(over, sort_keys=True),
                                 width=over.get("width"), depth=over.get("depth"),
                                 phase=c.phase, machine_id=machine, machine_label=f"{machine.title()} CPU (CPU)",
                                 status="ok", message="", median_ms=ms, ci_low_ms=ms * 0.99, ci_high_ms=ms * 1.01,
                                 round=r, rule="quick/3", schema_version=2, env_torch_version="2.0",
                                 decomposition_overhead_share=0.6 if machine == "flat" else 0.4,
                                 decomposition_method="cpu-compute-ops",
                                 timestamp=pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=r)))
    everything = pd.DataFrame(rows)
    return {s: FakeStudy(rows_matching(everything, [c for g in GRIDS[s] for c in g.configs()]), GRIDS[s],
                         machine_id="steep", all=everything) for s in STUDIES}


def test_every_page_reads_the_same_verdict_on_a_synthetic_book(synthetic):
    table, named = check_one_verdict(synthetic)
    assert all(len(pages) >= 2 for pages in named.values()), named
    table = table.set_index(["claim", "machine_id", "runtime"])
    # the synthetic book has what the committed records lack: a flat machine, runtimes that disagree
    assert table.loc[("c", "steep", ""), "verdict"] == PREMISE_NOT_MET
    assert table.loc[("c", "flat", ""), "verdict"] != PREMISE_NOT_MET
    assert table.loc[("e", "flat", ""), "verdict"] == SUPPORTED  # its own grid (seq 128), not page 08's seq 16
    assert table.loc[("b", "flat", "torchscript"), "verdict"] == SUPPORTED
    assert table.loc[("b", "flat", "onnxruntime"), "verdict"] == CONTRADICTED


def test_the_check_fails_where_a_page_quotes_another_verdict(synthetic):
    studies = synthetic
    table = claims_page.table(studies)
    row = table[table["claim"] == "e"].iloc[0]
    wrong = row.copy()
    wrong["verdict"] = CONTRADICTED if row["verdict"] != CONTRADICTED else SUPPORTED
    text = claims_page.table_markdown(pd.DataFrame([wrong]))
    assert readings(text)["e"] != Counter([(row["verdict"], claims_page.statistic_text(row))])
    with pytest.raises(AssertionError, match=r"claim \(e\) reads"):
        check_one_verdict(studies, [*PAGES[:2], ("a page quoting another verdict", lambda s: text)])


def test_quoted_reads_as_the_claims_table_row(synthetic):
    studies = synthetic
    table = claims_page.table(studies)
    table_lines = claims_page.table_markdown(table).splitlines()[2:]
    for letters in ("ae", "b", "cd"):
        lines = [line for line in claims_page.quoted(studies, letters).splitlines() if line.startswith("- **(")]
        rows = table[table["claim"].isin(list(letters))]
        assert len(lines) == len(rows)
        for line, (_, row) in zip(lines, rows.iterrows()):
            cell = next(t for t in table_lines if t.startswith(f"| **({row['claim']})** ")
                        and f"| {claims_page._where(row)} |" in t)
            shown = f"{claims_page.verdict_badge(row['verdict'])} {claims_page.statistic_text(row)}"
            assert f"on {claims_page._where(row)}: {shown}: " in line
            assert f"| {claims_page.verdict_badge(row['verdict'])} | {claims_page.statistic_text(row)} |" in cell
    with pytest.raises(ValueError, match="premise"):
        claims_page.quoted({"model-design": studies["model-design"]}, "cd")
