"""The intro (`ftax.pages.intro`, notebooks/00-intro.ipynb): its prose fits the page's budget on the committed records
and on a hand-built frame, its summary table quotes the verdict frame cell for cell, and the tax it states is the
paired speedup of the records. Cheap: the functions' Markdown, no book build; nothing is measured."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ftax.figures import summary_plot
from ftax.pages import claims as claims_page
from ftax.pages import intro
from ftax.study.catalogue import STUDIES
from ftax.sweep.grids import Grid
from fake_study import FakeStudy

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00-intro.ipynb"
MAX_WORDS, MAX_PARAGRAPH = 600, 80
LABEL = "Test CPU (CPU)"
BATCHES = (1, 2, 4, 8, 16)
ROUND_STATE = (1.0, 1.3, 0.8)  # the machine's state per round: cancels in a paired ratio
SPEEDUPS = {"eager": 1.0, "onnxruntime": 2.0, "torchscript": 1.25}
GRID = Grid("batch", models=("bert-tiny",), backends=tuple(SPEEDUPS), batch_sizes=BATCHES, seq_lens=(128,),
            device="cpu")


def _visits(seed: int = 0) -> pd.DataFrame:
    """bert-tiny eager T(b) = 2 ms x b^0.8 (never flat), each runtime `SPEEDUPS` times faster, in 3 rounds."""
    jitter = np.random.default_rng(seed).normal(0.0, 0.02, size=(3, len(BATCHES), len(SPEEDUPS)))
    rows = []
    for r in range(3):
        for i, b in enumerate(BATCHES):
            for j, (backend, speedup) in enumerate(SPEEDUPS.items()):
                ms = 2.0 * b ** 0.8 / speedup * ROUND_STATE[r] * np.exp(jitter[r, i, j])
                rows.append(dict(model="bert-tiny", backend=backend, dtype="fp32", device="cpu", batch_size=b,
                                 seq_len=128, overrides="{}", machine_id="m1", machine_label=LABEL, status="ok",
                                 message="", median_ms=ms, ci_low_ms=ms * 0.99, ci_high_ms=ms * 1.01, round=r,
                                 rule="quick/3", schema_version=2, env_torch_version="2.0", parity_ok=True,
                                 prepare_s=0.1, flops=1e6 * b,
                                 timestamp=pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=r)))
    return pd.DataFrame(rows)


def _synthetic() -> dict[str, FakeStudy]:
    frame = _visits()
    return {s: FakeStudy(frame, [GRID], machine_id="m1", all=frame) for s in STUDIES}


@pytest.fixture(scope="module")
def committed():
    """The committed records, as the page opens them (measure=False)."""
    from ftax.study.studies import open_studies

    studies = open_studies(STUDIES, "quick", "auto", str(ROOT / "results"))
    return studies, claims_page.table(studies)


# --- prose: what a reader counts --------------------------------------------------------------------------

def _title(target: str) -> str:
    """The title a {doc} link renders as: the page's first heading."""
    name = target.split("/")[-1]
    path = ROOT / "notebooks" / f"{name}.ipynb"
    if path.exists():
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    else:
        first = (ROOT / "book" / f"{name}.md").read_text()
    return next(line for line in first.splitlines() if line.startswith("# "))[2:]


def _rendered(markdown: str) -> str:
    """Markdown as its visible prose reads: links as their titles, the citation as its author-year, no tables and
    no figure blocks (captions are not prose)."""
    markdown = re.sub(r"```\{glue:figure\}.*?```", "", markdown, flags=re.S)
    markdown = "\n".join(line for line in markdown.splitlines() if not line.lstrip().startswith("|"))
    markdown = re.sub(r"\{doc\}`([^`]+)`", lambda m: _title(m.group(1)), markdown)
    return re.sub(r"\{cite:t\}`[^`]+`", "Fernandez et al. [2023]", markdown)


