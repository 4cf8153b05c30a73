"""The book end to end: every notebook at profile=smoke into a tmp results dir, then a strict build.

The build runs once per module (it measures for about a minute on 2 cores); the other tests
read its HTML and records. Assertions are about structure and provenance (a figure, a caption
that names the machine and states a number from the records), never about latencies.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from ftax.book import build as book
from ftax.store import dataframe
from ftax.study import page_parameters

ROOT = Path(__file__).resolve().parents[1]
CASE_STUDIES = ("01-framework-bound", "02-framework-paradigms", "03-model-design", "04-hardware", "05-where-time-goes")
PAPERMILL = str(Path(sys.executable).with_name("papermill"))


def _sources() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def built(smoke_book):
    return smoke_book


def _article(html: Path) -> BeautifulSoup:
    return BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser").find("article")


def test_sources_are_stripped_and_parameterized():
    for path in _sources():
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{path.name} has outputs"
        assert "parameters" in code[0].metadata.get("tags", []), f"{path.name}: first code cell is not `parameters`"
        assert "profile" in code[0].source and "results_dir" in code[0].source


def test_toc_names_every_case_study():
    pages = [p.stem for p in book.notebooks(ROOT, log=lambda _: None)]
    assert set(CASE_STUDIES) <= set(pages)
    assert pages[-1].startswith("00-"), "summary pages run after the case studies"


@pytest.mark.slow
def test_every_notebook_ran(built):
    result, out, results_dir, lines = built
    names = {p.stem for p in result.executed}
    assert set(CASE_STUDIES) <= names
    for path in result.executed:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["papermill"]["exception"] is None, path.name
        assert nb.metadata["papermill"]["parameters"]["profile"] == "smoke"
        assert all(o.output_type != "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert any(re.search(r"\[\d+/\d+\] 01-framework-bound: done in [\d.]+ s", line) for line in lines)
    assert str(result.html) in lines[-1] and result.html.is_file()
    for path in _sources():  # the sources are never executed in place
        assert not any(c.get("outputs") for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


@pytest.mark.slow
def test_case_study_pages_have_figures_with_measured_captions(built):
    result, out, results_dir, _ = built
    labels = set(dataframe.load(results_dir)["machine_label"])
    assert labels, "the smoke build measured nothing"
    for name in CASE_STUDIES:
        article = _article(out / "_build" / "html" / "book" / "_executed" / f"{name}.html")
        figures = article.find_all("figure")
        if name == "04-hardware" and len(labels) < 2:  # one machine: the short page, what a second one adds
            assert not figures and "What a second machine adds" in article.get_text(" ", strip=True)
            continue
        assert figures and all(f.find("img") for f in figures), f"{name}: no rendered figure"
        captions = [f.find(class_="caption-text").get_text(" ", strip=True) for f in figures]
        assert all("smoke" in c for c in captions), f"{name}: a caption does not state the profile"

        def measured(caption: str) -> bool:  # names the machine and states a number besides its name
            return any(label in caption and re.search(r"\d", caption.replace(label, "")) for label in labels)

        assert any(measured(c) for c in captions), f"{name}: no caption states a measured number: {captions}"


@pytest.mark.slow
def test_intro_headlines_are_computed_from_the_records(built):
    result, out, results_dir, _ = built
    text = _article(out / "_build" / "html" / "book" / "_executed" / "00-intro.html").get_text(" ", strip=True)
    assert f"from the {len(dataframe.load(results_dir))} records" in text
    assert "How big is the tax?" in text and "Hardware (RQ4)" in text
    assert "def " not in text  # code cells are hidden on the intro


@pytest.mark.slow
def test_papermill_overrides_change_what_is_measured(tmp_path):
    """`-p` values arrive as strings ("[1, 3]"): the page parses them and measures exactly those configs (the
    batch list replaces the grid's batch sweep, the runtimes narrow its runtimes); the grid table shows them."""
    results_dir = tmp_path / "results"
    subprocess.run([PAPERMILL, str(ROOT / "notebooks" / "02-framework-paradigms.ipynb"), str(tmp_path / "out.ipynb"),
                    "-p", "profile", "smoke", "-p", "device", "cpu", "-p", "results_dir", str(results_dir),
                    "-p", "batch_sizes", "[1, 3]", "-p", "backends", "[eager, onnxruntime]", "--cwd", str(ROOT),
                    "--no-progress-bar"], check=True, capture_output=True, timeout=300)
    frame = dataframe.load(results_dir)
    assert set(frame["batch_size"]) == {1, 3}
    assert set(frame["backend"]) == {"eager", "onnxruntime"}
    assert (frame[frame.backend == "eager"]["status"] == "ok").all()
    markdown = " ".join(o.get("data", {}).get(mime, "")  # shown, or glued into the folded measuring section
                        for c in nbformat.read(tmp_path / "out.ipynb", as_version=4).cells if c.cell_type == "code"
                        for o in c.outputs for mime in ("text/markdown", "application/papermill.record/text/markdown"))
    assert "| paradigms | bert-tiny | eager, onnxruntime | fp32 | 1, 3 |" in markdown


@pytest.mark.slow
def test_bad_parameter_fails_before_measuring_and_names_the_cell(tmp_path):
    results_dir = tmp_path / "results"
    with pytest.raises(book.BookError) as info:
        book.execute(ROOT / "notebooks" / "01-framework-bound.ipynb", tmp_path / "out.ipynb",
                     {"profile": "smoke", "results_dir": str(results_dir), "models": "[no-such-model]"}, ROOT,
                     tmp_path / "kernel.log")
    message = str(info.value)
    nb = nbformat.read(ROOT / "notebooks" / "01-framework-bound.ipynb", as_version=4)
    # execution counts: 1 parameters, 2 papermill's injected parameters, 3 imports, 4 the compute cell (open_study)
    assert "notebooks/01-framework-bound.ipynb" in message and "cell [4]" in message
    assert "InvalidConfigError" in message and "no-such-model" in message and "\n" not in message
    assert not results_dir.exists(), "nothing may be measured when a parameter is bad"
    assert "open_study(" in [c for c in nb.cells if c.cell_type == "code"][2].source


@pytest.mark.slow
def test_report_only_build_without_records_says_so(tmp_path):
    """`make book-report` on a fresh clone: nothing measured, nothing stored; every page still builds
    strictly and says that there is nothing to show instead of drawing invented data."""
    result = book.build(profile="smoke", device="cpu", results_dir=tmp_path / "none", measure=False, out=tmp_path,
                        strict=True, root=ROOT, log=lambda _: None)
    assert not (tmp_path / "none").exists()
    for name in CASE_STUDIES:
        text = _article(tmp_path / "_build" / "html" / "book" / "_executed" / f"{name}.html").get_text(" ", strip=True)
        if name == "04-hardware":  # the short page: no machine yet, so what a second one adds
            assert "so far no machine has records for this study" in text, name
            continue
        assert "Nothing to show here" in text and "No records yet" in text, name
    assert result.html.is_file()


def test_list_parameters_accept_what_papermill_passes():
    assert page_parameters.list_param("batch_sizes", "[1, 3]") == [1, 3]
    assert page_parameters.list_param("batch_sizes", "1,3") == [1, 3]
    assert page_parameters.list_param("models", "[bert-base, distilbert]") == ["bert-base", "distilbert"]
    assert page_parameters.list_param("models", "bert-base") == ["bert-base"]
    assert page_parameters.list_param("models", None) is None
    assert page_parameters.list_param("batch_sizes", 4) == [4]
    with pytest.raises(ValueError, match="batch_sizes"):
        page_parameters.list_param("batch_sizes", {"a": 1})


def test_cli_registers_book_and_rejects_unknown_profile():
    done = subprocess.run([sys.executable, "-m", "ftax", "book", "--profile", "nope"], capture_output=True, text=True)
    assert done.returncode != 0 and "nope" in done.stderr
