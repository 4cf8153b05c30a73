"""A contributed machine's records reach the hardware page, the claims per machine and the explorer, unchanged code.

The second machine is the committed records rewritten as another machine with every latency times FACTOR
(`tests/second_machine.py`), read the way the notebooks read a results folder (`open_study(..., measure=False)`),
so every cross-machine ratio a page computes has a known answer: FACTOR, inside its interval. The hardware page's
"Your machine next to this book" section (`ftax.pages.your_machine`) is checked on the same pair, alone, and with
the second machine moved to a GPU.
"""
from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from second_machine import write_second_machine

from ftax import pages
from fake_study import evaluate_every_claim
from ftax.pages import explorer_selection, hardware, your_machine
from ftax.read import compare_text
from ftax.read.estimates import CONFIG_COLUMNS
from ftax.store import dataframe
from ftax.store.jsonl import iter_records
from ftax.store.schema import MeasureConfig, config_key

SOURCE = Path(__file__).resolve().parents[1] / "results" / "amd-epyc-2c-c4c3af.jsonl"
FACTOR = 0.6  # the second machine is faster: every latency is 0.6 times the committed one
SECOND = "synthetic-cpu-2c-5eed00"
pytestmark = pytest.mark.skipif(not SOURCE.exists(), reason="the committed records are not in this checkout")


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory) -> Path:
    """A results folder holding the committed records and the synthetic second machine's."""
    folder = tmp_path_factory.mktemp("results")
    shutil.copy(SOURCE, folder / SOURCE.name)
    write_second_machine(SOURCE, folder, FACTOR, machine_id=SECOND, cpu_model="Synthetic CPU")
    return folder


@pytest.fixture(scope="module")
def hardware_view(two_machines):
    from ftax.study.studies import open_study

    return pages.every_machine(open_study("hardware", "quick", "auto", two_machines, measure=False))


def _first() -> str:
    return next(iter_records(SOURCE))["machine_id"]


def test_the_builder_keeps_the_schema_and_rekeys_every_record(two_machines):
    source, second = list(iter_records(SOURCE)), list(iter_records(two_machines / f"{SECOND}.jsonl"))
    assert len(second) == len(source)
    for old, new in zip(source, second):
        assert new["machine_id"] == new["env"]["machine_id"] == SECOND
        assert new["config_key"] == config_key(MeasureConfig.from_dict(new["config"]), SECOND) != old["config_key"]
        assert new["config"] == old["config"] and new["round"] == old["round"] and new["rule"] == old["rule"]
        if old["status"] == "ok":
            assert math.isclose(new["stats"]["median_ms"], FACTOR * old["stats"]["median_ms"])


def test_the_hardware_page_shows_both_machines_and_the_known_factor(hardware_view):
    v = hardware_view
    labels = set(v.frame["machine_label"])
    assert labels == {"AMD EPYC x2 (CPU)", "Synthetic CPU x2 (CPU)"}
    keys = [c for c in CONFIG_COLUMNS if c in v.frame]
    ok = v.frame[v.frame["status"] == "ok"]
    first, second = (ok[ok["machine_id"] == m] for m in (_first(), SECOND))
    both = first.merge(second, on=keys, suffixes=("_a", "_b"))
    assert len(both) == len(first) == len(second) > 0
    ratio = both["estimate_ms_b"] / both["estimate_ms_a"]
    assert ratio.sub(FACTOR).abs().max() < 1e-9  # the median of round medians scales exactly
    bounded = both[both["low_ms_a"].notna() & both["high_ms_a"].notna()]
    assert len(bounded) > 0
    assert ((bounded["low_ms_b"] / bounded["high_ms_a"] <= FACTOR + 1e-12)
            & (FACTOR - 1e-12 <= bounded["high_ms_b"] / bounded["low_ms_a"])).all()
    finding = hardware.latency_finding(v)
    assert all(label in finding for label in labels) and "Only one machine" not in finding
    for make in (hardware.latency_figure, hardware.inflection_figure, hardware.latency_chart):
        _, caption = make(v)
        assert "2 machines" in caption
    assert all(label in hardware.inflection_finding(v) for label in labels)


def test_the_claims_give_rows_for_both_machines_and_compare_the_pair(two_machines):
    table = evaluate_every_claim(dataframe.load(two_machines))
    per_machine = table[~table["claim"].isin(["f", "g"])]
    for claim, rows in per_machine.groupby("claim"):
        assert set(rows["machine_id"]) == {_first(), SECOND}, claim
        # every per-machine claim is a ratio of one machine's own latencies: a uniform factor cancels
        a, b = (rows[rows["machine_id"] == m].iloc[0] for m in (_first(), SECOND))
        assert a["verdict"] == b["verdict"], claim
        assert math.isclose(a["statistic"], b["statistic"], rel_tol=1e-9) or (pd.isna(a["statistic"])
                                                                              and pd.isna(b["statistic"])), claim
    for claim in ("f", "g"):
        rows = table[table["claim"] == claim]
        assert list(rows["machine_id"]) == [f"{_first()}+{SECOND}"], claim
        assert (rows["verdict"] != "not testable here").all(), claim
    f = table[table["claim"] == "f"].iloc[0]
    assert f["statistic"] == 1  # batch ratios are scale-free: the same inflection on both machines
    assert "Synthetic CPU x2 (CPU) (faster)" in f["why"]
    assert table[table["claim"] == "g"].iloc[0]["statistic"] == 0  # overhead shares are scale-free too


