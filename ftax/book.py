"""`ftax book`: run the case-study notebooks with papermill, then build the Jupyter Book.

The sources (`_config.yml`, `_toc.yml`, `book/`, `notebooks/*.ipynb`) are never written to.
The build tree is assembled under `<out>/_build/source/`: a copy of the config, the toc and
`book/`, plus each notebook the toc names (`book/_executed/<stem>`) executed there by
papermill with this run's parameters (profile, device, results_dir, measure), cwd at the
repository root. `jupyter-book build` then renders that tree (execution off: the copies are
already executed) to `<out>/_build/html/`. Pages that only summarize (`00-*`) run last, so
they see everything the case studies just measured.

The second half of the module is the few helpers the pages call to turn papermill
parameters into grids and records into sentences; the pages hold the story, not code.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import yaml

from ftax.errors import FtaxError, InvalidConfigError

EXECUTED_DIR = "book/_executed"
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
    root = Path(__file__).resolve().parents[1]
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


@contextmanager
def _stderr_to(path: Path):
    """Send fd 2 (and so the kernel's stderr, which it inherits) to `path` for the duration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def execute(notebook: Path, output: Path, parameters: dict, cwd: Path, log: Path) -> float:
    """Run one notebook with papermill into `output`; seconds taken. A failing cell raises BookError.

    Only the parameters the notebook declares are passed. The kernel's stderr goes to `log`.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    start = time.perf_counter()
    try:
        with _stderr_to(log):
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


def build(profile: str = "quick", device: str = "auto", results_dir: str | Path = "results", measure: bool = True,
          out: str | Path | None = None, strict: bool = False, root: Path | None = None,
          log: Callable[[str], None] = print) -> BuildResult:
    """Execute every page the toc names, then build the HTML; see the module docstring for the layout."""
    from ftax.profiles import PROFILES

    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    root = (root or find_root()).resolve()
    out = Path(out).resolve() if out else root
    source = out / "_build" / "source"
    pages = notebooks(root, log)
    assemble(root, source)
    parameters = {"profile": profile, "device": device, "results_dir": str(Path(results_dir).resolve()),
                  "measure": measure}
    result = BuildResult(html=out / "_build" / "html" / "index.html")
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


def cmd_book(args) -> int:
    try:
        build(args.profile, args.device, args.results_dir, not args.no_measure, args.out, args.strict)
    except BookError as exc:
        print(f"ftax book: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub, add_stop_args) -> None:
    """Register `ftax book` (stopping rules come from the profile, so `add_stop_args` is not used)."""
    from ftax.profiles import PROFILES

    p = sub.add_parser("book", help="run the case-study notebooks (papermill) and build the Jupyter Book")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="grids and stopping rules (default quick)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="records to read and extend")
    p.add_argument("--no-measure", action="store_true", help="only report what results/ already holds")
    p.add_argument("--out", type=Path, help="build under OUT/_build (default: the repository root)")
    p.add_argument("--strict", action="store_true", help="warnings fail the build (-W --keep-going)")
    p.set_defaults(func=cmd_book)


# --- helpers the pages call ---------------------------------------------------------------

def list_param(name: str, value) -> list | None:
    """A papermill list parameter: a list, None, or the string `-p` passes ("[1, 3]", "1,3", "bert-tiny")."""
    if value is None or isinstance(value, (list, tuple)):
        return None if value is None else list(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = [item.strip().strip("'\"") for item in text.strip("[]()").split(",") if item.strip()]
        if isinstance(parsed, (list, tuple)):
            return list(parsed)
        if isinstance(parsed, (int, str)):
            return [parsed]
    raise InvalidConfigError(f"parameter {name} must be a list such as [1, 4] or None, got {value!r}")


def overrides(**values) -> dict:
    """The notebook's list parameters that are set, as lists (None keeps the profile's value)."""
    parsed = {name: list_param(name, value) for name, value in values.items()}
    return {name: value for name, value in parsed.items() if value is not None}


def grid_table(grids: Sequence) -> str:
    """Markdown table of what a study will measure: one row per grid."""
    lines = ["| grid | models | backends | dtypes | batch sizes | seq lens | configs |", "|---|---|---|---|---|---|---|"]
    for g in grids:
        over = f" ({len(g.overrides)} width x depth)" if any(g.overrides) else ""
        lines.append(f"| {g.name} | {', '.join(g.models)}{over} | {', '.join(g.backends)} | {', '.join(g.dtypes)} | "
                     f"{', '.join(map(str, g.batch_sizes))} | {', '.join(map(str, g.seq_lens))} | "
                     f"{len(g.configs())} |")
    return "\n".join(lines)


RECORD_COLUMNS = ("config_key", "machine_id", "machine_label", "status", "message", "model", "backend", "dtype",
                  "device", "batch_size", "seq_len", "overrides", "width", "depth", "median_ms", "ci_low_ms",
                  "ci_high_ms", "flops", "parity_ok", "prepare_s")


def with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every record column present: a loader only creates the columns its records have,
    so no records, or only failed ones, leave e.g. `median_ms` out."""
    missing = [c for c in RECORD_COLUMNS if c not in frame.columns]
    return frame.assign(**{c: None for c in missing}) if missing else frame