def _page(texts: dict[str, str]) -> str:
    """The intro's Markdown as the book shows it: the notebook's Markdown cells with every glued text in place."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    page = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    glued = r"```\{glue:md\} ([\w-]+)\n:format: myst\n```"
    assert set(re.findall(glued, page)) == set(texts), "every text the page computes is placed once, and only those"
    return _rendered(re.sub(glued, lambda m: texts[m.group(1)], page))


def _paragraphs(page: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", page) if p.strip() and not p.lstrip().startswith("#")]


def _check_budget(texts: dict[str, str]) -> int:
    page = _page(texts)
    words = len(page.split())
    assert words <= MAX_WORDS, f"{words} words of prose"
    for p in _paragraphs(page):
        assert len(p.split()) <= MAX_PARAGRAPH, f"{len(p.split())} words: {p}"
    return words


def test_the_intro_fits_its_budget_on_the_committed_records(committed):
    studies, table = committed
    _check_budget(intro.texts(studies, table))


def test_the_intro_fits_its_budget_on_a_synthetic_frame():
    studies = _synthetic()
    _check_budget(intro.texts(studies, claims_page.table(studies), "cpu"))


def test_no_verdict_strings_of_the_old_headlines(committed):
    studies, table = committed
    page = _page(intro.texts(studies, table))
    assert "deciding one of" not in page and "Headline findings" not in page


# --- the tax: computed, paired, verdict on the named machine -------------------------------------------------

def test_the_tax_is_the_paired_speedup_of_the_fastest_runtime():
    studies = _synthetic()
    t = intro.tax(studies, "cpu")
    assert (t.machine, t.model, t.batch_size, t.runtime, t.runtimes, t.runner_up) == (LABEL, "bert-tiny", 1,
                                                                                        "onnxruntime", 2, "torchscript")
    assert t.speedup == pytest.approx(2.0, rel=0.1) and t.low <= t.speedup <= t.high and t.rounds == 3
    assert t.versus[0] == pytest.approx(2.0 / 1.25, rel=0.1)
    text = intro.tax_markdown(studies, "cpu")
    share = intro._pct(summary_plot.removed_share(t.speedup))
    assert text.startswith(f"On **{LABEL}**, for bert-tiny (fp32, sequence 128) at batch 1, onnxruntime's speedup "
                           f"over eager, paired by round, is ")
    assert f"onnxruntime removes {share} [" in text and "a difference on this machine" in text
    assert "the fastest of the 2 runtimes measured at that batch, picked from these same records" in text
    assert "not a pure framework share" in text


def test_removed_share_maps_the_interval_through():
    assert summary_plot.removed_share(2.0) == 0.5 and summary_plot.removed_share(1.0) == 0.0
    assert summary_plot.removed_share(1.25) < summary_plot.removed_share(2.0)  # monotone: the bounds stay in order


def test_without_a_runtime_beside_eager_the_intro_says_so():
    frame = _visits()
    frame = frame[frame.backend == "eager"]
    studies = {s: FakeStudy(frame, [GRID], machine_id="m1", all=frame) for s in STUDIES}
    assert intro.tax(studies, "cpu") is None
    assert intro.tax_markdown(studies, "cpu").startswith("No runtime has been measured beside eager")
    empty = {s: FakeStudy(pd.DataFrame(), [GRID]) for s in STUDIES}
    texts = intro.texts(empty, claims_page.table(empty), "cpu")
    assert texts["tax"].startswith("No runtime") and "No batch sweep" in texts["finding-batch"]
    assert isinstance(intro.tax_figure(empty, "cpu")[0], Figure)


# --- the summary table: the verdict frame, cell for cell -----------------------------------------------------

def test_the_summary_table_is_the_claims_pages_table(committed):
    texts = intro.texts(committed[0], committed[1])
    assert texts["claims"] == claims_page.table_markdown(committed[1])


def test_the_premise_note_names_the_claims_that_lack_their_premise():
    studies = _synthetic()
    table = claims_page.table(studies)
    assert intro.premise_note(table) == ""
    table.loc[table["claim"] == "c", "verdict"] = "premise not met"
    assert intro.premise_note(table).startswith(f"Claims (c) are about a framework-bound model: on {LABEL} claim (a)'s")



def test_the_flat_paragraph_quotes_claim_a_verdict_from_the_frame():
    studies = _synthetic()
    table = claims_page.table(studies)
    text = intro.flat_markdown(studies, table, "cpu")
    verdict = table[table.claim == "a"].verdict.iloc[0]
    assert f"Claim (a) is {claims_page.verdict_badge(verdict)} on {LABEL}" in text and "never flat" in text
    flipped = table.assign(verdict=np.where(table.claim == "a", "supported", table.verdict))
    assert "the paper's flat-latency claim holds there" in intro.flat_markdown(studies, flipped, "cpu")


# --- the figure and the notebook -----------------------------------------------------------------------------

def test_the_figure_has_latency_and_removed_share():
    figure, caption = intro.tax_figure(_synthetic(), "cpu")
    latency, share = figure.axes[:2]
    assert latency.get_yscale() == "log" and "removed" in share.get_ylabel()
    assert caption.startswith(f"bert-tiny (fp32, sequence 128) on **{LABEL}**")


def test_the_notebook_keeps_its_parameters_first_and_its_logic_in_ftax():
    code = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert code[0]["metadata"]["tags"] == ["parameters"]
    compute = "".join(code[1]["source"])
    assert code[1]["metadata"]["tags"] == ["remove-cell"] and len(code) == 2
    assert not re.search(r"^\s*(def|for|if|class) ", compute, flags=re.M)
