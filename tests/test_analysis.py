"""Analysis on synthetic curves and hand-built frames: knee fit, first rise, regimes, speedups, FLOP/s."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ftax.read import analysis
from ftax.read.analysis import fit_inflection

BATCHES = 2.0 ** np.arange(0, 10)  # 1..512


def _curve(knee: float, flat_ms: float = 2.0, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.maximum(flat_ms, flat_ms / knee * BATCHES) * np.exp(rng.normal(0.0, noise, BATCHES.size))


@pytest.mark.parametrize("knee", [3.0, 8.0, 24.0, 64.0, 150.0, 200.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knee_fit_recovers_the_knee(knee, seed):
    fit = fit_inflection(BATCHES, _curve(knee, seed=seed))
    assert fit.reached, fit.message
    assert fit.batch == pytest.approx(knee, rel=0.25)
    assert fit.flat_ms == pytest.approx(2.0, rel=0.1)
    assert fit.slope_ms_per_item == pytest.approx(2.0 / knee, rel=0.3)


def test_knee_interval_brackets_the_estimate():
    fit = fit_inflection(BATCHES, _curve(24.0))
    assert fit.low is not None and fit.high is not None
    assert fit.low <= fit.batch <= fit.high


def test_fit_is_deterministic_and_order_free():
    lat = _curve(24.0)
    order = np.random.default_rng(5).permutation(BATCHES.size)
    assert fit_inflection(BATCHES, lat) == fit_inflection(BATCHES[order], lat[order])


def test_exact_curve_is_fitted_exactly():
    fit = fit_inflection(BATCHES, np.maximum(1.5, 0.01 * BATCHES))
    assert fit.batch == pytest.approx(150.0) and fit.flat_ms == pytest.approx(1.5)


@pytest.mark.parametrize("seed", range(20))
def test_flat_curve_is_not_reached(seed):
    fit = fit_inflection(BATCHES, 2.0 * np.exp(np.random.default_rng(seed).normal(0.0, 0.05, BATCHES.size)))
    assert not fit.reached and fit.batch is None and "not reached" in fit.message
    assert fit.flat_ms == pytest.approx(2.0, rel=0.1)


def test_knee_beyond_the_grid_is_not_reached():
    assert not fit_inflection(BATCHES, np.maximum(2.0, 2.0 / 5000 * BATCHES)).reached
    lone = fit_inflection(BATCHES, np.maximum(2.0, 2.0 / 400 * BATCHES))  # only batch 512 past the knee
    assert not lone.reached and "only the largest" in lone.message


def test_linear_from_the_start():
    fit = fit_inflection(BATCHES, 0.5 * BATCHES)
    assert fit.reached and fit.batch == pytest.approx(1.0) and "smallest batch" in fit.message


def test_too_few_points_and_bad_values():
    assert not fit_inflection([1, 2], [1.0, 2.0]).reached
    fit = fit_inflection([1, 2, 4, 8, 16, math.nan], [1.0, 1.0, 1.0, 2.0, 4.0, 5.0])
    assert fit.reached and fit.batch == pytest.approx(4.0)


def test_one_rule_says_where_a_regime_ends():
    """No point-ratio rule beside claim (a)'s: `first_rise` is gone, and the fit table carries no rise column."""
    assert not hasattr(analysis, "first_rise")
    assert "first_rise_batch" not in analysis.inflections(pd.DataFrame(columns=["status", "estimate_ms"])).columns


# --- frames --------------------------------------------------------------------------------

def _frame(curves: dict[tuple[str, str], np.ndarray], machine: str = "m1") -> pd.DataFrame:
    """Config rows (as `ftax.read.estimates.per_config` gives them) of the given curves."""
    rows = []
    for (model, backend), lat in curves.items():
        for b, ms in zip(BATCHES, lat):
            rows.append({"machine_id": machine, "machine_label": f"{machine} cpu", "model": model, "backend": backend,
                         "dtype": "fp32", "device": "cpu", "batch_size": int(b), "seq_len": 128, "overrides": "{}",
                         "status": "ok", "estimate_ms": ms, "low_ms": ms * 0.95, "high_ms": ms * 1.05,
                         "flops": 1e9 * b})
    return pd.DataFrame(rows)


def test_label_regimes_from_elasticity():
    df = _frame({("bert-tiny", "eager"): np.maximum(2.0, 2.0 / 16 * BATCHES)})
    labelled = analysis.label_regimes(df)
    regime = dict(zip(labelled["batch_size"], labelled["regime"]))
    assert all(regime[b] == "framework-bound" for b in (1, 2, 4, 8))
    assert regime[16] == "transitional"
    assert all(regime[b] == "compute-bound" for b in (32, 64, 128, 256, 512))
    assert set(labelled["regime_source"]) == {"elasticity"}
    assert "regime" not in df.columns  # input untouched


