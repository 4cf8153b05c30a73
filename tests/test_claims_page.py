"""The claims page (`ftax.pages.claims`) and the one framework-bound rule
(`ftax.read.analysis.framework_bound_regimes`) on the pages: hand-built visits in 3 rounds, nothing is measured."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ftax import pages
from ftax.claims import table as claims
from ftax.read import analysis, findings
from ftax.claims.verdicts import CONTRADICTED, SUPPORTED, VERDICTS
from ftax.claims.per_machine import flat_at_small_batch
from ftax.pages import claims as page
from ftax.pages import framework_bound, hardware
from fake_study import FakeStudy, evaluate_every_claim
from ftax.study.catalogue import STUDIES
from ftax.sweep.grids import Grid

ROUND_STATE = (1.0, 1.3, 0.8)  # the machine's state per round: cancels in a paired ratio
LABEL = "Test CPU (CPU)"
BATCHES = (1, 2, 4, 8, 16)
GRID = Grid("batch", models=("bert-tiny",), batch_sizes=BATCHES, seq_lens=(128,), device="cpu")


def _visit(batch: int, round_: int, median_ms: float, **kw) -> dict:
    row = dict(model="bert-tiny", backend="eager", dtype="fp32", device="cpu", batch_size=batch, seq_len=128,
               overrides=json.dumps({}), machine_id="m1", machine_label=LABEL, status="ok", message="",
               median_ms=median_ms, ci_low_ms=median_ms * 0.99, ci_high_ms=median_ms * 1.01, round=round_,
               rule="quick/3", schema_version=2, env_torch_version="2.0", parity_ok=True, prepare_s=0.1,
               flops=1e6 * batch, timestamp=pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=round_))
    return {**row, **kw}


def _sweep(ratios: dict[int, float], seed: int = 0, **kw) -> pd.DataFrame:
    """One eager fp32 batch curve T(b) = 2 ms x ratios[b], visited in 3 rounds with a little jitter."""
    jitter = np.random.default_rng(seed).normal(0.0, 0.03, size=(3, len(ratios)))
    return pd.DataFrame([_visit(b, r, 2.0 * ratio * ROUND_STATE[r] * np.exp(jitter[r, i]), **kw)
                         for r in range(3) for i, (b, ratio) in enumerate(ratios.items())])


FLAT_THEN_RISING = {1: 1.0, 2: 1.0, 4: 1.05, 8: 2.0, 16: 4.0}
STEEP = {1: 1.0, 2: 1.5, 4: 1.8, 8: 3.0, 16: 6.0}



def _studies(frame: pd.DataFrame) -> dict[str, FakeStudy]:
    return {s: FakeStudy(frame, [GRID], machine_id="m1", all=frame) for s in STUDIES}


def _view(frame: pd.DataFrame) -> pages.PageView:
    return pages.view(FakeStudy(frame, [GRID], machine_id="m1", all=frame), "cpu")


# --- the one rule: analysis.framework_bound_regimes -----------------------------------------------------

def test_flatness_is_claim_a_rule():
    assert analysis.flatness(1.0, 1.2) == analysis.FLAT
    assert analysis.flatness(1.3, 1.9) == analysis.NOT_FLAT
    assert analysis.flatness(1.1, 1.4) == analysis.UNDECIDED
    assert analysis.flatness(np.nan, np.nan) == analysis.UNDECIDED
    assert claims.THRESHOLDS["a"][1] == analysis.FLAT_MAX_RATIO


def test_regimes_find_a_flat_curve_and_its_inflection_and_none_in_a_steep_one():
    frame = pd.concat([_sweep(FLAT_THEN_RISING), _sweep(STEEP, seed=1, model="bert-mini")])
    regimes = analysis.framework_bound_regimes(frame).set_index("model")
    flat, steep = regimes.loc["bert-tiny"], regimes.loc["bert-mini"]
    assert flat["regime"] == analysis.FLAT and flat["reached"] and flat["inflection_batch"] == 8
    assert flat["machine_label"] == LABEL and flat["max_batch"] == 16 and flat["n_batches"] == 5
    assert steep["regime"] == analysis.NOT_FLAT and not steep["reached"] and pd.isna(steep["inflection_batch"])
    assert steep["message"] == analysis.NO_REGIME
    assert list(analysis.with_regime(regimes.reset_index())["model"]) == ["bert-tiny"]


def test_claim_a_and_the_pages_use_the_same_rule():
    for ratios, verdict, regime in ((FLAT_THEN_RISING, SUPPORTED, analysis.FLAT),
                                    (STEEP, CONTRADICTED, analysis.NOT_FLAT)):
        frame = _sweep(ratios)
        (result,) = flat_at_small_batch(frame)
        assert result.verdict == verdict
        assert analysis.framework_bound_regimes(frame)["regime"].tolist() == [regime]


# --- the pages say "no framework-bound regime in the measured range" where the rule finds none -----------

def test_a_steep_curve_has_no_framework_bound_regime_and_no_inflection_on_the_pages():
    v = _view(_sweep(STEEP))
    finding = framework_bound.batch_finding(v)
    assert "bert-tiny fp32: no framework-bound regime in the measured range (T(4)/T(1) = 1." in finding
    assert "above 1.25)" in finding and "inflection at" not in finding
    assert framework_bound.regimes_left(v) == (
        f"On **{LABEL}** (profile `quick`), claim (a)'s rule finds no framework-bound regime in the measured range for "
        "every one of the 1 batch curves, so this page reports no inflection.")
    _, caption = framework_bound.batch_figure(v)
    assert "no curve here has one, so nothing is shaded" in caption
    every = pages.every_machine(FakeStudy(_sweep(STEEP), [GRID], machine_id="m1"))
    assert "no framework-bound regime in the measured range" in hardware.inflection_finding(every)


def test_a_flat_curve_reports_where_it_leaves_the_flat_regime():
    v = _view(_sweep(FLAT_THEN_RISING))
    finding = framework_bound.batch_finding(v)
    assert "bert-tiny fp32: flat at small batch (T(4)/T(1) = 1." in finding
    assert "leaves the flat regime (T(b)/T(1) above 1.25 with its interval) at batch 8" in finding
    assert framework_bound.regimes_left(v).endswith("finds a framework-bound regime in 1 of 1 batch curves; 1 of them "
                                                    "leave it within the measured batch sizes.")
    assert "1 curve here has one" in framework_bound.batch_figure(v)[1]


def test_an_undecided_curve_is_not_called_framework_bound():
    one_round = _sweep(FLAT_THEN_RISING).query("round == 0").drop(columns="round")
    phrases = findings.knee_phrases(analysis.framework_bound_regimes(one_round), ["model"])
    assert len(phrases) == 1
    assert phrases[0].startswith("bert-tiny: no framework-bound regime in the measured range that the data can "
                                 "confirm (T(4)/T(1) = ")
    assert phrases[0].endswith("x (one round: no between-run interval))")


# --- the claims page ------------------------------------------------------------------------------------

def test_claims_table_one_row_per_claim_with_verdict_statistic_threshold_and_link():
    studies = _studies(_sweep(STEEP))
    table = page.table(studies)
    assert table["claim"].tolist() == list("abcdefgh")
    markdown = page.table_markdown(table)
    lines = markdown.splitlines()
    assert lines[0] == "| claim ((h) is ours) | on | verdict | statistic [95% interval] | held to |"
    assert len(lines) == 2 + 8
    a = lines[2]
    assert a.startswith("| **(a)** eager latency is flat at small batch ({doc}`page 01 <01-framework-bound>`) | "
                        f"{LABEL} | {{bdg-danger}}`contradicted` | 1.")
    assert a.endswith("] | T(4)/T(1) <= 1.25 |")
    assert lines[-1].endswith("| {bdg-muted}`not testable here` | n/a | decode step T(4)/T(1) <= 1.25 |")


def test_claims_page_counts_each_visit_once():
    frame = _sweep(FLAT_THEN_RISING)
    studies = _studies(frame)  # every study shares the same grid: its visits are counted once
    assert len(page.visits(studies)) == len(frame)
    table = page.table(studies)
    summary = page.summary(table, studies)
    assert summary.startswith(f"Computed when this page was built from the {len(frame)} visits of the case studies' "
                              f"grids in `results`, profile `quick`, on 1 machine (**{LABEL}**): ")
    assert "1 row supported" in summary
    assert page.table_markdown(evaluate_every_claim(pd.DataFrame())).count("not testable here") == len(claims.CLAIMS)


def test_every_test_of_every_claim_is_folded_per_claim_with_its_threshold_and_reason():
    table = page.table(_studies(_sweep(FLAT_THEN_RISING)))
    folded = page.tests_markdown(table)
    assert folded.count(":::{dropdown} (") == folded.splitlines().count(":::") == len(claims.CLAIMS)
    assert ":::{dropdown} (a) eager latency is flat at small batch: 1 test\n" in folded
    assert "\n\nHeld to T(4)/T(1) <= 1.25: within 25%: " in folded
    (test,) = table.iloc[0]["tests"]
    assert (f"| {LABEL} | {test.name}: T(4)/T(1){test.note} | 1." in folded
            and "| 3 | {bdg-success}`supported` (quoted) |" in folded)
    assert f"- {LABEL}: no records of paired speedups of a static runtime" in folded


def test_the_claims_page_colours_each_verdict_as_every_page_does():
    source = Path(__file__).resolve().parents[1] / "notebooks" / "07-claims.ipynb"
    text = "".join("".join(c["source"]) for c in json.loads(source.read_text())["cells"])
    assert all(page.verdict_badge(v) in text for v in VERDICTS)
    assert len(set(page.BADGE.values())) == len(VERDICTS) == len(page.BADGE)
