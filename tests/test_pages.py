"""The pages' captions and findings from hand-built records: ok rows, no ok rows (`no_data`'s sentence)
and the edge cases the pages name (no speedups, one machine, no GPU). Nothing is measured."""
from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from ftax import pages
from ftax.pages import framework_bound, hardware, model_design, paradigms, where_time_goes
from fake_study import FakeStudy, evaluate_every_claim
from ftax.sweep.grids import Grid
from ftax.read.text import join, markdown_table, plural, sig

NO_DATA = "Nothing to show here"
BATCHES = (1, 2, 4, 8, 16, 32, 64)



def _record(batch: int, median_ms: float, **kw) -> dict:
    base = dict(status="ok", message="", machine_id="a", machine_label="CPU A x2 (CPU)", device="cpu",
                model="bert-tiny", backend="eager", dtype="fp32", seq_len=16, overrides="{}", batch_size=batch,
                median_ms=median_ms, ci_low_ms=median_ms * 0.95, ci_high_ms=median_ms * 1.05, parity_ok=True,
                prepare_s=0.5, flops=1e6 * batch)
    base.update(kw)
    return base


def _curve(**kw) -> list[dict]:
    """Flat up to batch 8, then linear: a knee the fit finds."""
    return [_record(b, max(1.0, b / 8), **kw) for b in BATCHES]


GRID = Grid("batch", models=("bert-tiny",), backends=("eager", "onnxruntime"), dtypes=("fp32", "fp16"),
            batch_sizes=BATCHES, seq_lens=(16,), device="cpu")


def _view(records: list[dict], grids=(GRID,), device: str = "cpu") -> pages.PageView:
    return pages.view(FakeStudy(pd.DataFrame(records), list(grids)), device)


