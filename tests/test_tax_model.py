"""The model of the tax on synthetic curves (known H and rate), the probe's interpolation, `ftax predict`."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from ftax import cli
from ftax.store.errors import EXIT_USAGE
from ftax.measure import counting
from ftax.read import analysis, curve_probes, tax_model, tax_model_validation
from ftax.run import models
from ftax.store import dataframe, jsonl
from ftax.study import predict_inputs, probe_store, studies
from ftax.study.catalogue import STUDIES
from ftax.sweep.grids import study_configs
from ftax.study.page_parameters import study_grids
from ftax.measure.probe import Probe, mean_of
from ftax.read.tax_model import ADDITIVE, OVERLAP, Work

# A machine whose GEMMs run at 10 GFLOP/s below 1e6 FLOPs per call, rising to 80 GFLOP/s from 1e9.
PROBE = Probe(device="cpu", dtype="fp32", gemm_n=(64, 512, 1024), gemm_flops=(1e6, 1e8, 1e9),
              gemm_gflops=(10.0, 40.0, 80.0), bandwidth_gbs=20.0, threads=2)
FLAT_PROBE = Probe(device="cpu", dtype="fp32", gemm_n=(64, 1024), gemm_flops=(1e6, 1e9), gemm_gflops=(50.0, 50.0),
                   bandwidth_gbs=20.0, threads=2)
WORK = Work(flops_batch1=2e7, flops_per_item=2e7, gemm_calls=10)
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


def _true_curve(host_ms: float, work: Work, probe: Probe, scale: float = 1.0) -> np.ndarray:
    return np.array([host_ms + scale * tax_model.work_ms(work, probe, b) for b in BATCHES])


def test_probe_rate_interpolates_in_log_space_and_clamps_at_the_ends():
    assert PROBE.gflops_at(1e6) == pytest.approx(10.0) and PROBE.gflops_at(1e9) == pytest.approx(80.0)
    assert PROBE.gflops_at(1e3) == pytest.approx(10.0) and PROBE.gflops_at(1e12) == pytest.approx(80.0)
    assert PROBE.gflops_at(1e7) == pytest.approx(20.0)  # half way in log FLOPs between 10 and 40
    rates = [PROBE.gflops_at(f) for f in np.logspace(5, 10, 30)]
    assert all(a <= b for a, b in zip(rates, rates[1:]))
    assert Probe.from_dict(json.loads(json.dumps(PROBE.to_dict()))) == PROBE


@pytest.mark.parametrize("host_ms, scale", [(2.0, 1.0), (0.5, 3.0), (10.0, 0.5)])
def test_prediction_from_batch_1_and_the_true_host_recovers_the_curve_and_the_rate(host_ms, scale):
    truth = _true_curve(host_ms, WORK, PROBE, scale)
    prediction = tax_model.predict(truth[0], host_ms, WORK, PROBE, batch_sizes=BATCHES)
    assert np.allclose(prediction.latency_ms, truth, rtol=1e-9)
    assert prediction.work_scale == pytest.approx(scale)  # the achieved rate is the probe's / scale


def test_inflection_is_the_analysis_rule_on_the_predicted_ratios():
    truth = _true_curve(5.0, WORK, FLAT_PROBE)
    prediction = tax_model.predict(truth[0], 5.0, WORK, FLAT_PROBE, batch_sizes=BATCHES)
    expected = next(b for b, t in zip(BATCHES, truth) if t / truth[0] > analysis.FLAT_MAX_RATIO)
    assert prediction.regime == analysis.FLAT and prediction.inflection_batch == expected
    # analytically: H + w b / R > 1.25 (H + w / R) with w / R = 0.4 ms per item and H = 5 ms -> b > 4.4
    assert expected == 8


def test_a_curve_with_no_flat_regime_says_so_instead_of_inventing_an_inflection():
    truth = _true_curve(0.0, WORK, FLAT_PROBE)
    prediction = tax_model.predict(truth[0], 0.0, WORK, FLAT_PROBE, batch_sizes=BATCHES)
    assert prediction.regime == analysis.NOT_FLAT and prediction.inflection_batch is None
    assert prediction.message.startswith("no framework-bound regime: T(4)/T(1) is predicted at 4.00")


def test_the_host_range_gives_a_band_around_the_point_and_an_inflection_interval():
    truth = _true_curve(5.0, WORK, FLAT_PROBE)
    prediction = tax_model.predict(truth[0], 5.0, WORK, FLAT_PROBE, host_range_ms=(4.0, 5.5), batch_sizes=BATCHES)
    assert all(lo <= t <= hi for lo, t, hi in zip(prediction.low_ms, prediction.latency_ms, prediction.high_ms))
    assert prediction.low_ms[0] == pytest.approx(truth[0]) == pytest.approx(prediction.high_ms[0])  # pinned at T(1)
    low, high = prediction.inflection_interval
    assert prediction.regime == analysis.FLAT and prediction.inflection_batch == 8
    # H = 4 ms rises fastest (left at batch 2); H = 5.5 ms is clipped to T(1): no work, never leaves (None)
    assert low == 2 and high is None


def test_overlap_form_is_flat_until_the_work_exceeds_the_host():
    prediction = tax_model.predict(5.0, 5.0, WORK, FLAT_PROBE, batch_sizes=BATCHES, form=OVERLAP)
    work = np.array([tax_model.work_ms(WORK, FLAT_PROBE, b) for b in BATCHES])
    assert np.allclose(prediction.latency_ms, np.maximum(5.0, work))
    with pytest.raises(ValueError, match="unknown form"):
        tax_model.curve(5.0, 1.0, WORK, FLAT_PROBE, BATCHES, form="sideways")


def test_intercept_fit_recovers_the_host_cost_on_noisy_linear_curves():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(200):
        flops = np.array([WORK.flops(b) for b in BATCHES])
        latency = (3.0 + flops / 50e9 * 1e3) * rng.lognormal(0.0, 0.03, size=flops.size)
        host, low, high = tax_model.host_from_intercept(flops, latency)
        assert host == pytest.approx(3.0, rel=0.3)
        covered += low <= 3.0 <= high
    assert covered >= 150  # the slope-implied interval is rough, but mostly holds the truth
    assert all(math.isnan(v) for v in tax_model.host_from_intercept([1.0, 2.0], [1.0, 2.0]))


def test_predict_from_picks_the_preferred_host_and_spans_the_others():
    hosts = {"decomposition": 1.0, "smallest": 3.0, "probe": 2.0}
    prediction = tax_model.predict_from(6.0, hosts, WORK, FLAT_PROBE, batch_sizes=BATCHES)
    assert prediction.inputs["host_source"] == tax_model.HOST_PREFERENCE[0]
    assert prediction.host_range_ms == (1.0, 3.0) and prediction.form == ADDITIVE
    assert tax_model.predict_from(6.0, hosts, WORK, FLAT_PROBE, source="probe").host_ms == 2.0
    with pytest.raises(ValueError, match="no 'smallest' estimate"):
        tax_model.predict_from(6.0, {"probe": 2.0}, WORK, FLAT_PROBE, source="smallest")


def _configs(curves: dict[str, np.ndarray], work: Work) -> pd.DataFrame:
    rows = []
    for model, latency in curves.items():
        for b, t in zip(BATCHES, latency):
            rows.append({"machine_id": "m", "model": model, "backend": "eager", "dtype": "fp32", "device": "cpu",
                         "seq_len": 16, "overrides": "{}", "batch_size": b, "status": "ok", "estimate_ms": t,
                         "low_ms": t * 0.95, "high_ms": t * 1.05, "flops": work.flops(b), "gemm_calls": work.gemm_calls,
                         "decomposition_overhead_ms": 4.0 if b == 1 else np.nan})
    return pd.DataFrame(rows)


def test_validation_holds_out_all_but_batch_1_and_scores_the_model_against_the_baselines():
    curves = {"framework-bound": _true_curve(4.0, WORK, PROBE, 2.0), "compute-bound": _true_curve(0.2, WORK, PROBE)}
    frame = tax_model_validation.validate(_configs(curves, WORK), {("m", "cpu", "fp32"): PROBE},
                                          rate=tax_model.BY_SIZE)
    assert set(frame["batch_size"]) == set(BATCHES[1:]) and len(frame) == 2 * (len(BATCHES) - 1)
    score = tax_model_validation.scores(frame).set_index("predictor")
    assert set(score.index) >= {"probe", "decomposition", "constant", "flops_scaled"}
    # the decomposition said H = 4 ms: exact on the framework-bound curve
    exact = frame[frame["model"] == "framework-bound"]
    assert np.allclose(exact["pred_decomposition"], exact["measured_ms"])
    assert score.loc["constant", "share_within"] < 1 and score.loc["flops_scaled", "share_within"] < 1
    assert tax_model_validation.validate(_configs(curves, WORK), {}).attrs["skipped"]  # no probe: skipped, with why


def test_held_rate_grows_the_work_as_the_flops_and_is_a_cpu_probe_s_default():
    held = np.array([tax_model.work_ms(WORK, PROBE, b, tax_model.HELD) for b in BATCHES])
    assert np.allclose(held / held[0], [WORK.flops(b) / WORK.flops(1) for b in BATCHES])
    by_size = np.array([tax_model.work_ms(WORK, PROBE, b) for b in BATCHES])
    assert np.all(by_size[1:] < held[1:])  # PROBE's rate rises with size: bigger batches run faster per FLOP
    assert tax_model.default_rate(PROBE) == tax_model.HELD
    assert tax_model.default_rate(replace(PROBE, device="cuda")) == tax_model.BY_SIZE
    frame = tax_model_validation.validate(_configs({"held": 4.0 + held}, WORK), {("m", "cpu", "fp32"): PROBE})
    assert np.allclose(frame["pred_decomposition"], frame["measured_ms"])  # _configs' decomposition says H = 4 ms
    with pytest.raises(ValueError, match="unknown rate"):
        tax_model.work_ms(WORK, PROBE, 2, "sideways")


@pytest.mark.parametrize("host_ms, per_item", [(5.0, 0.4), (0.5, 2.0), (20.0, 0.01)])
def test_two_point_form_recovers_a_linear_curve_and_its_inflection(host_ms, per_item):
    truth = host_ms + per_item * np.array(BATCHES, dtype=float)
    p = tax_model.two_point(truth[0], 8, truth[3], batch_sizes=BATCHES)
    assert np.allclose(p.latency_ms, truth) and p.host_ms == pytest.approx(host_ms)
    assert p.work_scale == pytest.approx(per_item) and p.form == tax_model.TWO_POINT
    ratio = truth[1:] / truth[0]
    expected = analysis.first_past_flat(np.array(BATCHES[1:], dtype=float), ratio)
    flat = truth[2] / truth[0] <= analysis.FLAT_MAX_RATIO
    assert p.regime == (analysis.FLAT if flat else analysis.NOT_FLAT)
    assert p.inflection_batch == (expected if flat else None)


def test_two_point_band_widens_away_from_the_measured_batches_and_noise_is_not_a_slope():
    rng = np.random.default_rng(0)
    truth = 3.0 + 0.5 * np.array(BATCHES, dtype=float)
    noisy = truth * rng.normal(1.0, 0.05, truth.size)
    p = tax_model.two_point(noisy[0], 8, noisy[3], (noisy[0] * 0.9, noisy[0] * 1.1), (noisy[3] * 0.9, noisy[3] * 1.1),
                            batch_sizes=BATCHES)
    width = np.array(p.high_ms) - np.array(p.low_ms)
    assert width[-1] > width[3] and all(lo <= t <= hi for lo, t, hi in zip(p.low_ms, p.latency_ms, p.high_ms))
    assert np.all(np.abs(np.array(p.latency_ms) / truth - 1) < 0.2)
    flat = tax_model.two_point(5.0, 8, 4.9, batch_sizes=BATCHES)
    assert "not above T(1)" in flat.message and flat.inflection_batch is None
    with pytest.raises(ValueError, match="above 1"):
        tax_model.two_point(5.0, 1, 6.0)


def test_two_point_validation_holds_out_every_batch_but_1_and_the_second():
    assert tax_model_validation.second_batch_of([1, 2, 4, 8, 16]) == 8
    assert tax_model_validation.second_batch_of([1, 4, 16]) == 4
    assert tax_model_validation.second_batch_of([1, 16]) is None  # nothing would be held out


class _ViewThenWrite(torch.nn.Module):
    def forward(self, x):
        return (x.view(-1).t() * 2).unsqueeze(0)  # one op writes (the product); the rest are views


def test_op_counts_price_writes_of_new_data_not_views():
    counts = counting.count_ops(_ViewThenWrite(), (torch.randn(4, 8),))
    assert counts == counting.OpCounts(gemm_calls=0, writes=1, written_bytes=4 * 8 * 4, write_sizes=((128, 1),))
    stack = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())
    one, eight = (counting.count_ops(stack, (torch.randn(b, 8),)) for b in (1, 8))
    assert one.writes == eight.writes and one.gemm_calls == 1
    assert one.write_sizes == ((8 * 4, 2),) and eight.write_sizes == ((8 * 8 * 4, 2),)
    assert eight.written_bytes - one.written_bytes == 7 * 2 * 8 * 4  # two outputs of 8 floats per extra row


# A machine that writes 10 GB/s up to 1 MB per output and 2 GB/s above: a cliff, as glibc's mmap threshold makes.
CLIFF = replace(FLAT_PROBE, write_bytes=(1e5, 1e6, 2e6, 1e8), write_gbs=(10.0, 10.0, 2.0, 2.0))
WRITING = replace(WORK, written_batch1=1e6, written_per_item=1e6, writes=4)


def test_probe_write_rate_interpolates_and_a_version_1_probe_has_none():
    assert CLIFF.write_gbs_at(5e5) == pytest.approx(10.0) and CLIFF.write_gbs_at(1e9) == pytest.approx(2.0)
    assert FLAT_PROBE.write_gbs_at(1e6) is None
    assert Probe.from_dict(json.loads(json.dumps(CLIFF.to_dict()))) == CLIFF
    old = {k: v for k, v in FLAT_PROBE.to_dict().items() if k not in ("write_bytes", "write_gbs")}
    assert Probe.from_dict(old) == FLAT_PROBE


def test_written_bytes_add_a_write_term_that_rises_past_the_cliff():
    per_item = np.diff([tax_model.write_ms(WRITING, CLIFF, b) for b in BATCHES]) / np.diff(BATCHES)
    assert per_item[0] == pytest.approx(1e6 / 10e9 * 1e3)  # 250-500 kB per write: below the cliff
    assert per_item[-1] == pytest.approx(1e6 / 2e9 * 1e3)  # 16-32 MB per write at batch 64..128: past it
    assert tax_model.write_ms(WORK, CLIFF, 8) == 0.0 and tax_model.write_ms(WRITING, FLAT_PROBE, 8) == 0.0
    truth = np.array([3.0 + tax_model.work_ms(WRITING, CLIFF, b, tax_model.HELD) for b in BATCHES])
    p = tax_model.predict(truth[0], 3.0, WRITING, CLIFF, batch_sizes=BATCHES, rate=tax_model.HELD)
    assert np.allclose(p.latency_ms, truth)
    blind = tax_model.predict(truth[0], 3.0, WORK, CLIFF, batch_sizes=BATCHES, rate=tax_model.HELD)
    assert blind.latency_ms[-1] < 0.8 * truth[-1]  # without bytes the model misses the rise


def test_writes_by_size_price_the_one_large_output_past_the_cliff_that_a_mean_size_hides():
    # batch 1 writes nine outputs of 10 kB and one of 910 kB (mean 100 kB); all grow with the batch
    skewed = replace(WRITING, writes=10, write_sizes=((1e4, 9), (9.1e5, 1)))
    at_four = [(1e4 * 4, 9), (9.1e5 * 4, 1)]  # written(4) / written(1) = 4: the big one is past the cliff
    assert tax_model.write_ms(skewed, CLIFF, 4) == pytest.approx(
        sum(n * s / (CLIFF.write_gbs_at(s) * 1e9) * 1e3 for s, n in at_four))
    assert tax_model.write_ms(skewed, CLIFF, 4) > 1.5 * tax_model.write_ms(WRITING, CLIFF, 4)  # the mean: 400 kB
    even = replace(WRITING, write_sizes=((2.5e5, 4),))  # one size: the same as pricing the mean
    assert [tax_model.write_ms(even, CLIFF, b) for b in BATCHES] == pytest.approx(
        [tax_model.write_ms(WRITING, CLIFF, b) for b in BATCHES])
    assert tax_model.write_sizes_of([[32, 2], [64, 1]]) == ((32.0, 2), (64.0, 1))
    assert tax_model.write_sizes_of(None) == () and tax_model.write_sizes_of(float("nan")) == ()


def test_a_clipped_probe_host_cost_gives_way_to_the_next_estimate():
    assert tax_model.preferred_host({"probe": 0.0, "smallest": 1.5, "decomposition": 0.4}) == "smallest"
    assert tax_model.preferred_host({"probe": 2.0, "smallest": 1.5}) == "probe"
    assert tax_model.preferred_host({"probe": 0.0}) == "probe"  # nothing else: the clipped one, not an error
    with pytest.raises(ValueError, match="no estimate"):
        tax_model.preferred_host({"probe": float("nan")})


def test_predict_command_stores_its_record_and_reuses_the_probe(tmp_path, monkeypatch, capsys):
    runs = []

    def fake_probe(device, dtype, torch_dtype):
        runs.append(dtype)
        return replace(FLAT_PROBE, timestamp=pd.Timestamp.now(tz="UTC").isoformat())  # fresh: reused within the hour

    monkeypatch.setattr(probe_store, "run_probe", fake_probe)
    argv = ["predict", "--model", "synthetic-linear", "--override", "width=32", "--override", "depth=2",
            "--seq-len", "8", "--out", str(tmp_path), "--json"]
    assert cli.main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    predicted = record["predicted"]
    assert record["status"] == "ok" and predicted["batch_sizes"][0] == 1 and predicted["batch_sizes"][-1] == 512
    assert len(predicted["latency_ms"]) == len(predicted["batch_sizes"]) and "interval" in predicted
    assert set(record["inputs"]["hosts_ms"]) >= {"probe", "smallest"}
    assert cli.main(argv) == 0 and runs == ["fp32"]  # the stored probe is reused
    assert len(json.loads(capsys.readouterr().out)["inputs"]["probe_times"]) == 1  # the one probe of the hour
    assert len(list(jsonl.iter_side(tmp_path, predict_inputs.PREDICTIONS))) == 2
    assert dataframe.load(tmp_path).empty  # the inputs' visits are not case-study records
    capsys.readouterr()
    assert cli.main(["predict", "--model", "no-such-model", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "no-such-model" in capsys.readouterr().err
    assert cli.main([*argv[:-1], "--second-batch", "1"]) == EXIT_USAGE
    assert "above 1" in capsys.readouterr().err


def test_predict_with_a_second_batch_prints_both_forms(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(probe_store, "run_probe", lambda device, dtype, torch_dtype: FLAT_PROBE)
    argv = ["predict", "--model", "synthetic-linear", "--override", "width=32", "--override", "depth=2",
            "--seq-len", "8", "--out", str(tmp_path), "--second-batch", "4"]
    assert cli.main([*argv, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    two = record["predicted_two_point"]
    assert two["form"] == tax_model.TWO_POINT and record["inputs"]["second"]["batch_size"] == 4
    assert two["batch_sizes"] == record["predicted"]["batch_sizes"]
    assert two["latency_ms"][0] == pytest.approx(record["inputs"]["t1_ms"])
    assert two["latency_ms"][2] == pytest.approx(record["inputs"]["second"]["ms"])  # batch 4 is the third size
    assert cli.main(argv) == 0
    assert "predicted from batch 1 and batch 4" in capsys.readouterr().out


def test_host_window_contains_the_true_host_of_a_line_and_is_empty_for_a_curve_no_line_fits():
    b = np.array(BATCHES, dtype=float)
    low, high = tax_model_validation.host_window(b, 4.0 + 0.5 * b)  # T(1) = 4.5, H = 4
    assert low < 4.0 < high and high <= 4.5
    for h in (low, high):  # at the window's edges the worst point is exactly at the tolerance
        worst = np.max(np.abs((h + (4.5 - h) * b[1:]) / (4.0 + 0.5 * b[1:]) - 1))
        assert worst == pytest.approx(tax_model_validation.CLOSE_ENOUGH)
    assert tax_model_validation.host_window(b, 4.0 + 0.5 * b ** 2) is None  # quadratic: no line through T(1) within 25%
    assert tax_model_validation.host_window([2, 4], [1.0, 2.0]) is None  # no batch 1


def test_a_curve_is_read_with_the_probe_taken_nearest_it():
    old = replace(PROBE, timestamp="2026-11-29T12:00:00+00:00")
    new = replace(FLAT_PROBE, timestamp="2026-12-04T12:00:00+00:00")
    probes = {("m", "cpu", "fp32"): (old, new)}
    assert curve_probes.probe_for(probes, ("m", "cpu", "fp32"), "2026-11-30T08:00:00+00:00") == old
    assert curve_probes.probe_for(probes, ("m", "cpu", "fp32"), pd.Timestamp("2026-12-05", tz="UTC")) == new
    assert curve_probes.probe_for(probes, ("m", "cpu", "fp32")) == new  # no time: the newest stored
    assert curve_probes.probe_for({("m", "cpu", "fp32"): PROBE}, ("m", "cpu", "fp32"), "2026-01-01") == PROBE
    assert curve_probes.probe_for(probes, ("other", "cpu", "fp32")) is None
    # probes stored without a time were taken with the records beside them: a timed probe days away gives way to them
    untimed = replace(PROBE, timestamp="")
    later = replace(FLAT_PROBE, timestamp="2026-12-07T03:45:00+00:00")
    mixed = {("m", "cpu", "fp32"): (untimed, later)}
    assert curve_probes.probe_for(mixed, ("m", "cpu", "fp32"), "2026-12-02T18:00:00+00:00",
                                  "2026-12-02T18:30:00+00:00") == untimed
    assert curve_probes.probe_for(mixed, ("m", "cpu", "fp32"), "2026-12-07T03:00:00+00:00",
                                  "2026-12-07T03:40:00+00:00") == later
    assert Probe.from_dict(json.loads(json.dumps(new.to_dict()))) == new  # the time is stored with it


def test_a_curve_swept_between_probes_is_read_with_all_of_them_averaged():
    times = ["2026-12-04T10:00:00+00:00", "2026-12-04T11:00:00+00:00", "2026-12-04T12:00:00+00:00",
             "2026-12-04T13:00:00+00:00"]
    slow, mid, fast, later = (replace(FLAT_PROBE, gemm_gflops=(r, r), timestamp=t)
                              for r, t in zip((25, 50, 100, 1), times))
    probes = {("m", "cpu", "fp32"): (slow, mid, fast, later)}
    bracketed = curve_probes.probe_for(probes, ("m", "cpu", "fp32"), "2026-12-04T10:30", "2026-12-04T11:30")
    assert bracketed.gflops_at(1e7) == pytest.approx(50.0)  # the geometric mean of 25, 50 and 100; not the 4th
    assert curve_probes.probe_for(probes, ("m", "cpu", "fp32"), "2026-12-04T10:30") == slow  # no end: the nearest
    after_all = curve_probes.probe_for(probes, ("m", "cpu", "fp32"), "2026-12-04T14:00", "2026-12-04T15:00")
    assert after_all == later  # nothing after the curve: the nearest
    ladders = mean_of([replace(PROBE, write_bytes=(1e3, 1e6), write_gbs=(4.0, 1.0)),
                             replace(PROBE, write_bytes=(1e3, 1e6), write_gbs=(16.0, 1.0)), FLAT_PROBE])
    assert ladders.gemm_flops == PROBE.gemm_flops and ladders.write_gbs == pytest.approx((8.0, 1.0))
    assert ladders.timestamp is None  # not taken at one time
    assert mean_of([PROBE]) == PROBE


def test_a_stored_probe_older_than_max_age_is_measured_anew(tmp_path, monkeypatch):
    runs = []

    def fake_probe(device, dtype, torch_dtype):
        runs.append(dtype)
        return replace(FLAT_PROBE, timestamp=pd.Timestamp.now(tz="UTC").isoformat())

    monkeypatch.setattr(probe_store, "run_probe", fake_probe)
    first, reused = probe_store.ensure_probe(tmp_path, "cpu", "fp32")
    assert not reused and probe_store.ensure_probe(tmp_path, "cpu", "fp32", max_age_s=3600)[1]
    assert not probe_store.ensure_probe(tmp_path, "cpu", "fp32", max_age_s=0.0)[1] and len(runs) == 2


def test_predict_averages_the_probes_of_the_last_hour(tmp_path, monkeypatch):
    rates = iter([(20.0, 20.0), (80.0, 80.0)])

    def fake_probe(device, dtype, torch_dtype):
        return replace(FLAT_PROBE, gemm_gflops=next(rates), timestamp=pd.Timestamp.now(tz="UTC").isoformat())

    monkeypatch.setattr(probe_store, "run_probe", fake_probe)
    for _ in range(2):
        probe_store.ensure_probe(tmp_path, "cpu", "fp32", max_age_s=0.0)
    threads = probe_store.stored_probe(tmp_path, "cpu", "fp32", torch.get_num_threads()).threads
    recent = probe_store.recent_probes(tmp_path, "cpu", "fp32", threads, max_age_s=3600)
    assert [p.gemm_gflops[0] for p in recent] == [20.0, 80.0]
    assert mean_of(recent).gflops_at(1e7) == pytest.approx(40.0)
    assert probe_store.recent_probes(tmp_path, "cpu", "fp32", threads, max_age_s=-1.0) == []


def test_the_fresh_runs_sweep_every_batch_curve_of_the_studies_named_and_their_smallest_shapes():
    forward = tuple(s for s in STUDIES if s != "decode")
    grids = studies.batch_curve_grids("quick", "cpu", forward)
    curves = {(c.model, c.backend, c.dtype, c.overrides) for c in study_configs(grids) if c.batch_size > 1}
    book = study_configs([g for study in forward for g in study_grids(study, "quick", "cpu")])
    assert curves == {(c.model, c.backend, c.dtype, c.overrides) for c in book
                      if c.batch_size > 1 and c.phase == "forward"}
    smallest = {(c.model, c.backend, c.dtype, c.overrides) for c in study_configs(grids)
                if c.batch_size == 1 and c.seq_len == models.get_spec(c.model).min_seq_len}
    assert {(m, b, d, o) for m, b, d, o in curves if models.get_spec(m).modality == "text"} <= smallest
    decoders = study_configs(studies.batch_curve_grids("quick", "cpu", ("decode",)))
    assert {c.phase for c in decoders} == {"prefill", "decode"} and len({c.batch_size for c in decoders}) > 1
