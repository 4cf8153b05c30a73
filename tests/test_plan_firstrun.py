"""The book's budgeted first run and the planner's accuracy: the cost fit recovers known costs from synthetic
records, the back-test adds up, the tiers close over shared shapes (a grid is never split), the budget cuts in
tier order and says what it cut, `ftax book --budget-s` parses, and a page whose grid was cut says so."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from ftax.book.build import BUDGET_S, parse_budget
from ftax.cli import main
from ftax.plan import accuracy, cost_fit, schedule as plan, visit_costs
from ftax.store import dataframe, jsonl
from ftax.store.env import fingerprint
from ftax.store.errors import InvalidConfigError
from ftax.store.schema import MeasureConfig, Record
from ftax.study import tiered_run
from ftax.study.catalogue import STUDIES
from ftax.study.page_parameters import study_grids
from ftax.sweep import rounds as sweep
from ftax.sweep.grids import study_configs
from ftax.sweep.profiles import RULES

RULE = RULES["quick"].share(5)
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _record(config: MeasureConfig, round_: int, at_s: float, median_ms: float, prepare_s: float, total_s: float,
            build_s: float = 0.5, detail: str = "") -> Record:
    stats = dict(median_ms=median_ms, p90_ms=median_ms, p99_ms=median_ms, mean_ms=median_ms, std_ms=0.0,
                 iqr_ms=0.0, ci_low_ms=median_ms, ci_high_ms=median_ms, n=10)
    setup = {"prepare_s": prepare_s, "model_build_s": build_s, "total_time_s": total_s, "first_call_ms": median_ms,
             "backend_detail": detail}
    stamp = (START + timedelta(seconds=math.floor(at_s))).isoformat(timespec="seconds")  # whole seconds, as stored
    return Record(config=config, status="ok", message="", env=fingerprint(), stats=stats, setup=setup, round=round_,
                  rule=RULE.name, flops=1e6, timestamp=stamp)


def _sweep(tmp_path, visit_s: float, cold_s: float, warm_s: float, share: float):
    """A synthetic quick sweep of bert-tiny (eager and torch.compile at batch 1, 2, 4, 5 rounds), each block's wall
    time made of known costs: the stored prepare and sampling, the timing's other parts, and `visit_s` a visit."""
    configs = [MeasureConfig.make("bert-tiny", b, "fp32", "cpu", batch, 16) for batch in (1, 2, 4)
               for b in ("eager", "compile")]
    t_s, now, seen = 1e-3, 0.0, set()
    for r in range(5):
        shapes: list = []
        now += 0.5  # the model's build, once a round
        for batch in (1, 2, 4):
            block = [c for c in configs if c.batch_size == batch]
            records = []
            for c in block:
                prepare = visit_costs.PREPARE_CALLS[c.backend] * t_s
                if c.backend == "compile":
                    shapes.append((batch, 16))
                    if visit_costs.compile_graphs(shapes)[-1]:
                        prepare += warm_s if c in seen else cold_s
                seen.add(c)
                floor, limit = max(RULE.min_time_s, RULE.min_iters * t_s), max(RULE.max_time_s, RULE.min_iters * t_s)
                spent = floor + share * (limit - floor)
                now += prepare + visit_costs.timing_s(RULE, t_s, spent_s=spent) + visit_s
                records.append((c, prepare, spent))
            for c, prepare, spent in records:
                jsonl.append(jsonl.store_path(tmp_path, fingerprint()["machine_id"]),
                             _record(c, r, now, t_s * 1e3, prepare, spent))
    return dataframe.load(tmp_path)


def test_the_fit_recovers_known_compile_sampling_and_per_visit_costs(tmp_path):
    frame = _sweep(tmp_path, visit_s=0.3, cold_s=20.0, warm_s=2.0, share=0.25)
    cal = cost_fit.calibrate(frame, "cpu", fingerprint()["machine_id"])
    assert cal.figure("compile_graph_s").value == pytest.approx(20.0, rel=0.05)
    assert cal.figure("compile_warm_s").value == pytest.approx(2.0, rel=0.05)
    assert cal.figure("sampling_share").value == pytest.approx(0.25, rel=0.05)
    # blocks under a second are stored with gaps of 0 or 1 s: kept, they average out to the true cost
    assert cal.figure("visit_s").value == pytest.approx(0.3, abs=0.1)


def test_the_back_test_adds_up_on_records_it_was_fitted_to(tmp_path):
    frame = _sweep(tmp_path, visit_s=0.3, cold_s=20.0, warm_s=2.0, share=0.25)
    cal = cost_fit.calibrate(frame, "cpu", fingerprint()["machine_id"])
    table = accuracy.backtest(frame, cal)
    acc = accuracy.summarize(table)
    assert acc.visits == len(frame) - 2  # the first block's start is unknown
    assert acc.ratio == pytest.approx(1.0, abs=0.15)
    terms = accuracy.by_term(table, "backend")
    assert terms.loc["compile", "prepare plan"] == pytest.approx(terms.loc["compile", "prepare stored"], rel=0.1)
    assert terms.loc["eager", "sampling plan"] == pytest.approx(terms.loc["eager", "sampling stored"], rel=0.1)
    # the compile's cost falls on round 0, where each graph is compiled cold
    rounds = accuracy.by_term(table, "round")
    assert rounds.loc[0, "prepare plan"] > 3 * rounds.loc[1, "prepare plan"]


