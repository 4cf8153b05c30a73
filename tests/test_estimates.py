"""ftax.read.estimates: calibrated intervals on a simulated drifting machine, and the pooling rules.

The simulation is the argument for the method (ftax/read/estimates.py's docstring): a machine whose
state moves between rounds (log level ~ N(0, 0.15) per round, drawn afresh minutes apart) and
drifts within a visit (AR(1) in log, so consecutive samples are correlated). The true value an
interval must cover is the typical latency over the machine's states: L times the median of
the state distribution, which is L because the log state is symmetric around 0. No torch, no
measuring; every sweep of a simulation is one config of one frame, so one call covers all.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ftax.read import analysis
from ftax.read.estimates import estimates
from ftax.read.intervals import is_real
from ftax.read.ratios import paired_ratios, scaling_ratios, speedups
from ftax.measure.timing import median_ci

SWEEPS, ROUNDS, SAMPLES = 600, 3, 200
TRUE_MS = 2.0
ROUND_SD, WITHIN_SD, PHI = 0.15, 0.10, 0.95


def _visit(model: str = "m", backend: str = "eager", median_ms: float = 1.0, round_: int | None = 0,
           **extra) -> dict:
    row = {"model": model, "backend": backend, "dtype": "fp32", "device": "cpu", "batch_size": 1, "seq_len": 16,
           "overrides": "{}", "machine_id": "sim", "machine_label": "Sim CPU", "status": "ok",
           "median_ms": median_ms, "ci_low_ms": median_ms * 0.99, "ci_high_ms": median_ms * 1.01,
           "target_met": True, "schema_version": 2, "env_torch_version": "2.0",
           "timestamp": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=round_ or 0)}
    if round_ is not None:
        row["round"] = round_
    return {**row, **extra}


def _drifting_samples(rng: np.random.Generator, visits: int) -> np.ndarray:
    """(visits, SAMPLES) latencies: TRUE_MS x round level x within-visit AR(1), all multiplicative."""
    level = rng.normal(0.0, ROUND_SD, size=(visits, 1))
    ar = np.empty((visits, SAMPLES))
    ar[:, 0] = rng.normal(0.0, WITHIN_SD, size=visits)
    shocks = rng.normal(0.0, WITHIN_SD * math.sqrt(1 - PHI ** 2), size=(visits, SAMPLES))
    for t in range(1, SAMPLES):
        ar[:, t] = PHI * ar[:, t - 1] + shocks[:, t]
    return TRUE_MS * np.exp(level + ar)


def _simulated_sweeps(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    samples = np.sort(_drifting_samples(rng, SWEEPS * ROUNDS), axis=1)
    ci = np.array([median_ci(row) for row in samples])
    sweep, round_ = np.divmod(np.arange(SWEEPS * ROUNDS), ROUNDS)
    return pd.DataFrame([_visit(f"m{s}", median_ms=float(np.median(row)), round_=int(r), ci_low_ms=lo, ci_high_ms=hi)
                         for s, r, row, (lo, hi) in zip(sweep, round_, samples, ci)])


def test_interval_covers_the_true_value_where_the_single_visit_ci_does_not():
    frame = _simulated_sweeps()
    est = estimates(frame)
    assert len(est) == SWEEPS and (est["rounds"] == ROUNDS).all() and (est["interval"] == "between-round").all()
    assert ((est["low_ms"] <= est["estimate_ms"]) & (est["estimate_ms"] <= est["high_ms"])).all()
    coverage = ((est["low_ms"] <= TRUE_MS) & (TRUE_MS <= est["high_ms"])).mean()
    single = ((est["within_round_ci_low_ms"] <= TRUE_MS) & (TRUE_MS <= est["within_round_ci_high_ms"])).mean()
    print(f"coverage at 95%: between-round t-interval {coverage:.3f}, single-visit CI {single:.3f}")
    assert 0.90 <= coverage <= 0.98
    assert single < 0.60


def test_percentile_bootstrap_over_three_rounds_under_covers():
    """Why not a bootstrap: over 3 round medians its interval is at most [min, max] (~75% coverage)."""
    frame = _simulated_sweeps()
    medians = frame.sort_values(["model", "round"])["median_ms"].to_numpy().reshape(SWEEPS, ROUNDS)
    rng = np.random.default_rng(1)
    picks = rng.integers(0, ROUNDS, size=(SWEEPS, 2000, ROUNDS))
    boot = np.median(np.take_along_axis(medians[:, None, :].repeat(2000, axis=1), picks, axis=2), axis=2)
    low, high = np.percentile(boot, [2.5, 97.5], axis=1)
    coverage = ((low <= TRUE_MS) & (TRUE_MS <= high)).mean()
    print(f"percentile bootstrap over {ROUNDS} rounds: coverage {coverage:.3f}")
    assert coverage < 0.85


def test_paired_speedup_cancels_drift_and_covers_the_true_ratio():
    rng = np.random.default_rng(2)
    true_ratio, eager_ms = 2.0, 4.0
    state = np.exp(rng.normal(0.0, ROUND_SD, size=(SWEEPS, ROUNDS)))  # shared by both sides of a round
    noise = np.exp(rng.normal(0.0, 0.02, size=(2, SWEEPS, ROUNDS)))
    rows = [_visit(f"m{s}", backend, median_ms=float(ms * state[s, r] * noise[side, s, r]), round_=r)
            for side, (backend, ms) in enumerate((("eager", eager_ms), ("torchscript", eager_ms / true_ratio)))
            for s in range(SWEEPS) for r in range(ROUNDS)]
    sp = speedups(pd.DataFrame(rows))
    assert len(sp) == SWEEPS and (sp["rounds"] == ROUNDS).all()
    coverage = ((sp["speedup_low"] <= true_ratio) & (true_ratio <= sp["speedup_high"])).mean()
    half_width = ((sp["speedup_high"] - sp["speedup_low"]) / 2 / sp["speedup"]).median()
    print(f"paired speedup: coverage {coverage:.3f}, median half-width {half_width:.1%} of the speedup")
    assert 0.90 <= coverage <= 0.98
    assert half_width < 0.10


def test_one_round_has_no_between_run_interval():
    est = estimates(pd.DataFrame([_visit(median_ms=2.0)]))
    row = est.iloc[0]
    assert row["rounds"] == 1 and row["interval"] == "one round"
    assert math.isnan(row["low_ms"]) and math.isnan(row["high_ms"]) and math.isnan(row["between_round_cv"])
    assert row["estimate_ms"] == 2.0 and row["within_round_ci_low_ms"] == pytest.approx(1.98)
    assert is_real(row["low_ms"], row["high_ms"]) is None


def test_failed_visits_are_ignored():
    rows = [_visit(median_ms=m, round_=r) for r, m in enumerate((1.0, 1.1, 0.9))]
    rows.append(_visit(median_ms=50.0, round_=3, status="error"))
    rows.append(_visit(median_ms=float("nan"), round_=4, status="oom"))
    est = estimates(pd.DataFrame(rows))
    assert len(est) == 1 and est["rounds"].iloc[0] == 3 and est["estimate_ms"].iloc[0] == pytest.approx(1.0)
    assert bool(est["target_met"].iloc[0]) is True


def test_software_series_and_rules_are_kept_apart():
    rows = [_visit(median_ms=1.0 + r / 10, round_=r, env_torch_version=v) for v in ("2.0", "2.1") for r in range(3)]
    assert len(estimates(pd.DataFrame(rows))) == 2
    rows = [_visit(median_ms=1.0 + r / 10, round_=r, rule=rule) for rule in ("quick", "full") for r in range(3)]
    est = estimates(pd.DataFrame(rows))
    assert sorted(est["rule"]) == ["full", "quick"] and (est["rounds"] == 3).all()
    rows = [_visit(median_ms=1.0, round_=r, env_torch_version=v, backend=b)
            for v in ("2.0", "2.1") for b in ("eager", "compile") for r in range(2)]
    assert len(speedups(pd.DataFrame(rows))) == 2


def test_schema_1_and_2_are_one_series():
    rows = [_visit(median_ms=1.0, round_=0, schema_version=1), _visit(median_ms=1.2, round_=1, schema_version=2)]
    est = estimates(pd.DataFrame(rows))
    assert len(est) == 1 and est["rounds"].iloc[0] == 2 and est["format_version"].iloc[0] == 1


def test_legacy_records_without_round_are_each_a_round_but_cannot_be_paired():
    rows = [_visit(backend=b, median_ms=m * (1 if b == "eager" else 0.5), round_=None)
            for b in ("eager", "torchscript") for m in (1.0, 1.2, 0.8)]
    frame = pd.DataFrame(rows)
    assert "round" not in frame
    est = estimates(frame)
    assert (est["rounds"] == 3).all() and (est["interval"] == "between-round").all()
    sp = speedups(frame)
    assert sp["rounds"].iloc[0] == 0 and sp["interval"].iloc[0] == "unpaired"
    assert sp["speedup"].iloc[0] == pytest.approx(2.0) and math.isnan(sp["speedup_low"].iloc[0])


def test_pairs_only_rounds_both_sides_visited():
    rows = [_visit(backend="eager", median_ms=2.0 * (1 + r / 10), round_=r) for r in range(3)]
    rows += [_visit(backend="onnxruntime", median_ms=1.0 * (1 + r / 10), round_=r) for r in (1, 2)]
    pairs = paired_ratios(pd.DataFrame(rows), "backend", "eager")
    assert len(pairs) == 1 and pairs["rounds"].iloc[0] == 2
    assert pairs["ratio"].iloc[0] == pytest.approx(2.0) and pairs["ratio_low"].iloc[0] == pytest.approx(2.0)


def test_speedups_is_a_drop_in_for_the_old_speedups():
    rows = [_visit(backend=b, median_ms=m * (1 + r / 10), round_=r, parity_ok=True)
            for b, m in (("eager", 3.0), ("torchscript", 2.0)) for r in range(3)]
    frame = pd.DataFrame(rows)
    old = {"speedup", "speedup_low", "speedup_high", "baseline_ms", "backend_ms", "baseline", "machine_label",
           "parity_ok"}
    new = speedups(frame)
    assert old <= set(analysis.speedups(frame).columns) and old | {"rounds"} <= set(new.columns)
    row = new.iloc[0]
    assert row["backend"] == "torchscript" and row["baseline"] == "eager" and row["machine_label"] == "Sim CPU"
    assert row["speedup"] == pytest.approx(1.5) and row["rounds"] == 3 and is_real(row["speedup_low"], row["speedup_high"])


def test_scaling_ratios_pair_each_batch_with_the_curves_smallest():
    level = (1.0, 1.3, 0.8)
    rows = [_visit(median_ms=ms * level[r], round_=r, batch_size=b) for b, ms in ((1, 1.0), (2, 1.6), (4, 3.0))
            for r in range(3)]
    ratios = scaling_ratios(pd.DataFrame(rows)).set_index("batch_size")
    assert list(ratios.index) == [2, 4]
    assert ratios.loc[2, "ratio"] == pytest.approx(1.6) and ratios.loc[4, "ratio_high"] == pytest.approx(3.0)
    widths = [_visit(median_ms=w / 64 * level[r], round_=r, width=w, overrides=f'{{"depth": 2, "width": {w}}}')
              for w in (64, 128) for r in range(3)]
    by_width = scaling_ratios(pd.DataFrame(widths), along="width")
    assert len(by_width) == 1 and by_width["ratio"].iloc[0] == pytest.approx(2.0)


def test_is_real():
    assert is_real(1.1, 1.4) is True
    assert is_real(0.9, 1.2) is False
    assert is_real(1.1, 1.4, threshold=1.2) is False
    assert is_real(float("nan"), float("nan")) is None and is_real(None, None) is None


# --- what a frame must hold: the visits ----------------------------------------------------------------------

def _stored_rounds(tmp_path, rounds: int = 3):
    """Two backends at batch 1 and 2 visited in `rounds` rounds (the machine's level moves between rounds),
    written to a store as a sweep would, and read back with `dataframe.load`."""
    from fake_study import store_visits
    from ftax.store import dataframe

    level = (1.0, 1.3, 0.8, 1.1, 0.9)
    rows = [_visit(backend=backend, batch_size=batch, round_=r, rule="quick/3",
                   median_ms=batch * level[r] * (0.5 if backend == "onnxruntime" else 1.0) * (1 + 0.01 * r))
            for r in range(rounds) for batch in (1, 2) for backend in ("eager", "onnxruntime")]
    store_visits(tmp_path / "sim.jsonl", pd.DataFrame(rows))
    return dataframe.load(tmp_path)


def test_loaded_visits_give_every_round_and_finite_intervals(tmp_path):
    visits = _stored_rounds(tmp_path)
    assert len(visits) == 12 and sorted(set(visits["round"])) == [0, 1, 2]  # load() returns every visit
    fit = estimates(visits)
    assert len(fit) == 4 and set(fit["rounds"]) == {3} and set(fit["interval"]) == {"between-round"}
    assert np.isfinite(fit["low_ms"]).all() and np.isfinite(fit["high_ms"]).all()
    pairs = speedups(visits)
    assert set(pairs["rounds"]) == {3} and np.isfinite(pairs["speedup_low"]).all()


def test_the_newest_visit_per_config_and_config_rows_are_refused(tmp_path):
    from ftax.store import dataframe
    from ftax.read.estimates import per_config

    visits = _stored_rounds(tmp_path)
    newest = dataframe.newest_visits(visits)
    assert len(newest) == 4 and set(newest["round"]) == {2}  # the named view: one visit per config
    for function in (estimates, speedups, analysis.estimates, analysis.speedups, per_config,
                     lambda f: scaling_ratios(f), lambda f: paired_ratios(f, "backend", "eager")):
        with pytest.raises(ValueError, match=r"one visit per config.*pass the visits \(`ftax.store.dataframe.load"):
            function(newest)
    with pytest.raises(ValueError, match=r"one row per config \(`estimates.per_config`.*pass the visits"):
        estimates(per_config(visits))


def test_a_smoke_run_of_one_round_is_visits_with_honestly_no_interval(tmp_path):
    visits = _stored_rounds(tmp_path, rounds=1)
    assert set(visits["round"]) == {0} and visits["config_key"].is_unique
    fit = estimates(visits)
    assert set(fit["rounds"]) == {1} and set(fit["interval"]) == {"one round"} and fit["low_ms"].isna().all()


def test_newest_visits_prefers_a_later_success_over_an_older_failure():
    from ftax.store import dataframe

    frame = pd.DataFrame([{"config_key": "k", "status": "ok", "round": 0, "median_ms": 1.0},
                          {"config_key": "k", "status": "error", "round": 1, "median_ms": np.nan},
                          {"config_key": "j", "status": "error", "round": 0, "median_ms": np.nan},
                          {"config_key": "j", "status": "ok", "round": 1, "median_ms": 2.0}])
    newest = dataframe.newest_visits(frame)
    assert list(zip(newest["config_key"], newest["round"])) == [("k", 0), ("j", 1)]
    assert (newest["status"] == "ok").all()


def test_one_t_interval_on_logs_or_on_the_values():
    from ftax.read.intervals import t_interval

    point, low, high = t_interval([1.0, 2.0, 4.0], log=True)
    assert point == pytest.approx(2.0) and low * high == pytest.approx(4.0)  # symmetric around the geometric mean
    point, low, high = t_interval([1.0, 2.0, 3.0])
    assert point == 2.0 and low + high == pytest.approx(4.0) and low < 1.0
    assert math.isnan(t_interval([3.0])[1]) and t_interval([3.0])[0] == 3.0
    from ftax.claims import across_machines as claims_across_machines, per_machine as claims_per_machine

    for claims in (claims_per_machine, claims_across_machines):  # the claims' intervals use the one definition
        assert claims.t_interval is t_interval and not hasattr(claims, "_t_interval")
