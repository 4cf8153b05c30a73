"""The appendix's calibration section on hand-built stored runs: nothing is measured."""
from __future__ import annotations

from ftax.appendix import calibration_report as report
from ftax.store import jsonl


def _summary(covered: int, n: int, low: float, high: float, width: float) -> dict:
    return {"covered": covered, "n": n, "coverage": covered / n, "coverage_low": low, "coverage_high": high,
            "median_half_width": width, "rerun_ratio_min": 0.9, "rerun_ratio_max": 1.1}


def _run(timestamp: str, machine: str = "box-a", speedup_width: float = 0.08) -> dict:
    kinds = ("old (1 visit)", "new (5 rounds)")
    return {"format": report.FORMAT, "machine_id": machine, "machine_label": f"CPU {machine}",
            "env": {"hostname": "vm", "torch_version": "2.0", "torch_threads": 2},
            "started": timestamp, "timestamp": timestamp,
            "plan": {"grid": ["--models", "bert-tiny"], "device": "cpu", "pairs": 3, "rounds": [1, 5]},
            "latency": {kinds[0]: _summary(7, 36, 0.08, 0.36, 0.02), kinds[1]: _summary(34, 36, 0.81, 0.99, 0.2)},
            "speedup": {kinds[0]: _summary(5, 24, 0.07, 0.42, 0.03),
                        kinds[1]: _summary(20, 24, 0.63, 0.95, speedup_width)},
            "process_level": [{"pair": 0, "kind": kinds[1], "within_run_cv": 0.14, "between_runs_cv": 0.08}],
            "walls": [{"pair": 0, "kind": k, "run": r, "wall_s": 10.0 * (i + 1), "load_1m": 0.5 + r / 10}
                      for i, k in enumerate(kinds) for r in (1, 2)]}


def test_without_a_stored_run_the_section_says_how_to_make_one(tmp_path):
    said = report.markdown(tmp_path)
    assert "No calibration run is stored" in said and f"--store {tmp_path}" in said


def test_every_run_of_each_machine_is_shown_newest_first_with_pooled_coverage(tmp_path):
    for run in (_run("2026-01-01T10:00", speedup_width=0.2), _run("2026-01-02T10:00"), _run("2026-01-01T11:00", "b")):
        jsonl.append_side(tmp_path, report.KIND, run["machine_id"], run)
    said = report.markdown(tmp_path)
    assert said.count("pairs of runs") == 3 and said.index("2026-01-02T10:00") < said.index("2026-01-01T10:00")
    assert said.startswith("Pooled over the 2 stored runs of this machine")
    assert "| old (1 visit) | 14/72 = 19% [" in said and "| new (5 rounds) | 68/72 = 94% [" in said
    assert said.count("Pooled over") == 1  # machine b has one run: nothing to pool
    assert "| old (1 visit) | 7/36 = 19% [8%, 36%] |" in said
    assert "new (5 rounds): latency coverage meets 80% (its interval lies above)" in said
    assert "speedup coverage meets 80% at the point, but its interval reaches down to 63%" in said
    assert "speedups' median half-width 8.0%, within 10%" in said
    assert "1-minute load after each sweep 0.60-0.70" in said
    assert "14.0% between rounds of one process, 8.0% between two processes' estimates" in said


def test_coverage_verdicts_follow_the_interval():
    assert report.coverage_verdict(0.7, 0.5, 0.79).startswith("misses 80% (its interval lies below)")
    assert report.coverage_verdict(0.75, 0.6, 0.9).startswith("misses 80% at the point")
    assert report.coverage_verdict(0.85, 0.6, 0.95).startswith("meets 80% at the point")
    assert report.coverage_verdict(0.95, 0.85, 0.99).startswith("meets 80% (its interval")


def test_the_pooled_part_and_the_runs_part_make_the_whole_section(tmp_path):
    for run in (_run("2026-01-01T10:00"), _run("2026-01-02T10:00"), _run("2026-01-01T11:00", "b")):
        jsonl.append_side(tmp_path, report.KIND, run["machine_id"], run)
    pooled, runs = report.markdown(tmp_path, "pooled"), report.markdown(tmp_path, "runs")
    assert pooled.count("Pooled over") == 1 and pooled.count("pairs of runs") == 1  # b's only run stays in view
    assert "Pooled over" not in runs and runs.count("pairs of runs") == 2  # a's two runs, folded under its pool
    assert sorted((pooled + "\n\n" + runs).split("\n\n")) == sorted(report.markdown(tmp_path).split("\n\n"))
    assert report.markdown(tmp_path / "none", "runs") == ""