def _grid(name: str, tier: str, backends=("eager",), batches=(1, 2), seq=16, model="bert-tiny"):
    grid = study_grids("framework-bound", "smoke", "cpu")[0]
    return replace(grid, name=name, tier=tier, models=(model,), backends=backends, batch_sizes=batches,
                   seq_lens=(seq,), decompose=False)


def test_tiers_close_over_shared_shapes_and_never_split_a_grid():
    grids = [_grid("a", "one"), _grid("b", "two", backends=("torchscript",), batches=(2, 4)),
             _grid("c", "two", seq=32), _grid("d", "three", batches=(4, 8), backends=("onnxruntime",))]
    closed = plan.closed_tiers(grids)
    tier_of = {g.name: g.tier for g in closed}
    # b shares (bert-tiny, 16, batch 2) with a; d shares batch 4 with b: both move up to a's tier
    assert tier_of == {"a": "one", "b": "one", "c": "two", "d": "one"}
    assert [name for name, _ in plan.tiers(closed)] == ["one", "two"]
    # every shape is measured in one tier only
    shape_tiers: dict = {}
    for g in closed:
        for shape in plan.shapes([g]):
            shape_tiers.setdefault(shape, set()).add(g.tier)
    assert all(len(t) == 1 for t in shape_tiers.values())


def test_the_books_quick_tiers_put_the_headlines_first_and_decode_last():
    grids = plan.closed_tiers([g for s in STUDIES for g in study_grids(s, "quick", "cpu")])
    names = [name for name, _ in plan.tiers(grids)]
    assert names[0] == "headline" and names[-1] == "decode" and "" not in names
    first = {g.name for g in plan.tiers(grids)[0][1]}
    assert {"batch", "paradigms", "width-depth", "decompose", "tax"} <= first
    shape_tiers: dict = {}
    for g in grids:
        for shape in plan.shapes([g]):
            shape_tiers.setdefault(shape, set()).add(g.tier)
    assert all(len(t) == 1 for t in shape_tiers.values())
    assert "quick" in BUDGET_S and "smoke" not in BUDGET_S and "full" not in BUDGET_S


def test_a_budgeted_run_prints_its_tiers_and_names_what_it_cut(tmp_path, monkeypatch):
    grids = [_grid("first", "one"), _grid("second", "two", seq=32, batches=(1, 2, 4))]
    monkeypatch.setattr(cost_fit, "calibrate", lambda *a, **k: visit_costs.Calibration("cpu", "test: defaults"))
    lines, now = [], [0.0]
    seconds = {name: s for name, s, _ in plan.estimate(grids, 1, grids[0].rule, visit_costs.Calibration(
        "cpu", "test: defaults"), math.inf).tier_seconds()}

    def fake_measure(tier_grids, results_dir, rounds, options, progress, deadline, clock, costs, **kwargs):
        counts = Counter()
        for config in study_configs(tier_grids):
            if clock() >= deadline:
                break
            record = replace(_record(config, 0, 0.0, 1.0, 0.1, 0.1), rule=tier_grids[0].rule.share(rounds).name)
            jsonl.append(jsonl.store_path(results_dir, record.machine_id), record)
            counts["ok"] += 1
            now[0] += costs[(config, 0)]
        return sweep.SweepSummary(path=tmp_path, total=0, skipped=0, counts=counts)

    tiered_run.run_budgeted(grids, tmp_path, 1, budget_s=seconds["one"] + seconds["two"] / 2, log=lines.append,
                            clock=lambda: now[0], measure=fake_measure)
    text = "\n".join(lines)
    assert "tiers:" in text and "[first]" in text and "[second]" in text
    second = next(line for line in lines if "[second]" in line)
    assert "cut" in second or "not started" in second
    closing = lines[-1]
    assert "tier 'two'" in closing and "second" in closing and "again" in closing and "nothing measured is lost" \
        in closing
    assert "first" not in closing.split("cut, to measure later:")[1]


@pytest.mark.parametrize("text, expected", [(None, None), ("0", math.inf), ("none", math.inf), ("NONE", math.inf),
                                            ("600", 600.0), ("90.5", 90.5)])
def test_budget_parsing(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["-5", "abc", "nan", ""])
def test_a_bad_budget_is_a_one_line_error_before_anything_runs(text, capsys):
    with pytest.raises(InvalidConfigError):
        parse_budget(text)
    code = main(["book", "--budget-s", text, "--results-dir", "/nonexistent", "--out", "/nonexistent"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "--budget-s" in err[0]


def test_a_page_whose_grid_was_cut_says_so_in_a_line(tmp_path):
    from ftax import pages
    from ftax.study.studies import open_study

    grids = study_grids("model-design", "smoke", "cpu")
    kept = study_configs(grids[:1]) + grids[1].configs()[:1]  # the second grid cut inside
    for config in kept:
        jsonl.append(jsonl.store_path(tmp_path, fingerprint()["machine_id"]), _record(config, 0, 0.0, 1.0, 0.1, 0.1))
    data = open_study("model-design", "smoke", "cpu", tmp_path, measure=False)
    line = pages.measured_line(pages.view(data, "cpu"))
    total = len(grids[1].configs())
    assert f"`{grids[1].name}` ({total - 1} of {total} configs)" in line and "make book" in line
    assert f"`{grids[0].name}`" not in line
    assert len(line.splitlines()) == 1
