"""A page parameter changes only the grids whose axis or members it names (`ftax.study.page_parameters.study_grids`).

Unit tests on the quick and smoke grids (no measuring), plus one papermill run of page 01's own
"Try it yourself" example with `measure=False` on a copy of the stored records: every line its figures
draw holds one curve, and the sequence grid keeps its batch size.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftax.store.errors import InvalidConfigError
from ftax.study.page_parameters import study_grids
from ftax.sweep.profiles import ROUNDS, rounds_by_profile

ROOT = Path(__file__).resolve().parents[1]


def _by_name(grids) -> dict:
    return {g.name: g for g in grids}


def test_batch_sizes_change_only_the_grids_that_sweep_batch():
    before = _by_name(study_grids("framework-bound", "quick", "cpu"))
    after = _by_name(study_grids("framework-bound", "quick", "cpu", batch_sizes=[1, 8, 64]))
    assert set(after) == set(before)
    for name, grid in after.items():
        if len(before[name].batch_sizes) > 1:
            assert grid.batch_sizes == (1, 8, 64), name
        else:
            assert grid.batch_sizes == before[name].batch_sizes, name
        assert grid.seq_lens == before[name].seq_lens, name
    assert after["seq"].batch_sizes == (1,)


def test_seq_lens_change_only_the_grids_that_sweep_the_sequence():
    before = _by_name(study_grids("framework-bound", "quick", "cpu"))
    after = _by_name(study_grids("framework-bound", "quick", "cpu", seq_lens=[32, 64]))
    assert after["seq"].seq_lens == (32, 64)
    assert all(after[n].seq_lens == before[n].seq_lens for n in after if n != "seq")
    assert after["cnn"].seq_lens == (224,) and after["speech"].seq_lens == (50,)


def test_an_axis_no_grid_sweeps_is_an_error():
    with pytest.raises(InvalidConfigError, match="seq_lens changes only the grids that sweep it"):
        study_grids("framework-bound", "smoke", "cpu", seq_lens=[8, 16])


@pytest.mark.parametrize("key, value, kept", [
    ("models", ["bert-base"], {"batch-base"}),
    ("models", ["bert-tiny"], {"batch", "batch-fp16", "seq"}),
    ("dtypes", ["fp16"], {"batch-fp16"}),
])
def test_members_narrow_each_grid_and_drop_the_emptied(key, value, kept):
    before = _by_name(study_grids("framework-bound", "quick", "cpu"))
    after = _by_name(study_grids("framework-bound", "quick", "cpu", **{key: value}))
    assert set(after) == kept
    for name, grid in after.items():
        assert set(getattr(grid, key)) == set(getattr(before[name], key)) & set(value)
        assert grid.batch_sizes == before[name].batch_sizes and grid.seq_lens == before[name].seq_lens


def test_a_model_is_never_added_to_a_grid_of_another_modality():
    grids = study_grids("framework-bound", "quick", "cpu", models=["bert-tiny", "mobilenet-v2"])
    cnn = [g for g in grids if g.seq_lens == (224,)]
    assert [g.models for g in cnn] == [("mobilenet-v2",)]
    assert all("mobilenet-v2" not in g.models for g in grids if g not in cnn)


def test_backends_and_phases_narrow_too():
    paradigms = study_grids("paradigms", "quick", "cpu", backends=["eager", "onnxruntime"])
    assert [g.backends for g in paradigms] == [("eager", "onnxruntime")]
    decode = _by_name(study_grids("decode", "quick", "cpu", phases=["prefill"]))
    assert set(decode) == {"prefill"}


@pytest.mark.parametrize("key, value", [("models", ["resnet-50"]), ("backends", ["cudagraph"]),
                                        ("dtypes", ["fp16"]), ("phases", ["decode"])])
def test_a_member_in_no_grid_is_an_error_naming_what_the_grids_hold(key, value):
    with pytest.raises(InvalidConfigError) as info:
        study_grids("framework-bound", "smoke", "cpu", **{key: value})
    message = str(info.value)
    assert repr(value[0]) in message and "framework-bound" in message and "whose grids hold" in message


def test_members_that_leave_no_grid_are_an_error():
    with pytest.raises(InvalidConfigError, match="no grid of study 'framework-bound'"):
        study_grids("framework-bound", "quick", "cpu", models=["bert-base"], dtypes=["fp16"])


def test_a_misspelled_name_says_so():
    with pytest.raises(InvalidConfigError, match="unknown model 'no-such-model'"):
        study_grids("framework-bound", "quick", "cpu", models=["no-such-model"])


def test_rounds_prose_reads_the_constant():
    text = rounds_by_profile()
    assert all(f"{profile} {rounds}" in text for profile, rounds in ROUNDS.items())


def _markdown(output: dict) -> str:
    """A cell output's Markdown, shown or glued (papermill records a glued output under its own mime prefix)."""
    data = output.get("data", {})
    return data.get("text/markdown") or data.get("application/papermill.record/text/markdown", "")


