"""Comments, docstrings and the book's prose give reasons, never history.

A reader of the code or the book cannot open an issue tracker or a scratch run, and "as before" says nothing
once "before" is gone: each such phrase is replaced by the reason the code or the sentence is the way it is.
Scanned: every file of `ftax/`, README.md, ARCHITECTURE.md, `book/*.md` and the notebooks' Markdown cells.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORY = re.compile(r"\bissues? ?#?\d+|\bissue's\b|\bas before\b|\bno longer\b|\bscratch runs?\b|\bthe old way\b",
                     re.IGNORECASE)


def _texts() -> list[tuple[str, str]]:
    """(where, text) of every scanned file; a notebook gives its Markdown cells only."""
    found = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "ftax").rglob("*.py"))]
    found += [(name, (ROOT / name).read_text(encoding="utf-8")) for name in ("README.md", "ARCHITECTURE.md")]
    found += [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "book").glob("*.md"))]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        found += [(f"{path.relative_to(ROOT)} cell {i}", "".join(c["source"]))
                  for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    return found


def test_no_comment_or_page_narrates_history():
    hits = [f"{where}: {m.group(0)!r}" for where, text in _texts() for m in HISTORY.finditer(text)]
    assert hits == []