def test_text_helpers():
    assert sig(1234.5) == "1,230" and sig(0.012345) == "0.0123" and sig(4.56) == "4.56" and sig(2.0) == "2"
    assert sig(1.6e-7) == "0.00000016" and "e" not in sig(1.234e-9, 3)  # never exponent notation
    assert sig(0.000161) == "0.000161" and sig(0.0) == "0" and sig(float("nan")) == "n/a" and sig(None) == "n/a"
    assert sig(45.6, 2) == "46" and sig(-0.5) == "-0.5"
    assert join(["a", "b", "c"]) == "a, b and c" and join([], "nothing") == "nothing"
    assert plural(1, "machine") == "1 machine" and plural(2, "machine") == "2 machines"
    assert markdown_table(["a", "b"], [(1, 2)]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_view_focuses_one_machine_and_names_it():
    records = _curve() + _curve(machine_id="b", machine_label="GPU B (GPU)", device="cuda")
    v = _view(records)
    assert v.machine == "CPU A x2 (CPU)" and set(v.frame.machine_id) == {"a"}
    assert v.here == "**CPU A x2 (CPU)** (profile `quick`)" and len(v.study_frame) == 14
    assert pages.measured(v) == "measure=False: reading stored records only"
    assert pages.loaded_markdown(v).startswith("14 records in `results` match this study's grids, from 2 machines; "
                                               "the figures below show **CPU A x2 (CPU)** (profile `quick`).")
    assert "| batch | bert-tiny | eager, onnxruntime |" in pages.grids_markdown(v)
    empty = _view([])
    assert empty.machine is None and empty.here == "**no machine yet** (profile `quick`)"


def test_framework_bound_captions_and_findings():
    v = _view(_curve() + _curve(dtype="fp16"))
    figure, caption = framework_bound.batch_figure(v)
    assert isinstance(figure, Figure)
    assert caption.startswith("Latency (line: median of one round per config: no between-run interval, so no band) "
                              "against batch size on **CPU A x2 (CPU)**")
    assert "at sequence length (image size, or audio frames) bert-tiny 16." in caption
    assert "20%" not in caption and "Per curve" not in caption  # the finding states the curves' numbers
    finding = framework_bound.batch_finding(v)
    assert finding.startswith("**Finding.** On **CPU A x2 (CPU)** (profile `quick`): fp16: 64x the batch (1 to 64)")
    assert "With one round per config there is no between-run interval, so the data cannot decide whether these " \
           "latency rises from the smallest to the largest batch differ from 1x." in finding
    assert "A curve has a framework-bound regime when its latency at batch 4 is within 1.25x" in finding
    assert "Per curve: fp16: no framework-bound regime in the measured range that the data can confirm (T(4)/T(1) = " \
           "1x (one round: no between-run interval))" in finding  # one round: the rule cannot decide
    assert "Half precision, paired by round: bert-tiny at batch 1: fp16 1x (one round: no between-run interval) the " \
           "fp32 latency" in finding
    assert framework_bound.regimes_left(v).endswith("claim (a)'s rule finds no framework-bound regime in the measured "
                                                    "range for every one of the 2 batch curves, so this page reports "
                                                    "no inflection.")
    _, caption = framework_bound.seq_figure(v)  # the grid sweeps no sequence length
    assert caption.startswith(NO_DATA)
    two = _view(_curve()[:2])  # batch 1 and 2: the rule needs batch 4; no half precision
    assert "no framework-bound regime in the measured range (no batch 4 was measured, which the rule needs).\n\nNo " \
           "half-precision curve was measured here." in framework_bound.batch_finding(two)


def test_sequence_sweep_caption():
    seq = [_record(1, m, seq_len=s) for s, m in ((16, 1.0), (64, 1.1), (256, 2.0))]
    grid = Grid("seq", models=("bert-tiny",), batch_sizes=(1,), seq_lens=(16, 64, 256), device="cpu")
    v = _view(seq, grids=[grid])
    _, caption = framework_bound.seq_figure(v)
    assert caption.startswith("Latency (median of one round per config: no between-run interval, so no band) against "
                              "sequence length at batch 1 on ")
    assert caption.endswith("How much latency rises from the shortest to the longest sequence, with its interval, "
                            "is stated below the figure.")
    assert framework_bound.seq_finding(v).endswith(": bert-tiny fp32: 16x the sequence length (16 to 256) costs 2x the "
                                                   "latency (1 to 2 ms).")


@pytest.mark.parametrize("page", [
    lambda v: framework_bound.batch_figure(v)[1], framework_bound.batch_finding, framework_bound.seq_finding,
    lambda v: paradigms.latency_figure(v)[1], paradigms.latency_finding, lambda v: paradigms.speedup_figure(v)[1],
    paradigms.speedup_finding, lambda v: model_design.heatmap_figure(v)[1], model_design.heatmap_finding,
    lambda v: model_design.flops_figure(v)[1], model_design.flops_finding, lambda v: model_design.models_figure(v)[1],
    model_design.models_finding, lambda v: hardware.latency_figure(v)[1], hardware.latency_finding,
    lambda v: hardware.inflection_figure(v)[1], hardware.inflection_finding, lambda v: where_time_goes.bars_figure(v)[1],
    where_time_goes.split_finding, lambda v: where_time_goes.share_figure(v)[1], where_time_goes.regime_finding])
def test_without_ok_rows_every_caption_and_finding_says_so(page):
    failed = [{**r, "status": "unsupported", "median_ms": None} for r in _curve()]
    grids = [GRID, Grid("width-depth", models=("bert-tiny",), device="cpu"),
             Grid("efficient", models=("bert-tiny",), device="cpu")]
    for v in (_view(failed, grids), _view([], grids)):
        assert page(v).startswith(NO_DATA)


def test_paradigms_speedups_parity_and_preparation():
    fast = [{**r, "backend": "onnxruntime", "median_ms": r["median_ms"] / 2, "ci_low_ms": r["ci_low_ms"] / 2,
             "ci_high_ms": r["ci_high_ms"] / 2, "parity_ok": False, "prepare_s": 2.0} for r in _curve()]
    v = _view(_curve() + fast)
    _, caption = paradigms.latency_figure(v)
    assert "for each runtime measured on **CPU A x2 (CPU)** (profile `quick`) (eager and onnxruntime)" in caption
    finding = paradigms.latency_finding(v)
    assert "at batch 1 the runtimes take onnxruntime 0.5 ms and eager 1 ms." in finding
    assert "Outputs differ from eager beyond the dtype's tolerance for onnxruntime fp32" in finding
    _, caption = paradigms.speedup_figure(v)
    assert "At batch" not in caption and "2x" not in caption  # the caption describes; the finding states numbers
    finding = paradigms.speedup_finding(v)
    assert "at each batch size, picked from these same measurements (one round: no between-run interval): " in finding
    assert finding.endswith("batch 64: onnxruntime 2x. With one round per config there is no between-run interval, "
                            "so the data cannot decide whether these picked speedups differ from 1x.")
    assert paradigms.preparation(v).endswith(": eager 0.5 s and onnxruntime 2 s.")
    alone = _view(_curve())  # eager only: no speedups
    assert paradigms.speedup_finding(alone).endswith("no runtime besides eager measured ok here.")
    assert paradigms.latency_finding(alone).endswith("Every runtime's output matched eager within the dtype's "
                                                     "tolerance.")
    assert paradigms.fastest(pd.DataFrame()).empty


def test_model_design_grid_and_architectures():
    grid_rows = [_record(1, float(d), overrides=f'{{"depth": {d}, "width": {w}}}', width=w, depth=d,
                         flops=float(w * w * d), round=0) for w in (64, 128) for d in (1, 2)]
    efficient = [_record(1, 2.0, model="bert-base", flops=100.0, round=0),
                 _record(1, 1.0, model="distilbert", flops=50.0, round=0)]
    grids = [Grid("width-depth", models=("bert-tiny",), seq_lens=(16,), overrides=(
                  (("depth", 1), ("width", 64)), (("depth", 1), ("width", 128)), (("depth", 2), ("width", 64)),
                  (("depth", 2), ("width", 128))), device="cpu"),
             Grid("efficient", models=("bert-base", "distilbert"), seq_lens=(16,), device="cpu")]
    v = _view(grid_rows + efficient, grids)
    _, caption = model_design.heatmap_figure(v)
    assert caption.endswith("one panel per batch size.") and "doubling" not in caption
    assert "doubling width multiplies latency by 1x (one round: no between-run interval) (FLOPs by 4)" in \
        model_design.heatmap_finding(v)
    assert model_design.flops_finding(v).endswith("at batch 1, 8x the FLOPs cost 2x (one round: no between-run "
                                                  "interval) the latency.")
    _, caption = model_design.models_figure(v)
    assert "0.5x" not in caption
    assert model_design.models_finding(v).endswith("at batch 1: distilbert 0.5x (one round: no between-run interval) "
                                                   "(0.5x the FLOPs).")
    no_base = _view(grid_rows + efficient[1:], grids)
    assert "shown side by side without ratios." in model_design.models_finding(no_base)


def test_hardware_one_machine_and_two():
    one = pages.every_machine(FakeStudy(pd.DataFrame(_curve()), [GRID]))
    assert one.here == "1 machine (profile `quick`)"
    assert pages.machines_markdown(one).startswith("Machines with records for this study: **CPU A x2 (CPU)**.")
    assert hardware.comparison_markdown(one) == ""  # one machine: the page is short
    assert hardware.second_machine_markdown(one).startswith("## What a second machine adds")
    assert "claim (f)" in hardware.second_machine_markdown(one) and "results/<machine_id>.jsonl" in \
        hardware.second_machine_markdown(one)
    gpu = [{**r, "median_ms": r["median_ms"] / 10} for r in _curve(machine_id="b", machine_label="GPU B (GPU)",
                                                                   device="cuda")]
    two = pages.every_machine(FakeStudy(pd.DataFrame(_curve() + gpu), [GRID]))
    assert two.here == "2 machines (profile `quick`)" and hardware.latency_finding(two).endswith(" ms.")
    assert hardware.second_machine_markdown(two) == ""
    assert "{glue:figure} rq4-latency" in hardware.comparison_markdown(two)
    assert "{glue:figure} rq4-inflection" in hardware.comparison_markdown(two)
    finding = hardware.inflection_finding(two)
    assert "Per curve: CPU A x2 (CPU): no framework-bound regime in the measured range that the data can confirm" \
        in finding and "; GPU B (GPU): no framework-bound regime" in finding  # one round: the rule cannot decide
    assert "Per curve" not in hardware.inflection_figure(two)[1]
    assert hardware.inflection_finding(two).startswith("**Finding.** A curve has a framework-bound regime when")
    short = pages.every_machine(FakeStudy(pd.DataFrame(_curve()[:2]), [GRID]))
    assert hardware.inflection_finding(short).endswith("(no batch 4 was measured, which the rule needs).")
    none = pages.every_machine(FakeStudy(pd.DataFrame(_curve()[:1]), [GRID]))
    assert hardware.inflection_finding(none).endswith("that claim (a)'s rule needs; run a larger profile.")
    empty = pages.every_machine(FakeStudy(pd.DataFrame(), [GRID]))
    assert pages.machines_markdown(empty).startswith("Machines with records for this study: none yet.")


def _decomposed(**kw) -> list[dict]:
    rows = []
    for r in _curve(**kw):
        busy, overhead = 0.1 * r["batch_size"], 1.0
        rows.append({**r, "decomposition_method": "cpu-compute-ops", "decomposition_busy_ms": busy,
                     "decomposition_overhead_ms": overhead, "decomposition_wall_ms": busy + overhead,
                     "decomposition_overhead_share": overhead / (busy + overhead), "median_ms": busy + overhead})
    return rows


def test_where_time_goes_captions_on_a_cpu_and_no_gpu():
    grid = Grid("decompose", models=("bert-tiny",), batch_sizes=BATCHES, seq_lens=(16,), device="cpu")
    v = _view(_decomposed(), [grid])
    _, caption = where_time_goes.bars_figure(v)
    assert "split into busy time (solid; here the self time of the aten operators that compute" in caption
    assert "91%" not in caption and "one visit per config" in caption
    finding = where_time_goes.split_finding(v)
    assert finding.startswith("**Finding.** On **CPU A x2 (CPU)** (profile `quick`), one visit per config, overhead's "
                              "share of the wall time: bert-tiny fp32 16 eager: 91% of 1.1 ms at batch 1 and 14% of "
                              "7.4 ms at batch 64.")
    assert "As a check, the decomposition's wall time" in finding and "Caveats" not in finding
    assert "Shaded: bands of the share alone (overhead share >= 50%, labelled framework-bound; overhead share <= " \
           "20%, labelled compute-bound), not the book's framework-bound regime" in where_time_goes.share_figure(v)[1]
    assert "the overhead share: bert-tiny fp32 16 eager: overhead share >= 50% at batch 1 to" in \
        where_time_goes.regime_finding(v)
    assert where_time_goes.overhead_growth(v).startswith("Overhead here, the wall time not in the profiler's busy time, "
                                                         "stays the same with the batch: bert-tiny fp32 16 eager 1 ms "
                                                         "at batch 1 and 1 ms at batch 64 (1x)")
    grows = _view([{**r, "decomposition_overhead_ms": r["batch_size"] / 2} for r in _decomposed()], [grid])
    assert "grows with the batch: " in where_time_goes.overhead_growth(grows)
    assert "Python" not in where_time_goes.overhead_growth(grows)  # no cause is asserted for the residual
    assert where_time_goes.gpu_markdown(v) == "" and where_time_goes.gpu_finding(v) == ""  # no GPU: no section
    gpu = _decomposed(machine_id="g", machine_label="GPU B (GPU)", device="cuda", decomposition_method="cuda-busy")
    both = _view(_decomposed() + gpu, [grid])
    _, caption = where_time_goes.gpu_figure(both)
    assert caption.startswith("Overhead as a share of wall time against batch size on **GPU B (GPU)** (profile "
                              "`quick`), one panel per GPU")
    assert where_time_goes.gpu_markdown(both).startswith("## On a GPU\n\n")
    assert "```{glue:figure} wtg-gpu" in where_time_goes.gpu_markdown(both)
    assert where_time_goes.gpu_finding(both).startswith("**Finding.** On **GPU B (GPU)** (profile `quick`), one visit "
                                                        "per config, overhead's share of the wall time: GPU B (GPU) "
                                                        "bert-tiny fp32 16 eager: 91% of 1.1 ms at batch 1")


def test_validation_page_without_a_run_says_so_once():
    from ftax.study import validation
    from ftax.pages import validation as page
    from ftax.measure.validation_spec import ValidationRun

    v = page.view(ValidationRun(validation.plan("smoke", "cpu", 2), measured=False), "somewhere")
    assert v.here.endswith("(profile `smoke`)") and v.table.empty
    assert page.summary(v).startswith("Nothing to show") and "`somewhere/validation/`" in page.summary(v)
    for figure, caption in (page.methods_figure(v), page.ratios_figure(v), page.cost_figure(v), page.repeat_figure(v),
                            page.sensitivity_figure(v), page.cuda_figure(v)):  # nothing visible: said once above
        assert caption == page.EMPTY and caption.startswith("<!--") and figure._repr_html_() == page.EMPTY
    for section in (page.agreement_table, page.methods_finding, page.explain_finding, page.overhead_finding,
                    page.cost_finding, page.repeat_finding, page.sensitivity_finding, page.cuda_section, page.verdict):
        assert section(v) == page.EMPTY
    assert "| callable |" in page.plan_markdown(v.plan)

def test_gpu_and_second_machine_sections_are_empty_without_those_records():
    cpu = pd.DataFrame(_curve())
    gpu = pd.DataFrame(_curve(machine_id="b", machine_label="GPU B (GPU)", device="cuda:0"))
    section = "## On a GPU\n\nbody"
    assert pages.gpu_section(cpu, section) == "" and pages.gpu_section(pd.DataFrame(), section) == ""
    assert pages.gpu_section(gpu.assign(status="error"), section) == ""  # failed GPU rows draw nothing either
    assert pages.gpu_section(pd.concat([cpu, gpu]), section) == section
    assert pages.machine_count(cpu) == 1 and pages.machine_count(pd.concat([cpu, gpu])) == 2
    assert pages.machines_section(cpu, section) == "" and pages.machines_section(pd.concat([cpu, gpu]), section)
    block = pages.figure_block("wtg-gpu")
    assert block.startswith("```{glue:figure} wtg-gpu\n:name: fig-wtg-gpu") and "{glue:md} wtg-gpu-finding" in block
    assert "finding" not in pages.figure_block("rq2-energy", finding=False)


def test_width_factor_is_one_paired_estimate_stated_once():
    """Page 03 states the width and depth factors once, in the finding, as the paired per-round fit that claim (c)
    judges: the same number in the finding and the verdict, none in the caption."""
    noise = {0: 1.0, 1: 1.1, 2: 0.95}
    rows = [_record(1, float(w / 64) * d * noise[r] * (1.02 if (w, d, r) == (128, 2, 1) else 1.0), round=r,
                    overrides=f'{{"depth": {d}, "width": {w}}}', width=w, depth=d, flops=float(w * w * d))
            for w in (64, 128) for d in (1, 2) for r in noise]
    grid = Grid("width-depth", models=("bert-tiny",), seq_lens=(16,), device="cpu", overrides=tuple(
        (("depth", d), ("width", w)) for w in (64, 128) for d in (1, 2)))
    v = _view(rows, [grid])
    from ftax.read.findings import ratio_text
    from ftax.read.ratios import doubling_factors
    width = doubling_factors(v.visits, 1)["width"]
    assert width[3] == 3 and width[1] < width[0] < width[2]
    stated = ratio_text(*width, 3)
    finding, caption = model_design.heatmap_finding(v), model_design.heatmap_figure(v)[1]
    assert finding.count(f"doubling width multiplies latency by {stated}") == 1
    assert "doubling" not in caption and "Fitted" not in caption
    c = evaluate_every_claim(v.visits).query("claim == 'c'").iloc[0]
    assert sig(c.statistic, 3) == sig(width[0], 3)  # claim (c) judges the same estimate
