"""The hosted explorer as a reader meets it: the smoke book's page opened from the file system in headless
Chromium with the network cut off, its controls changed, and the points drawn compared with the records.

Needs the distribution's chromium and Playwright (`make test-browser` installs both); skipped without them.
The points are read from the chart's Vega view (`window.ftaxMarks`, `ftax.figures.interactive.RENDERER_JS`), the
estimates they must equal from the explorer's own selection logic (`ftax.pages.explorer_selection.resolve` / `rows_for`).
"""
from __future__ import annotations

import dataclasses
import math
import re
import shutil
from pathlib import Path

import pytest

from ftax.pages import explorer_selection

INSTALL = "make test-browser (apt-get install -y chromium; pip install -r requirements-browser.txt)"
pytestmark = pytest.mark.slow


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip(f"no chromium on PATH: {INSTALL}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip(f"Playwright is not installed: {INSTALL}")
    return path


def _points(page) -> set[tuple[str, int, float]]:
    """(runtime, x, value) of every point the explorer draws now."""
    return {(d["backend"], int(d["x"]), round(float(d["value"]), 9)) for d in page.evaluate("ftaxMarks('explorer')")}


def _expected(frame, selection) -> set[tuple[str, int, float]]:
    rows = explorer_selection.rows_for(frame, selection)
    return {(r["backend"], int(r[selection.x]), round(float(r["estimate_ms"]), 9)) for _, r in rows.iterrows()}


def explorer_session(html: Path, results_dir: Path, chromium: str) -> None:
    """Open the explorer page, check its opening points, change the model and drop a runtime, check again."""
    from playwright.sync_api import sync_playwright

    frame = explorer_selection.load(results_dir)
    opening = explorer_selection.resolve(frame)
    opening = dataclasses.replace(opening, machines=opening.machines[:1])
    ok = explorer_selection.ok_records(frame)
    others = [m for m in sorted(ok["model"].unique()) if m != opening.model
              and (ok[(ok["model"] == m) & (ok["overrides"] == "{}")]["backend"].nunique() >= 2)]
    assert others, "the smoke records need a second model with two runtimes for this test"
    model = others[0]
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        context.route(re.compile(r"^(https?|wss?)://"),
                      lambda route: (requests.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_function("window.ftaxChartsReady === true && 'explorer' in window.ftaxCharts", timeout=20_000)
        assert _points(page) == _expected(frame, opening)

        page.select_option("select[name='model']", model)
        moved = explorer_selection.resolve(frame, model=model, dtype=opening.dtype, machines=opening.machines,
                                           x=opening.x)
        dropped = moved.backends[-1]
        index = page.evaluate(f"Array.from(document.querySelectorAll(\"input[type='checkbox']\"))"
                              f".findIndex(b => b.parentElement.textContent.trim() === {dropped!r})")
        assert index >= 0, f"no checkbox for {dropped}"
        page.locator("input[type='checkbox']").nth(index).uncheck()
        page.wait_for_timeout(300)
        kept = dataclasses.replace(moved, backends=tuple(b for b in moved.backends if b != dropped))
        drawn = _points(page)
        assert drawn == _expected(frame, kept) and drawn, (model, dropped, drawn)
        assert all(math.isfinite(v) for _, _, v in drawn)
        browser.close()
    assert not errors, errors
    assert not requests, f"the page asked the network for {requests}"


def test_explorer_in_chromium_draws_the_estimates_of_the_selection(smoke_book):
    chromium = _chromium()
    html = smoke_book[1] / "_build" / "html"
    explorer_session(html / "book" / "_executed" / "06-explorer.html", smoke_book[2], chromium)
    bundle = html / "_static" / "ftax-charts.js"
    assert bundle.is_file() and len(list(html.rglob("ftax-charts*.js"))) == 1