def test_label_regimes_prefers_the_decomposition_and_skips_failures():
    df = _frame({("bert-tiny", "eager"): np.full(BATCHES.size, 2.0)})
    df["decomposition_overhead_share"] = np.nan
    df.loc[0, "decomposition_overhead_share"] = 0.1   # a flat curve, but the decomposition says compute
    df.loc[1, "decomposition_overhead_share"] = 0.4
    df.loc[2, "status"] = "oom"
    df.loc[4, "decomposition_overhead_share"] = 0.6
    labelled = analysis.label_regimes(df)
    regime, source = list(labelled["regime"][:4]), list(labelled["regime_source"][:4])
    assert regime[:2] + regime[3:] == ["compute-bound", "transitional", "framework-bound"] and pd.isna(regime[2])
    assert source[:2] + source[3:] == ["decomposition", "decomposition", "elasticity"] and pd.isna(source[2])
    assert labelled.loc[4, "regime"] == "framework-bound" and labelled.loc[4, "regime_source"] == "decomposition"


def test_label_regimes_groups_series_apart():
    flat = np.full(BATCHES.size, 2.0)
    df = pd.concat([_frame({("a", "eager"): flat, ("a", "compile"): 0.01 * BATCHES}),
                    _frame({("a", "eager"): 0.01 * BATCHES}, machine="m2")], ignore_index=True)
    labelled = analysis.label_regimes(df)
    by = labelled.groupby(["machine_id", "backend"])["regime"].agg(set)
    assert by[("m1", "eager")] == {"framework-bound"}
    assert by[("m1", "compile")] == by[("m2", "eager")] == {"compute-bound"}


def test_inflections_one_row_per_series():
    df = _frame({("a", "eager"): _curve(16.0), ("a", "torchscript"): _curve(64.0),
                 ("b", "eager"): np.full(BATCHES.size, 1.0)})
    df.loc[df.index[-1], "status"] = "error"
    table = analysis.inflections(df).set_index(["model", "backend"])
    assert len(table) == 3
    assert table.loc[("a", "eager"), "inflection_batch"] == pytest.approx(16.0, rel=0.25)
    assert table.loc[("a", "torchscript"), "inflection_batch"] == pytest.approx(64.0, rel=0.25)
    assert not table.loc[("b", "eager"), "reached"] and table.loc[("b", "eager"), "max_batch"] == 256


def test_speedups_on_a_hand_built_frame():
    df = pd.DataFrame([
        {"machine_id": "m", "model": "x", "backend": "eager", "dtype": "fp32", "device": "cpu", "batch_size": 1,
         "seq_len": 16, "overrides": "{}", "status": "ok", "median_ms": 10.0, "ci_low_ms": 9.0, "ci_high_ms": 11.0},
        {"machine_id": "m", "model": "x", "backend": "onnxruntime", "dtype": "fp32", "device": "cpu", "batch_size": 1,
         "seq_len": 16, "overrides": "{}", "status": "ok", "median_ms": 4.0, "ci_low_ms": 3.0, "ci_high_ms": 5.0},
        {"machine_id": "m", "model": "x", "backend": "compile", "dtype": "fp32", "device": "cpu", "batch_size": 1,
         "seq_len": 16, "overrides": "{}", "status": "error", "median_ms": None, "ci_low_ms": None, "ci_high_ms": None},
        {"machine_id": "other", "model": "x", "backend": "torchscript", "dtype": "fp32", "device": "cpu",
         "batch_size": 1, "seq_len": 16, "overrides": "{}", "status": "ok", "median_ms": 5.0, "ci_low_ms": 4.0,
         "ci_high_ms": 6.0},  # no eager on its machine: no row
    ])
    table = analysis.speedups(df)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["backend"] == "onnxruntime" and row["baseline"] == "eager"
    assert row["speedup"] == pytest.approx(2.5)
    # records without rounds cannot be paired: no interval (the single-visit CIs are not one)
    assert row["rounds"] == 0 and row["interval"] == "unpaired"
    assert np.isnan(row["speedup_low"]) and np.isnan(row["speedup_high"])


def test_analysis_names_the_estimates_entry_points():
    from ftax.read import estimates, ratios

    assert analysis.estimates is estimates.estimates and analysis.speedups is ratios.speedups


def test_a_curve_has_one_identity_everywhere():
    """Every config column but the one a curve varies, the machine, and the software series: one definition, that
    the regimes, the fits, speedups and the tax model read."""
    from ftax.read import estimates, ratios, tax_model_validation

    batch = estimates.curve_columns("batch_size")
    assert "batch_size" not in batch and set(estimates.CONFIG_COLUMNS) - {"batch_size"} <= set(batch)
    assert {"machine_id", *estimates.SERIES_COLUMNS} <= set(batch)
    assert set(estimates.curve_columns("batch_size", series=False)) == set(batch) - {*estimates.SERIES_COLUMNS, "rule"}
    assert analysis.SERIES_KEYS == batch and set(analysis.INFLECTION_KEYS) == {*batch, "machine_label"}
    assert tax_model_validation.CURVE_KEYS == estimates.curve_columns("batch_size", series=False)
    assert set(ratios.SPEEDUP_COLUMNS) == set(estimates.curve_columns("backend", series=False))