def test_the_explorer_offers_both_machines(two_machines):
    frame = explorer_selection.load(explorer_selection.find_results(two_machines))
    selection = explorer_selection.resolve(frame)
    assert set(selection.machines) == {"AMD EPYC x2 (CPU)", "Synthetic CPU x2 (CPU)"}
    rows = explorer_selection.rows_for(frame, selection)
    counts = rows["machine_id"].value_counts()
    assert set(counts.index) == {_first(), SECOND} and counts.nunique() == 1


def test_ftax_compare_finds_the_known_factor_between_the_machines(two_machines, capsys):
    """The Reproduce page's compare step on the two machines: B/A is FACTOR in every config, inside its interval."""
    pytest.importorskip("ftax.read.compare")
    from ftax.cli import main

    book, second = two_machines / SOURCE.name, two_machines / f"{SECOND}.jsonl"
    assert main(["compare", str(book), str(second), "--json", "--fail-on-regression", "1"]) == 0  # B is faster
    result = json.loads(capsys.readouterr().out)
    configs = [c for c in result["configs"] if c["ratio"] is not None]
    assert len(configs) > 0
    for c in configs:
        assert math.isclose(c["ratio"], FACTOR, rel_tol=1e-9)
        if c["low"] is not None and c["high"] is not None:
            assert c["low"] <= FACTOR <= c["high"]
        assert c["verdict"] not in ("slower", "same")  # a 40% change is seen, or called too noisy to see
    assert any(c["verdict"] == "faster" for c in configs)
    assert main(["compare", str(second), str(book), "--fail-on-regression", "10"]) != 0  # the other way, slower


@pytest.fixture(scope="module")
def calibrated(hardware_view, tmp_path_factory):
    """The two machines' view reading the book's stored calibration runs, so intervals carry the run spread."""
    folder = tmp_path_factory.mktemp("calibrated")
    calibration = SOURCE.parent / "calibration"
    if calibration.is_dir():
        shutil.copytree(calibration, folder / "calibration")
    return dataclasses.replace(hardware_view, results_dir=str(folder))


def _verdicts_said(section: str) -> dict[str, int]:
    """The verdict counts the section's "**Verdicts.**" line states, by verdict."""
    line = next(l for l in section.splitlines() if l.startswith("**Verdicts.**"))
    said = line.split(": ", 1)[1].rsplit(" (", 1)[0]
    return {v: int(n) for n, v in (part.split(" ", 1) for part in said.split(", "))}


def test_the_your_machine_section_finds_the_known_factor_with_compares_verdicts(calibrated):
    """The page's section sets the synthetic machine (B) against the book's (A): every summary ratio per runtime
    and family holds FACTOR in its interval, and the verdict counts it states are `ftax compare`'s."""
    from ftax.appendix.calibration_report import stored
    from ftax.read import compare

    spread = compare.run_spread(stored(calibrated.results_dir))
    (pair,) = your_machine.versus(calibrated.every_visit, spread)
    assert (pair.a.machine_id, pair.b.machine_id) == (_first(), SECOND)
    summary = pair.comparison.summary
    assert set(summary["by"]) == {"backend", "family"} and len(summary) > 0
    assert ((summary["low"] <= FACTOR * (1 + 1e-9)) & (FACTOR * (1 - 1e-9) <= summary["high"])).all()
    assert summary["ratio"].sub(FACTOR).abs().max() < 1e-9
    visits = calibrated.every_visit
    direct = compare.compare(visits[visits["machine_id"] == _first()], visits[visits["machine_id"] == SECOND],
                             spread=spread)
    section = your_machine.section_markdown(calibrated)
    assert _verdicts_said(section) == direct.rows["verdict"].value_counts().to_dict()
    assert section.startswith("## Your machine next to this book") and "{dropdown}" in section
    for said in ("AMD EPYC x2 (CPU)", "Synthetic CPU x2 (CPU)", "Devices: both cpu",
                 "cpu_model: AMD EPYC -> Synthetic CPU"):
        assert said in section, said
    table = compare_text.summary_markdown(direct)
    assert table in section and f"| {FACTOR:.2f} |" in table


def test_one_machine_has_no_your_machine_section(hardware_view):
    visits = hardware_view.every_visit
    alone = dataclasses.replace(hardware_view, every_visit=visits[visits["machine_id"] == _first()])
    assert your_machine.section_markdown(alone) == ""


def test_a_gpu_against_the_books_cpu_says_the_devices_differ(hardware_view):
    visits = hardware_view.every_visit
    second = visits["machine_id"] == SECOND
    on_gpu = visits.assign(device=visits["device"].where(~second, "cuda:0"),
                           env_gpu_name=visits["env_gpu_name"].where(~second, "Synthetic GPU"))
    section = your_machine.section_markdown(dataclasses.replace(hardware_view, every_visit=on_gpu))
    assert "Devices: they differ (cpu vs cuda;" in section and "gpu_name: none -> Synthetic GPU" in section
