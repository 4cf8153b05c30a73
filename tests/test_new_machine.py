"""A contributed machine's records reach the hardware page, the claims per machine and the explorer, unchanged code.

The second machine is the committed records rewritten as another machine with every latency times FACTOR
(`tests/second_machine.py`), read the way the notebooks read a results folder (`open_study(..., measure=False)`),
so every cross-machine ratio a page computes has a known answer: FACTOR, inside its interval.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from second_machine import write_second_machine

from ftax import pages
from fake_study import evaluate_every_claim
from ftax.pages import explorer_selection, hardware
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