@pytest.mark.slow
def test_page_01_example_draws_one_curve_per_line_and_keeps_the_sequence_grid(tmp_path):
    """The page's own example: `-p measure False -p batch_sizes "[1, 8, 64]"`, on a copy of the stored records."""
    import nbformat
    import papermill

    results_dir = tmp_path / "results"
    shutil.copytree(ROOT / "results", results_dir)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "01-framework-bound.ipynb"), str(out), cwd=str(ROOT),
                               parameters=dict(measure=False, batch_sizes="[1, 8, 64]", profile="quick",
                                               results_dir=str(results_dir), device="cpu"),
                               progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    shown = [_markdown(o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    grid_table = next(m for m in shown if "| seq |" in m)  # glued into the folded "How this page was measured"
    seq_row = next(line for line in grid_table.splitlines() if line.startswith("| seq |"))
    assert seq_row.split("|")[5].strip() == "1", seq_row  # the sequence grid keeps its batch size
    batch_row = next(line for line in grid_table.splitlines() if line.startswith("| batch |"))
    assert batch_row.split("|")[5].strip() == "1, 8, 64", batch_row

    # The figures the page glued, re-drawn from the same parameters: each line's x values are distinct and rising.
    from ftax import pages
    from ftax.pages import framework_bound as page
    from ftax.study.studies import open_study

    v = pages.view(open_study("framework-bound", "quick", "cpu", results_dir, measure=False,
                              batch_sizes="[1, 8, 64]"), "cpu")
    for figure in (page.batch_figure(v)[0], page.seq_figure(v)[0]):
        lines = [line for ax in figure.axes for line in ax.get_lines() if line.get_marker() == "o"]
        assert lines
        for line in lines:
            x = list(line.get_xdata())
            assert x == sorted(set(x)), x


def test_a_page_over_every_study_narrows_each_to_what_it_holds(tmp_path):
    """The claims page and the intro open every study under one set of parameters (`open_studies`): a model that
    only one study's grids hold narrows that study and leaves the others with no grids, not an error; a model no
    study holds, and an axis no grid of any study sweeps, are refused."""
    from ftax.study.catalogue import STUDIES
    from ftax.study.studies import open_studies

    opened = open_studies(STUDIES, "quick", "cpu", tmp_path, models="[mobilenet-v2]", batch_sizes="[1, 2]")
    assert set(opened) == set(STUDIES)
    assert [g.name for g in opened["framework-bound"].grids] == ["cnn"]
    assert opened["framework-bound"].grids[0].batch_sizes == (1, 2)
    assert opened["paradigms"].grids == [] and opened["paradigms"].frame.empty
    with pytest.raises(InvalidConfigError, match="in no grid"):
        open_studies(STUDIES, "quick", "cpu", tmp_path, models=["vit-base"])
    with pytest.raises(InvalidConfigError, match="unknown grid parameter"):
        open_studies(STUDIES, "quick", "cpu", tmp_path, batch=[1])