def focus(frame: pd.DataFrame, machine_id: str, device: str = "auto") -> tuple[pd.DataFrame, str | None]:
    """The rows of the one machine a page shows, and its label: this machine on `device` if it has
    records there, else the machine label with the most ok records. Machines are never mixed."""
    from ftax.backends import resolve_device

    frame = with_columns(frame)
    if frame.empty:
        return frame, None
    kind = resolve_device(device).split(":")[0]
    mine = frame[(frame["machine_id"] == machine_id) & (frame["device"].str.split(":").str[0] == kind)]
    if not mine.empty:
        return mine.reset_index(drop=True), mine["machine_label"].mode().iloc[0]
    counts = frame[frame["status"] == "ok"]["machine_label"].value_counts()
    label = counts.index[0] if len(counts) else frame["machine_label"].mode().iloc[0]
    return frame[frame["machine_label"] == label].reset_index(drop=True), label


def rows_of(frame: pd.DataFrame, grids: Sequence, names: Sequence[str] | None = None, varying: str | None = None):
    """Rows of `frame` whose config belongs to the named grids (or the grids sweeping `varying`)."""
    chosen = [g for g in grids if (names is None or g.name in names)
              and (varying is None or len(getattr(g, varying)) > 1)]
    wanted = {(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, _over(dict(c.overrides)))
              for g in chosen for c in g.configs()}
    frame = with_columns(frame)
    if frame.empty or not wanted:
        return frame.iloc[0:0]
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"])
    return frame[[k in wanted for k in keys]].reset_index(drop=True)


def _over(overrides: dict) -> str:
    import json

    return json.dumps(overrides, sort_keys=True)


def not_ok(frame: pd.DataFrame) -> str:
    """Markdown: which configs did not measure ok here and why (one line per distinct reason)."""
    if frame.empty:
        return "No records yet: nothing was measured or loaded for this page."
    bad = frame[frame["status"] != "ok"]
    if bad.empty:
        return f"All {len(frame)} configs shown measured ok."
    lines = [f"{len(bad)} of {len(frame)} configs did not measure ok:", "",
             "| status | model | backend | dtype | batch sizes | reason |", "|---|---|---|---|---|---|"]
    for (status, model, backend, dtype, message), part in bad.groupby(
            ["status", "model", "backend", "dtype", "message"], sort=True):
        batches = ", ".join(map(str, sorted(part["batch_size"].unique())))
        lines.append(f"| {status} | {model} | {backend} | {dtype} | {batches} | {message.replace('|', '/')} |")
    return "\n".join(lines)


def join(items: Sequence[str], empty: str = "none") -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]



def where(machine: str | None, profile: str) -> str:
    """How a page names the data it shows: machine and profile."""
    return f"**{machine or 'no machine yet'}** (profile `{profile}`)"


