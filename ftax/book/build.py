"""`ftax book`: run the case-study notebooks with papermill, then build the Jupyter Book.

The sources (`_config.yml`, `_toc.yml`, `book/`, `notebooks/*.ipynb`) are never written to.
The build tree is assembled under `<out>/_build/source/`: a copy of the config, the toc and
`book/`, plus each notebook the toc names (`book/_executed/<stem>`) executed there by
papermill with this run's parameters (profile, device, results_dir, measure), cwd at the
repository root, after one sweep of every case study's grids (`ftax.study.studies.measure_studies`), so
each page finds its records stored; quick's first run is that sweep in priority tiers cut at a time budget
(`BUDGET_S`, `--budget-s`), and a page whose grid it cut says so instead of measuring it. `jupyter-book build`
then renders that tree (execution off: the copies are already executed) to `<out>/_build/html/`. Pages that
only summarize (`00-*`) run last, so they see everything the case studies just measured.

A page parses its own parameters (`ftax.study.studies.open_study`); what it states about its
records is the read layer's (`ftax.read.findings` and the page modules). `ftax book` is `ftax.cli`.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from ftax.store.errors import FtaxError, InvalidConfigError
from ftax.store.redirect import stderr_fd_to

EXECUTED_DIR = "book/_executed"
# Seconds of measuring a profile's first run gets by default: quick's, with the pages' few minutes, fits about a
# quarter of an hour on a 2-core CPU; smoke is seconds, and full (a GPU) measures everything unless given a budget.
BUDGET_S = {"quick": 720.0}
COPIED = ("_config.yml", "_toc.yml", "book")


class BookError(FtaxError):
    """A notebook failed or the book did not build; the message names the page and cell."""


@dataclass
class BuildResult:
    html: Path
    executed: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def find_root(start: Path | None = None) -> Path:
    """The repository root: the first of `start` (or cwd) and its parents holding `_toc.yml`, else ftax's checkout."""
    base = (start or Path.cwd()).resolve()
    for folder in (base, *base.parents):
        if (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    root = Path(__file__).resolve().parents[2]
    if (root / "_toc.yml").is_file():
        return root
    raise BookError("no _toc.yml found here or above, nor next to the ftax package: run ftax book in the repository")


def _toc_files(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["file"]] if "file" in node else []
        found += [node["root"]] if "root" in node else []
        return found + [f for value in node.values() for f in _toc_files(value)]
    if isinstance(node, list):
        return [f for item in node for f in _toc_files(item)]
    return []


def notebooks(root: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Notebooks the toc names (as `book/_executed/<stem>`), summaries (`00-*`) last.

    A notebook in `notebooks/` that the toc does not name is reported and skipped; a toc entry
    without its notebook is an error.
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    stems = [Path(f).with_suffix("").name for f in _toc_files(toc) if f.startswith(EXECUTED_DIR + "/")]
    found = {p.stem: p for p in sorted((root / "notebooks").glob("*.ipynb"))}
    missing = [s for s in stems if s not in found]
    if missing:
        raise BookError(f"_toc.yml names {', '.join(missing)} but notebooks/ has no such .ipynb")
    for stem in sorted(set(found) - set(stems)):
        log(f"ftax book: skipping notebooks/{stem}.ipynb (not in _toc.yml)")
    return sorted((found[s] for s in stems), key=lambda p: (p.name.startswith("00-"), p.name))


def assemble(root: Path, source: Path) -> None:
    """A fresh build tree: copies of the config, the toc and book/ (without old executed pages)."""
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for name in COPIED:
        path = root / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("_executed", ".ipynb_checkpoints"))
        elif path.is_file():
            shutil.copy2(path, source / name)
    (source / EXECUTED_DIR).mkdir(parents=True, exist_ok=True)


def execute(notebook: Path, output: Path, parameters: dict, cwd: Path, log: Path) -> float:
    """Run one notebook with papermill into `output`; seconds taken. A failing cell raises BookError.

    Only the parameters the notebook declares are passed. The kernel's stderr goes to `log`.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    start = time.perf_counter()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as kernel_log, stderr_fd_to(kernel_log):
            papermill.execute_notebook(str(notebook), str(output), cwd=str(cwd), kernel_name="python3",
                                       parameters={k: v for k, v in parameters.items() if k in declared},
                                       progress_bar=False, log_output=False)
    except papermill.PapermillExecutionError as exc:
        evalue = (str(exc.evalue).strip().splitlines() or [""])[0]
        name = notebook.relative_to(cwd) if notebook.is_relative_to(cwd) else notebook
        raise BookError(f"{name}: cell [{exc.exec_count}] raised {exc.ename}: {evalue} "
                        f"(executed copy: {output}; kernel log: {log})") from None
    return time.perf_counter() - start


def build_html(source: Path, out: Path, strict: bool) -> Path:
    """`jupyter-book build` of the assembled tree into `<out>/_build/html`; warnings fail it when strict."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--path-output", str(out)]
    if not Path(command[0]).exists():
        command[0] = "jupyter-book"
    if strict:
        command += ["-W", "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        problems = [line for line in lines if "WARNING" in line or "ERROR" in line or "Error" in line]
        raise BookError("jupyter-book build failed:\n" + "\n".join(problems[-20:] or lines[-20:]))
    return out / "_build" / "html" / "index.html"


def parse_budget(text: str | None) -> float | None:
    """`--budget-s`: seconds (a positive number), `0` or `none` for no budget (`math.inf`), None for the
    profile's default (`BUDGET_S`)."""
    if text is None:
        return None
    if text.strip().lower() in ("0", "none", "inf"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0):
        raise InvalidConfigError(f"--budget-s takes seconds (a positive number), or 0 or none for no budget; "
                                 f"got {text!r}")
    return value


def _measure_studies(profile: str, device: str, results_dir: Path, log: Callable[[str], None],
                     budget_s: float) -> float:
    """Every case study's grids in one sweep before the pages run (seconds taken): a page's comparisons then
    pair configs that another page names (page 02's eager runtime is page 01's batch sweep), timed together;
    with a finite `budget_s`, in priority tiers cut at it."""
    from ftax.sweep.profiles import ROUNDS
    from ftax.study.studies import book_grids, measure_studies
    from ftax.study.tiered_run import run_budgeted

    log(f"measuring the case studies (profile {profile}, {ROUNDS[profile]} rounds; stored visits are kept) ...")
    start = time.perf_counter()
    if math.isinf(budget_s):
        log(str(measure_studies(profile=profile, device=device, results_dir=results_dir, progress=True)))
    else:
        log(str(run_budgeted(book_grids(profile=profile, device=device), results_dir, ROUNDS[profile], budget_s,
                             log=lambda line: print(line, file=sys.stderr, flush=True))))
    return time.perf_counter() - start


def _shown_path(path: Path, root: Path) -> str:
    """`path` as the pages receive (and print) it: relative to the repository root when inside it, where
    papermill runs them, so a reader sees `results`, not the builder's absolute checkout path."""
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def build(profile: str = "quick", device: str = "auto", results_dir: str | Path = "results", measure: bool = True,
          out: str | Path | None = None, strict: bool = False, root: Path | None = None,
          log: Callable[[str], None] = print, budget_s: float | None = None) -> BuildResult:
    """Execute every page the toc names, then build the HTML; see the module docstring for the layout.
    `budget_s`: the measuring's budget (None: the profile's, `BUDGET_S`; `math.inf`: none). A budgeted run's pages
    read what it measured and measure nothing themselves: a grid it cut stays cut until a rerun measures it."""
    from ftax.sweep.profiles import PROFILES

    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    root = (root or find_root()).resolve()
    out = Path(out).resolve() if out else root
    source = out / "_build" / "source"
    pages = notebooks(root, log)
    assemble(root, source)
    budget = BUDGET_S.get(profile, math.inf) if budget_s is None else budget_s
    parameters = {"profile": profile, "device": device, "results_dir": _shown_path(Path(results_dir), root),
                  "measure": measure and math.isinf(budget)}
    result = BuildResult(html=out / "_build" / "html" / "index.html")
    if measure:
        result.seconds["measure"] = _measure_studies(profile, device, Path(results_dir).resolve(), log, budget)
    for i, notebook in enumerate(pages, start=1):
        target = source / EXECUTED_DIR / notebook.name
        log(f"[{i}/{len(pages)}] {notebook.stem}: running (profile {profile}, device {device}"
            f"{'' if measure else ', no measuring'}) ...")
        seconds = execute(notebook, target, parameters, root, out / "_build" / "logs" / f"{notebook.stem}.log")
        result.executed.append(target)
        result.seconds[notebook.stem] = seconds
        log(f"[{i}/{len(pages)}] {notebook.stem}: done in {seconds:.1f} s")
    log("jupyter-book build" + (" (warnings are errors)" if strict else "") + " ...")
    start = time.perf_counter()
    result.html = build_html(source, out, strict)
    result.seconds["jupyter-book"] = time.perf_counter() - start
    log(f"built in {result.seconds['jupyter-book']:.1f} s; open {result.html}")
    return result
