"""ftax.claims.table and its rules (`claims_per_machine`, `claims_across_machines`, decided by `claim_verdicts`): each
claim's verdict on small hand-built sweeps (3 rounds), and the sentence built from it.

The frames are what a sweep would record: every config visited once per round, every visit's
median scaled by the round's machine state (shared by all configs of the round, as drift is)
and by a small per-visit jitter (seeded), so paired ratios have narrow, non-zero intervals.
No torch, no measuring.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fake_study import evaluate_every_claim
from ftax.claims import table as claims
from ftax.read.analysis import FLAT_MAX_RATIO
from ftax.claims.verdicts import (CONTRADICTED, INCONCLUSIVE, NO_INTERVAL, NOT_TESTABLE, PREMISE_NOT_MET, SUPPORTED,
                                  VERDICTS, ClaimResult)
from ftax.claims.across_machines import faster_hardware_later_inflection, tax_grows_on_faster_hardware
from ftax.claims.per_machine import (efficient_models_not_faster, flat_at_small_batch, half_precision_no_help,
                                     static_gain_at_small_batch, width_free_depth_not)

ROUND_STATE = (1.0, 1.3, 0.8)  # the machine's state per round: cancels in a paired ratio
JITTER_SD = 0.03
SLOW = {"machine": "slow", "label": "Slow CPU x2 (CPU)", "device": "cpu"}
FAST = {"machine": "fast", "label": "Fast GPU (GPU)", "device": "cuda"}


def visit(machine: str = "m1", model: str = "bert-tiny", backend: str = "eager", dtype: str = "fp32", batch: int = 1,
          seq: int = 128, round_: int | None = 0, median_ms: float = 1.0, device: str = "cpu", label: str | None = None,
          width: int | None = None, depth: int | None = None, share: float | None = None) -> dict:
    overrides = {k: v for k, v in (("width", width), ("depth", depth)) if v is not None}
    return {"model": model, "backend": backend, "dtype": dtype, "device": device, "batch_size": batch, "seq_len": seq,
            "overrides": json.dumps(overrides, sort_keys=True), "width": width, "depth": depth, "machine_id": machine,
            "machine_label": label or "Test CPU (CPU)", "status": "ok", "median_ms": median_ms,
            "ci_low_ms": median_ms * 0.99, "ci_high_ms": median_ms * 1.01, "round": round_, "rule": None,
            "schema_version": 2, "env_torch_version": "2.0",
            "decomposition_overhead_share": np.nan if share is None else share,
            "decomposition_method": None if share is None else ("cuda-busy" if device == "cuda" else "cpu-compute-ops"),
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=round_ or 0)}


def sweep(configs: list[tuple[dict, float]], rounds: int = 3, seed: int = 0) -> pd.DataFrame:
    """Each (config, latency in ms) visited once per round: latency x round state x jitter; a `share` jitters
    additively (+- a few share points)."""
    rng = np.random.default_rng(seed)
    jitter = rng.normal(0.0, JITTER_SD, size=(rounds, len(configs)))
    rows = []
    for r in range(rounds):
        for i, (config, ms) in enumerate(configs):
            extra = {"share": config["share"] + jitter[r, i] / 2} if config.get("share") is not None else {}
            rows.append(visit(**{**config, **extra}, round_=r, median_ms=ms * ROUND_STATE[r] * np.exp(jitter[r, i])))
    return pd.DataFrame(rows)


def curve(ratios: dict[int, float], base_ms: float = 2.0, **config) -> list[tuple[dict, float]]:
    """A batch curve: T(b) = base_ms x ratios[b]."""
    return [({**config, "batch": b}, base_ms * ratio) for b, ratio in ratios.items()]


def only(results: list[ClaimResult]) -> ClaimResult:
    assert len(results) == 1, results
    return results[0]


def check(result: ClaimResult, verdict: str) -> None:
    assert result.verdict == verdict, result.why
    if verdict == SUPPORTED or verdict == CONTRADICTED:
        assert not (np.isnan(result.low) or np.isnan(result.high))
        assert result.low <= result.statistic <= result.high


# --- frames per claim: the statistic set on the supported side, the contradicted side, at the threshold ---

def frame_a(t4: float) -> pd.DataFrame:
    return sweep(curve({1: 1.0, 2: (1 + t4) / 2, 4: t4}))


def frame_b(small: float, large: float) -> pd.DataFrame:
    """Eager and torchscript at batch 1 and 64 with the given speedups."""
    return sweep([({"backend": "eager", "batch": 1}, 1.0), ({"backend": "torchscript", "batch": 1}, 1.0 / small),
                  ({"backend": "eager", "batch": 64}, 20.0), ({"backend": "torchscript", "batch": 64}, 20.0 / large)])


def frame_c(width_factor: float, depth_factor: float = 1.8) -> pd.DataFrame:
    return sweep([({"model": "bert-base", "seq": 32, "width": w, "depth": d},
                   1.0 * width_factor ** np.log2(w / 128) * depth_factor ** np.log2(d / 2))
                  for w in (128, 256, 512) for d in (2, 4, 8)])


def frame_d(mobilebert: float, squeezebert: float = 1.2) -> pd.DataFrame:
    ratios = {"bert-base": 1.0, "mobilebert": mobilebert, "squeezebert": squeezebert, "distilbert": 0.5}
    return sweep([({"model": m}, 10.0 * r) for m, r in ratios.items()])


def frame_e(fp16: float, bf16: float = 1.5) -> pd.DataFrame:
    return sweep([({"dtype": "fp32"}, 1.0), ({"dtype": "fp16"}, fp16), ({"dtype": "bf16"}, bf16)])


def frame_f(fast: dict[int, float], slow: dict[int, float]) -> pd.DataFrame:
    return sweep(curve(fast, 0.5, **FAST) + curve(slow, 2.0, **SLOW))


FLAT_UNTIL_8 = {1: 1.0, 2: 1.0, 4: 1.05, 8: 2.0, 16: 4.0, 32: 8.0, 64: 16.0}
FLAT_UNTIL_32 = {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.0, 32: 2.0, 64: 4.0}
FLAT_UNTIL_4 = {1: 1.0, 2: 1.0, 4: 2.0, 8: 4.0, 16: 8.0, 32: 16.0, 64: 32.0}
EDGE_AT_8 = {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.25, 16: 2.0, 32: 4.0, 64: 8.0}
EDGE_AT_16 = {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0, 16: 1.25, 32: 2.0, 64: 4.0}


def frame_g(fast_share: float, slow_share: float) -> pd.DataFrame:
    return sweep([({**FAST, "share": fast_share}, 0.5), ({**SLOW, "share": slow_share}, 2.0)])


CASES = {  # claim -> (function, supported frame, contradicted frame, inconclusive frame)
    "a": (flat_at_small_batch, lambda: frame_a(1.0), lambda: frame_a(1.8), lambda: frame_a(1.25)),
    "b": (static_gain_at_small_batch, lambda: frame_b(2.0, 1.0), lambda: frame_b(1.0, 2.0),
          lambda: frame_b(1.5, 1.5)),
    "c": (width_free_depth_not, lambda: frame_c(1.05), lambda: frame_c(1.9), lambda: frame_c(1.25)),
    "d": (efficient_models_not_faster, lambda: frame_d(1.3), lambda: frame_d(0.4), lambda: frame_d(0.9)),
    "e": (half_precision_no_help, lambda: frame_e(2.5), lambda: frame_e(0.5), lambda: frame_e(0.9)),
    "f": (faster_hardware_later_inflection, lambda: frame_f(FLAT_UNTIL_32, FLAT_UNTIL_8),
          lambda: frame_f(FLAT_UNTIL_4, FLAT_UNTIL_8), lambda: frame_f(EDGE_AT_16, EDGE_AT_8)),
    "g": (tax_grows_on_faster_hardware, lambda: frame_g(0.8, 0.4), lambda: frame_g(0.3, 0.6),
          lambda: frame_g(0.5, 0.5)),
}


@pytest.mark.parametrize("claim", sorted(CASES))
@pytest.mark.parametrize("which, verdict", [(1, SUPPORTED), (2, CONTRADICTED), (3, INCONCLUSIVE)])
def test_each_claim_gives_each_verdict(claim, which, verdict):
    function, frame = CASES[claim][0], CASES[claim][which]()
    result = only(function(frame))
    check(result, verdict)
    assert result.claim == claim and result.records > 0
    if verdict == INCONCLUSIVE:  # the interval straddles the threshold
        assert result.low <= result.threshold <= result.high, result.why


def test_the_why_names_the_comparison_the_number_and_the_threshold():
    result = only(flat_at_small_batch(frame_a(1.8)))
    assert result.why.startswith("bert-tiny eager fp32 seq 128: T(4)/T(1) = 1.")
    assert "3 rounds" in result.why and "T(2)/T(1) =" in result.why and result.why.endswith("flat means <= 1.25")
    assert result.threshold == FLAT_MAX_RATIO and result.records == 9
    assert result.machine_id == "m1" and result.device == "cpu" and result.machine_label == "Test CPU (CPU)"


def test_a_contradicted_curve_outweighs_a_flat_one_and_is_the_one_reported():
    frame = pd.concat([frame_a(1.0), sweep(curve({1: 1.0, 2: 1.5, 4: 2.0}, model="bert-mini"), seed=1)])
    result = only(flat_at_small_batch(frame))
    check(result, CONTRADICTED)
    assert result.why.startswith("bert-mini") and result.records == 18
    assert len(result.tests) == 2 and result.tests[result.deciding].name.startswith("bert-mini")
    assert sorted(t.verdict() for t in result.tests) == [CONTRADICTED, SUPPORTED]


def test_c_depth_as_free_as_width_contradicts():
    result = only(width_free_depth_not(frame_c(1.0, depth_factor=1.0)))
    check(result, CONTRADICTED)
    assert "per doubling of depth" in result.why.split("=")[0]


def test_d_reports_the_control():
    assert "distilbert, the control: 0.5" in only(efficient_models_not_faster(frame_d(1.3))).why


@pytest.mark.parametrize("claim", sorted(CASES))
def test_without_rounds_a_verdict_is_inconclusive_and_says_one_round(claim):
    frame = CASES[claim][1]().drop(columns="round")
    result = only(CASES[claim][0](frame))
    assert result.verdict == INCONCLUSIVE, result.why
    assert NO_INTERVAL in result.why and np.isfinite(result.statistic)


@pytest.mark.parametrize("function", [faster_hardware_later_inflection, tax_grows_on_faster_hardware])
def test_one_machine_is_not_testable_for_f_and_g(function):
    frame = frame_f(FLAT_UNTIL_32, FLAT_UNTIL_8) if function is faster_hardware_later_inflection \
        else frame_g(0.8, 0.4)
    result = only(function(frame[frame["machine_id"] == "slow"]))
    assert result.verdict == NOT_TESTABLE and result.machine_id == "slow"
    assert "1 machine" in result.why and "compares two machines" in result.why


def test_f_and_g_name_both_machines_and_the_faster_one():
    for function, frame in ((faster_hardware_later_inflection, frame_f(FLAT_UNTIL_32, FLAT_UNTIL_8)),
                            (tax_grows_on_faster_hardware, frame_g(0.8, 0.4))):
        result = only(function(frame))
        assert result.machine_id == "fast+slow" and result.device == "cuda+cpu"
        assert "on Fast GPU (GPU) (faster)" in result.why
    assert "batch 32 vs batch 8" in only(faster_hardware_later_inflection(frame_f(FLAT_UNTIL_32, FLAT_UNTIL_8))).why


def test_a_cpu_and_a_gpu_of_one_machine_suffice_for_f():
    frame = frame_f(FLAT_UNTIL_32, FLAT_UNTIL_8).assign(machine_id="box")
    result = only(faster_hardware_later_inflection(frame))
    check(result, SUPPORTED)
    assert result.machine_id == "box" and result.device == "cpu+cuda"


def test_evaluate_has_one_row_per_claim_and_machine():
    frame = pd.concat([frame_a(1.0), frame_a(1.8).assign(machine_id="m2", machine_label="Other CPU (CPU)")])
    table = evaluate_every_claim(frame)
    assert list(table.columns) == list(claims.COLUMNS)
    a = table[table["claim"] == "a"].set_index("machine_id")["verdict"]
    assert a.to_dict() == {"m1": SUPPORTED, "m2": CONTRADICTED}
    b = table[table["claim"] == "b"]
    assert set(b["machine_id"]) == {"m1", "m2"} and (b["verdict"] == NOT_TESTABLE).all()
    assert b["why"].str.startswith("no records of").all()
    assert table[table["claim"] == "f"]["machine_id"].tolist() == ["m1+m2"]


def test_evaluate_on_an_empty_frame_gives_one_untestable_row_per_claim():
    for frame in (pd.DataFrame(), None, frame_a(1.0).drop(columns="median_ms"), frame_a(1.0).iloc[0:0]):
        table = evaluate_every_claim(frame)
        assert table["claim"].tolist() == list("abcdefgh")
        assert (table["verdict"] == NOT_TESTABLE).all()
        assert table["why"].str.contains("no records of|0 machines").all()


def test_evaluate_decides_on_loaded_visits_and_refuses_the_newest_visit_per_config(tmp_path):
    from fake_study import store_visits
    from ftax.store import dataframe

    store_visits(tmp_path / "m1.jsonl", frame_a(1.8))
    visits = dataframe.load(tmp_path)
    a = evaluate_every_claim(visits).set_index("claim").loc["a"]
    assert a["verdict"] == CONTRADICTED and "3 rounds" in a["why"] and a["low"] > FLAT_MAX_RATIO
    newest = dataframe.newest_visits(visits)
    for decide in (evaluate_every_claim, flat_at_small_batch):
        with pytest.raises(ValueError, match=r"one visit per config.*pass the visits"):
            decide(newest)


def test_claims_and_titles_cover_every_claim():
    assert set(claims.CLAIMS) == set(claims.CLAIM_TITLES) == set(claims.CLAIM_FUNCTIONS) == set("abcdefgh")


def test_f_a_curve_still_flat_at_its_largest_batch_has_no_upper_bound():
    still_flat = dict.fromkeys(FLAT_UNTIL_32, 1.0)
    result = only(faster_hardware_later_inflection(frame_f(still_flat, FLAT_UNTIL_8)))
    check(result, SUPPORTED)
    assert result.statistic == 16 and result.high == np.inf and "beyond batch 64 vs batch 8" in result.why


# --- the premise of (c), (d), (e), and a verdict per runtime -----------------------------------------------------

def premise_frame(t4: float, machine: str, label: str) -> pd.DataFrame:
    """One machine's records of claims (a), (c), (d), (e): a bert-tiny batch curve with T(4)/T(1) = `t4`, and
    records where (c), (d) and (e) are each supported by their tests alone."""
    half = sweep([({"dtype": "fp32", "seq": 64}, 1.0), ({"dtype": "fp16", "seq": 64}, 2.5),
                  ({"dtype": "bf16", "seq": 64}, 1.5)])
    frame = pd.concat([frame_a(t4), frame_c(1.05), frame_d(1.3), half], ignore_index=True)
    return frame.assign(machine_id=machine, machine_label=label)


def test_premise_not_met_where_claim_a_finds_no_flat_curve_and_judged_where_it_finds_one():
    frame = pd.concat([premise_frame(1.8, "steep", "Steep CPU (CPU)"), premise_frame(1.0, "flat", "Flat CPU (CPU)")])
    table = evaluate_every_claim(frame)
    assert table["verdict"].isin(VERDICTS).all() and VERDICTS[-1] == PREMISE_NOT_MET
    premised = table[table["claim"].isin(list(claims.PREMISED))].set_index(["machine_id", "claim"])
    for claim in claims.PREMISED:
        steep, flat = premised.loc[("steep", claim)], premised.loc[("flat", claim)]
        assert steep["verdict"] == PREMISE_NOT_MET and flat["verdict"] == SUPPORTED and flat["premise"] == ""
        assert steep["premise"].startswith("claim (a)'s rule finds no framework-bound regime on Steep CPU (CPU): none "
                                           "of its 1 eager batch curves has T(4)/T(1) <= 1.25 with its interval")
        assert steep["premise"].endswith(claims.PREMISE)
        # the tests are still computed: the same records give the same tests on both machines
        assert [t.verdict() for t in steep["tests"]] == [t.verdict() for t in flat["tests"]]
        assert steep["statistic"] == pytest.approx(flat["statistic"]) and steep["why"] == flat["why"]
    others = table[~table["claim"].isin(list(claims.PREMISED))]
    assert (others["premise"] == "").all() and PREMISE_NOT_MET not in set(others["verdict"])
    a = table[table["claim"] == "a"].set_index("machine_id")["verdict"]
    assert a.to_dict() == {"flat": SUPPORTED, "steep": CONTRADICTED}


def test_without_claim_a_records_the_claims_are_judged_by_their_tests():
    table = evaluate_every_claim(frame_c(1.05))
    assert table.set_index("claim").loc["c", "verdict"] == SUPPORTED


def frame_runtimes(onnxruntime_small: float, onnxruntime_large: float) -> pd.DataFrame:
    """Eager, torchscript (speedup 2 at batch 1, 1 at batch 64: supports (b)) and onnxruntime as given."""
    return sweep([({"backend": "eager", "batch": 1}, 1.0), ({"backend": "torchscript", "batch": 1}, 0.5),
                  ({"backend": "onnxruntime", "batch": 1}, 1.0 / onnxruntime_small),
                  ({"backend": "eager", "batch": 64}, 20.0), ({"backend": "torchscript", "batch": 64}, 20.0),
                  ({"backend": "onnxruntime", "batch": 64}, 20.0 / onnxruntime_large)])


def test_runtimes_that_disagree_get_a_row_each_and_agreeing_ones_share_one():
    disagree = static_gain_at_small_batch(frame_runtimes(1.0, 2.0))
    assert sorted((r.runtime, r.verdict) for r in disagree) == [("onnxruntime", CONTRADICTED),
                                                                 ("torchscript", SUPPORTED)]
    for r in disagree:
        assert [t.runtime for t in r.tests] == [r.runtime] and r.why.startswith(f"bert-tiny {r.runtime} fp32")
    agree = only(static_gain_at_small_batch(frame_runtimes(3.0, 1.0)))
    assert agree.verdict == SUPPORTED and agree.runtime == "" and sorted(t.runtime for t in agree.tests) == [
        "onnxruntime", "torchscript"]
    table = evaluate_every_claim(frame_runtimes(1.0, 2.0))
    assert sorted(table[table["claim"] == "b"]["runtime"]) == ["onnxruntime", "torchscript"]