def loaded(data, frame: pd.DataFrame, machine: str | None, results_dir: str | Path) -> str:
    """Markdown: how many records the study has, on how many machines, which one the page shows."""
    machines = data.frame["machine_label"].nunique() if not data.frame.empty else 0
    head = (f"{len(data.frame)} records in `{results_dir}` match this study's grids, from {machines} "
            f"machine{'s' if machines != 1 else ''}; "
            f"the figures below show {where(machine, data.profile)}.")
    return head + "\n\n" + not_ok(frame)


def _curves(rows: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(name, rows) per curve of the ok rows; a name mentions only the `by` columns that vary
    (all of them when none does), so one machine's pages do not repeat its name in every phrase."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return []
    shown = [c for c in by if ok[c].nunique() > 1] or list(by)
    return [(_name(tuple(part[c].iloc[0] for c in shown)), part) for _, part in ok.groupby(list(by), sort=True)]


def _name(keys) -> str:
    return " ".join(map(str, keys if isinstance(keys, tuple) else (keys,)))


def sig(value: float, digits: int = 3) -> str:
    """A measured value to `digits` significant digits, without exponent notation: 0.0123, 4.56, 1,230."""
    if value is None or not np.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.{digits}g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 10 ** (digits - 1) else f"{rounded:g}"


def rise_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32 at batch 16' per curve: where latency first exceeds the smallest `x`'s by 20%
    ('... not up to batch 4' when it never does)."""
    from ftax.analysis import first_rise

    label = "batch" if x == "batch_size" else "length"
    phrases = []
    for name, curve in _curves(rows, by):
        if curve[x].nunique() < 2:
            continue
        rise = first_rise(curve[x], curve["median_ms"])
        phrases.append(f"{name} at {label} {rise}" if rise is not None else f"{name} not up to {label} {curve[x].max()}")
    return phrases


def scaling_phrases(rows: pd.DataFrame, x: str, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: 64x the batch costs 3.1x the latency' per curve (largest vs smallest `x`)."""
    noun = "batch" if x == "batch_size" else "sequence length"
    phrases = []
    for name, curve in _curves(rows, by):
        curve = curve.sort_values(x)
        if curve[x].nunique() < 2:
            continue
        first, last = curve.iloc[0], curve.iloc[-1]
        phrases.append(f"{name}: {last[x] / first[x]:g}x the {noun} ({first[x]} to {last[x]}) costs "
                       f"{sig(last['median_ms'] / first['median_ms'])}x the latency "
                       f"({sig(first['median_ms'])} to {sig(last['median_ms'])} ms)")
    return phrases


def latency_phrases(rows: pd.DataFrame, batch_size: int, by: Sequence[str]) -> list[str]:
    """'onnxruntime 0.21 ms' per row at one batch size, fastest first (named as in `_curves`)."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)] if not rows.empty else rows
    return [f"{name} {sig(part['median_ms'].median())} ms"
            for name, part in sorted(_curves(ok, by), key=lambda item: item[1]["median_ms"].median())]


def knee_phrases(fits: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """'bert-tiny fp32: inflection at batch 12 (95% interval 8 to 20)' per fitted curve."""
    phrases = []
    for name, fit in ((n, part.iloc[0]) for n, part in _curves(fits, by)):
        if fit["reached"]:
            low, high = fit["inflection_low"], fit["inflection_high"]
            span = (f" (95% interval {sig(low)} to {sig(high)})" if pd.notna(low) and pd.notna(high)
                    else " (interval open at the edge of the grid)")
            if "at or below the smallest batch" in str(fit.get("message", "")):
                phrases.append(f"{name}: compute-bound from the smallest batch measured")
            else:
                phrases.append(f"{name}: inflection at batch {sig(fit['inflection_batch'])}{span}")
        elif fit["n_batches"] >= 3:
            phrases.append(f"{name}: still framework-bound at batch {fit['max_batch']}")
    return phrases


def speedup_phrases(speedups: pd.DataFrame, batch_size: int, by: Sequence[str] = ("model", "dtype")) -> list[str]:
    """'bert-tiny fp32: onnxruntime 2.1x, torchscript 1.3x' at one batch size, fastest first."""
    rows = speedups[speedups["batch_size"] == batch_size] if not speedups.empty else speedups
    phrases = []
    curves = _curves(rows, by)
    for name, part in curves:
        listed = ", ".join(f"{r.backend} {sig(r.speedup, 2)}x" for r in part.sort_values("speedup", ascending=False)
                           .itertuples())
        phrases.append(listed if len(curves) == 1 else f"{name}: {listed}")
    return phrases


def doubling_factor(rows: pd.DataFrame, along: str, batch_size: int, value: str = "median_ms") -> float | None:
    """Multiplier of `value` (latency, or flops) per doubling of `along` (width or depth) at one batch
    size: 2 ** the mean slope of log2 `value` on log2 `along`, fitted at each value of the other one."""
    other = "depth" if along == "width" else "width"
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)].dropna(subset=[along, other, value])
    slopes = [np.polyfit(np.log2(part[along].astype(float)), np.log2(part[value].astype(float)), 1)[0]
              for _, part in ok.groupby(other) if part[along].nunique() >= 2]
    return float(2 ** np.mean(slopes)) if slopes else None


def ratio_phrases(rows: pd.DataFrame, baseline: str, batch_size: int, column: str = "model") -> list[str]:
    """'distilbert: 0.52x the latency, 0.5x the FLOPs of bert-base' at one batch size."""
    ok = rows[(rows["status"] == "ok") & (rows["batch_size"] == batch_size)]
    base = ok[ok[column] == baseline]
    if base.empty:
        return []
    base = base.iloc[0]
    phrases = []
    for _, r in ok[ok[column] != baseline].sort_values("median_ms").iterrows():
        flops = (f", {sig(r['flops'] / base['flops'], 2)}x the FLOPs" if pd.notna(r.get("flops"))
                 and pd.notna(base.get("flops")) and base["flops"] else "")
        phrases.append(f"{r[column]}: {sig(r['median_ms'] / base['median_ms'], 2)}x the latency{flops}")
    return phrases


def precision_phrases(rows: pd.DataFrame, baseline: str = "fp32") -> list[str]:
    """'bert-tiny at batch 1: fp16 3.2x, bf16 1.4x the fp32 latency' at the smallest and largest batch."""
    ok = rows[rows["status"] == "ok"] if not rows.empty else rows
    phrases = []
    for model, part in (ok.groupby("model", sort=True) if not ok.empty else []):
        base = part[part["dtype"] == baseline].groupby("batch_size")["median_ms"].median()
        others = part[part["dtype"] != baseline]
        for batch in sorted({base.index.min(), base.index.max()}) if not base.empty else []:
            at = others[others["batch_size"] == batch].sort_values("dtype")
            if not at.empty:
                listed = ", ".join(f"{r.dtype} {sig(r.median_ms / base[batch], 2)}x" for r in at.itertuples())
                phrases.append(f"{model} at batch {batch}: {listed} the {baseline} latency")
    return phrases


def growth_phrases(grid: pd.DataFrame) -> list[str]:
    """'at batch 1, doubling width multiplies latency by 1.1 (FLOPs by 3.6), doubling depth by 1.9
    (FLOPs by 2)' per batch size, each factor fitted over the grid (see `doubling_factor`)."""
    phrases = []
    for batch in sorted(grid[grid["status"] == "ok"]["batch_size"].unique()) if not grid.empty else []:
        factors = {(along, value): doubling_factor(grid, along, batch, value)
                   for along in ("width", "depth") for value in ("median_ms", "flops")}
        if all(factors.values()):
            phrases.append(f"at batch {batch}, doubling width multiplies latency by "
                           f"{sig(factors['width', 'median_ms'])} (FLOPs by {sig(factors['width', 'flops'])}) and "
                           f"doubling depth by {sig(factors['depth', 'median_ms'])} "
                           f"(FLOPs by {sig(factors['depth', 'flops'])})")
    return phrases


def no_data(rows: pd.DataFrame, here: str) -> str | None:
    """The sentence a caption or finding becomes when none of its rows measured ok (else None)."""
    if not rows.empty and (rows["status"] == "ok").any():
        return None
    return (f"Nothing to show here: no config of this figure measured ok on {here}. Either the profile does "
            f"not include it, or it failed (the table under *Load* lists failures and why), or it was not "
            f"measured yet (run the page with `measure=True`).")
