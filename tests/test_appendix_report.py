"""The hosted appendix shows numbers: the report-only run of 90-validation (`measure=False`, what
`make book-report` and the Pages workflow build) on the committed `results/`, read back from the stored
validation runs (`ftax.measure.validation_store`), prints the agreement table with measured values."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "results" / "validation"


def appendix_report(results_dir: Path, out: Path) -> list[str]:
    """The Markdown outputs (shown or glued) of 90-validation run report-only (profile quick, cpu) on `results_dir`."""
    import papermill

    papermill.execute_notebook(str(ROOT / "notebooks" / "90-validation.ipynb"), str(out), cwd=str(ROOT),
                               kernel_name="python3", progress_bar=False, log_output=False,
                               parameters={"profile": "quick", "device": "cpu", "results_dir": str(results_dir),
                                           "measure": False})
    return [text for c in nbformat.read(out, 4).cells if c.cell_type == "code" for o in c.get("outputs", [])
            for mime, text in o.get("data", {}).items() if mime.endswith("text/markdown")]  # shown or glued


@pytest.mark.slow
def test_report_only_appendix_from_the_committed_results_shows_the_agreement_table(tmp_path):
    if not list(STORED.glob("*.jsonl")):
        pytest.skip(f"no validation run committed in {STORED.relative_to(ROOT)}/: `make book` measures and stores one")
    shown = appendix_report(STORED.parent, tmp_path / "90-validation.ipynb")
    text = "\n".join(shown)
    table = next((s for s in shown if s.startswith("| callable | method | central value (ms)")), "")
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    assert rows, "no agreement table"
    assert all(re.search(r"\| \d[\d.,]* \|", row) for row in rows), rows  # each row carries measured values
    assert "Nothing" not in text and "read back from there" in text  # shown from the store, with its provenance
