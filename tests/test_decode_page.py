"""Page 09 (RQ5, decoding) and claim (h) on hand-built visits: nothing is measured."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ftax import pages
from ftax.claims.verdicts import CONTRADICTED, NOT_TESTABLE, SUPPORTED
from ftax.pages import decode as page
from fake_study import FakeStudy, evaluate_every_claim
from ftax.sweep.grids import Grid

T0 = pd.Timestamp("2026-01-05 10:00", tz="UTC")
LEVEL = (1.0, 1.15, 0.9)  # the machine's state per round: what is timed together shares it
GRIDS = [Grid("decode", models=("llama-small",), backends=("eager", "compile"), batch_sizes=(1, 4, 16),
              seq_lens=(128,), phases=("decode",), device="cpu"),
         Grid("prefill", models=("llama-small",), batch_sizes=(1, 4, 16), seq_lens=(128,), phases=("prefill",),
              device="cpu"),
         Grid("aot-forward", models=("bert-tiny",), backends=("eager", "torchscript", "aot-inductor"),
              batch_sizes=(1,), seq_lens=(16,), device="cpu")]


def _visit(model: str, backend: str, phase: str, batch: int, seq: int, ms: float, round_: int, minute: float,
           **kw) -> dict:
    row = dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu", model=model,
               backend=backend, dtype="fp32", seq_len=seq, overrides="{}", batch_size=batch, phase=phase,
               median_ms=ms, ci_low_ms=ms * 0.99, ci_high_ms=ms * 1.01, parity_ok=True, prepare_s=0.5, flops=1e6,
               target_met=True, target_rel_ci=0.03, schema_version=3, env_torch_version="2.0", env_torch_threads=2,
               env_cpu_count=2, env_load_avg_1m=1.0, env_hostname="box-1", rule="quick/3", round=round_,
               timestamp=T0 + pd.Timedelta(minutes=minute))
    return {**row, **kw}


def _visits(step_growth: float = 1.05, eager_minutes_away: float = 0.0, prefill_minutes_away: float = 0.0,
            decomposed: bool = True) -> list[dict]:
    """llama-small decode (eager; compile 1.5x faster) whose step grows by `step_growth` per 4x batch, prefill 6x
    a step, and bert-tiny's forward with aot-inductor 2x faster than torchscript; three rounds."""
    rows = []
    for r, level in enumerate(LEVEL):
        for i, batch in enumerate((1, 4, 16)):
            step = 10.0 * step_growth ** i * level
            minute = 10 * r + i
            split = dict(decomposition_busy_ms=step * 0.3, decomposition_overhead_ms=step * 0.7,
                         decomposition_overhead_share=0.7, decomposition_wall_ms=step,
                         decomposition_method="cpu-compute-ops") if decomposed and r == 0 else {}
            rows += [_visit("llama-small", "eager", "decode", batch, 128, step, r, minute, **split),
                     _visit("llama-small", "compile", "decode", batch, 128, step / 1.5, r, minute),
                     _visit("llama-small", "eager", "prefill", batch, 128, 6 * step, r, minute + prefill_minutes_away)]
        forward = 1.0 * level
        rows += [_visit("bert-tiny", "aot-inductor", "forward", 1, 16, forward / 2, r, 10 * r + 5),
                 _visit("bert-tiny", "torchscript", "forward", 1, 16, forward, r, 10 * r + 5),
                 _visit("bert-tiny", "eager", "forward", 1, 16, 3 * forward, r, 10 * r + 5 + eager_minutes_away)]
    return rows


def _view(rows: list[dict]) -> pages.PageView:
    return pages.view(FakeStudy(pd.DataFrame(rows), GRIDS), "cpu")


def test_decode_figures_findings_and_speedups_are_paired():
    v = _view(_visits())
    for function in (page.decode_figure, page.speedup_figure, page.split_figure):
        figure, caption = function(v)
        assert isinstance(figure, Figure) and "**CPU A x2 (CPU)**" in caption
    finding = page.decode_finding(v)
    assert "llama-small cache 128: flat at small batch (T(4)/T(1) = 1.05x [" in finding
    assert "Tokens per second" in finding and "at batch 16:" in finding
    assert "Past batch 4, paired by round: llama-small cache 128: T(16)/T(4) = 1" in finding
    speedup = page.speedup_finding(v)
    assert "llama-small batch 1 compile 1.5x [1.5, 1.5], 3 rounds" in speedup
    assert "3 of 3 speedups have a 95% interval that excludes 1x" in speedup


def test_prefill_is_paired_with_decode_only_when_timed_together():
    table = page.prefill_table(_view(_visits()))
    assert "| llama-small | eager | 1 |" in table and "| 6 [6, 6], 3 rounds |" in table
    apart = page.prefill_table(_view(_visits(prefill_minutes_away=60)))
    assert "not timed together" in apart and "3 rounds |" not in apart


