"""A Sphinx extension (named in `_config.yml`) for how the executed pages read on the hosted site.

All at build time, so the notebooks and `ftax.book.build` stay as they are:

- Parameters shown once: papermill runs a page by adding a cell tagged `injected-parameters` (this
  build's values) under the cell tagged `parameters` (the defaults). The reader gets the parameters
  cell with this build's values appended as its last lines, and no second cell.
- Findings first: a case-study page's parameters cell comes first in the notebook (papermill needs it there),
  but the reader gets it folded under the page's `## How this page was measured` heading, with this build's values
  (`measured_at_end`).
- Charts: a page whose HTML holds a `div.ftax-chart` (an `ftax.figures.interactive.Interactive` output) loads
  `_static/ftax-charts.js` (deferred): Vega, Vega-Lite and vega-embed with the renderer
  (`ftax.figures.interactive.javascript_bundle`), written once per build, so the site serves the bundle once
  and a page draws its charts from a static host with no network. Pages without a chart skip it. The
  Vega-Lite spec an output also carries (for JupyterLab) is dropped before myst-nb reads the page, and so
  is the explorer's saved widget state (it would load a widget manager from a CDN). Duplicate scripts
  in a page's head are dropped (sphinx-thebe's configuration is added twice).
- Phones: `_static/ftax-pages.css` keeps static figures legible at 390 px (`PAGE_CSS`).
"""
from __future__ import annotations

import json
from pathlib import Path

from ftax.figures.interactive import VEGALITE_MIME, javascript_bundle

BUNDLE = "ftax-charts.js"
STYLESHEET = "ftax-pages.css"
# Phones: a static figure of three panels is 1,400 px wide and would shrink to a quarter, its labels to 3 px.
# Below 640 px a figure keeps most of its own width (at most 1,100 px: labels stay near 10 px) and scrolls
# sideways; the interactive charts resize to the page themselves. Tables (the claims table has five columns) set
# smaller type so that most fit a phone's width; the theme scrolls the rest sideways.
PAGE_CSS = """
@media (max-width: 640px) {
  figure, div.cell_output { overflow-x: auto; }
  figure img, div.cell_output img { max-width: min(1100px, 280%); width: auto; }
  .bd-article table { font-size: 0.78rem; }
  .bd-article table th, .bd-article table td { padding: 0.2rem 0.3rem; }
}
"""
MARKER = 'class="ftax-chart"'
FOLDED_HEADER = "# This build ran the page with:"
MEASURED_HEADING = "## How this page was measured"


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def fold_parameters(notebook: dict) -> dict:
    """`notebook` with papermill's injected cell folded into the parameters cell (unchanged without both)."""
    cells = notebook.get("cells", [])
    params = next((c for c in cells if "parameters" in _tags(c)), None)
    injected = next((c for c in cells if "injected-parameters" in _tags(c)), None)
    if params is None or injected is None:
        return notebook
    lines = "".join(injected["source"]).splitlines()
    values = [line for line in lines if line.strip() and not line.startswith("# Parameters")]
    source = "".join(params["source"]).rstrip("\n")
    params["source"] = source + ("\n\n" + FOLDED_HEADER + "\n" + "\n".join(values) if values else "")
    notebook["cells"] = [c for c in cells if c is not injected]
    return notebook


def measured_at_end(notebook: dict) -> dict:
    """`notebook` with its parameters cell moved, folded (`hide-input`), to just after the markdown cell that opens
    with `MEASURED_HEADING` (unchanged without one): the page opens with its question and findings."""
    cells = notebook.get("cells", [])
    params = next((c for c in cells if "parameters" in _tags(c)), None)
    heading = next((c for c in cells if c.get("cell_type") == "markdown"
                    and "".join(c.get("source", "")).lstrip().startswith(MEASURED_HEADING)), None)
    if params is None or heading is None:
        return notebook
    params.setdefault("metadata", {})["tags"] = [*_tags(params), "hide-input"]
    cells.remove(params)
    cells.insert(cells.index(heading) + 1, params)
    return notebook


def drop_spec_outputs(notebook: dict) -> dict:
    """`notebook` without the Vega-Lite mime type in its outputs (glued ones too, stored under papermill's
    record prefix): it is there for JupyterLab, myst-nb has no renderer for it (a warning, which fails the
    strict build), and the page draws the same spec from the output's HTML."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in [m for m in data if m.endswith(VEGALITE_MIME)]:
                del data[mime]
    return notebook


def drop_widget_state(notebook: dict) -> dict:
    """`notebook` without its saved ipywidgets state: the explorer's widgets need a kernel and their output is
    removed from the page, but the state alone makes myst-nb load the widget manager from a CDN."""
    notebook.get("metadata", {}).pop("widgets", None)
    return notebook


def _on_source(app, docname: str, source: list[str]) -> None:
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    notebook = json.loads(source[0])
    source[0] = json.dumps(drop_widget_state(drop_spec_outputs(measured_at_end(fold_parameters(notebook)))))


def _unique_scripts(context: dict) -> None:
    """Each script once: sphinx-thebe adds its `const THEBE_JS_URL = ...` twice under jupyter-book 1.x, and the
    second copy throws a SyntaxError in every page's console."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (str(script.filename or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    if "script_files" in context:
        context["script_files"][:] = kept


def _on_page(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    if MARKER in context.get("body", ""):
        app.add_js_file(BUNDLE, defer="defer")
    _unique_scripts(context)


def _write_assets(app, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        (static / BUNDLE).write_text(javascript_bundle(), encoding="utf-8")
        (static / STYLESHEET).write_text(PAGE_CSS, encoding="utf-8")


def setup(app) -> dict:
    app.connect("source-read", _on_source)
    app.connect("html-page-context", _on_page)
    app.connect("build-finished", _write_assets)
    app.add_css_file(STYLESHEET)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