def test_generation_share_outside_compute_is_a_lower_bound_from_the_profiled_step():
    finding = page.generation_finding(_view(_visits()))
    # 128 steps at 70% overhead over (prefill of 6 steps + 128 steps): 0.7 * 128 / 134 = 67%
    assert "llama-small eager batch 1 about 67% (step 70% overhead)" in finding and "one profiled visit" in finding
    assert "No decode step was profiled" in page.generation_finding(_view(_visits(decomposed=False)))


def test_a_runtime_the_cpu_profiler_cannot_see_is_left_out_of_the_split():
    split = dict(decomposition_busy_ms=0.01, decomposition_overhead_ms=5.0, decomposition_overhead_share=0.998,
                 decomposition_wall_ms=5.0, decomposition_method="cpu-compute-ops")
    rows = _visits() + [_visit("llama-small", "aot-inductor", "decode", 1, 128, 5.0, 0, 0, **split)]
    finding = page.generation_finding(_view(rows))
    assert "llama-small eager batch 1" in finding and "aot-inductor" not in finding


def test_floor_table_pairs_only_runtimes_timed_with_aot_inductor():
    table = page.floor_table(_view(_visits(eager_minutes_away=600)))
    lines = {line.split("|")[2].strip(): line for line in table.splitlines() if line.startswith("| bert-tiny")}
    assert "1 (the reference)" in lines["aot-inductor"]
    assert "2x [2, 2], 3 rounds" in lines["torchscript"]
    assert "not timed together" in lines["eager"]
    assert "6x [6, 6], 3 rounds" in page.floor_table(_view(_visits()))


def test_without_decode_records_the_page_says_so():
    forward_only = [r for r in _visits() if r["phase"] == "forward"]
    v = _view(forward_only)
    assert "no config of this figure measured ok" in page.decode_figure(v)[1]
    assert "has both a prefill and a decode step" in page.prefill_table(v)
    h = evaluate_every_claim(pd.DataFrame(forward_only))
    assert (h[h.claim == "h"].verdict == NOT_TESTABLE).all()


@pytest.mark.parametrize("growth, verdict", [(1.05, SUPPORTED), (2.0, CONTRADICTED)])
def test_claim_h_judges_decode_steps_and_claim_a_ignores_them(growth, verdict):
    frame = pd.DataFrame(_visits(step_growth=growth))
    table = evaluate_every_claim(frame)
    h = table[table.claim == "h"].iloc[0]
    assert h.verdict == verdict and "llama-small" in h.why
    a = table[table.claim == "a"].iloc[0]
    assert a.verdict == NOT_TESTABLE  # the forward rows have batch 1 only; decode steps are not (a)'s


def _fill_view(rows: list[dict]):
    """A view holding only decode visits, as `page.fill_markdown` reads them."""
    class View:
        visits = pd.DataFrame(rows)
        here = "CPU A x2 (CPU) (profile quick)"
    return View()


def _decode_visit(backend: str, when: str, **kw) -> dict:
    return {"backend": backend, "phase": "decode", "timestamp": pd.Timestamp(when, tz="UTC"),
            "env_git_commit": "abcdef123456", **kw}


def test_each_decode_record_says_its_fill_or_the_page_says_what_its_commit_did():
    before = page.PROMPT_PASS_SINCE - pd.Timedelta(days=1)
    after = page.PROMPT_PASS_SINCE + pd.Timedelta(days=1)
    v = _fill_view([_decode_visit("eager", str(after), cache_fill="prompt pass"),
                    _decode_visit("aot-inductor", str(after), cache_fill="token at a time"),
                    _decode_visit("compile", str(before.tz_localize(None))),
                    _decode_visit("eager", str(after.tz_localize(None)))])
    f = page.fills(v.visits)
    assert list(f["recorded"]) == [True, True, False, False]
    assert list(f["fill"].fillna("")) == ["prompt pass", "token at a time", "token at a time", ""]
    text = page.fill_markdown(v)
    assert "1 of 4 decode records (eager) say their cache took the prompt by one prompt pass" in text
    assert "1 of 4 decode records (aot-inductor) say their cache took the prompt a token at a time" in text
    assert (f"1 of 4 decode records (compile) do not say; they were measured at commit abcdef1, before "
            f"{page.PROMPT_PASS_COMMIT}, whose code took the prompt a token at a time") in text
    assert f"1 of 4 decode records (eager) do not say, and were measured after {page.PROMPT_PASS_COMMIT}" in text


def test_without_decode_records_the_fill_says_so():
    assert page.fill_markdown(_fill_view([])).startswith("No decode step is stored")
