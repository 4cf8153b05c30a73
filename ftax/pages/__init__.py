"""The case-study pages' text and figures: one module per page, each function one cell's output.

A notebook holds the story; each of its figure or finding cells calls one function here and
glues what it returns. `view` makes the selection every case study starts from, once, from what
`ftax.study.studies.open_study` returned (read only uses its fields, so it never imports the study
layer): its visits (one row per visit, every round) become one row per config
(`ftax.read.estimates.per_config`: the estimate and its calibrated interval in `estimate_ms`,
`low_ms`, `high_ms`), of each config's newest series; then the rows of one machine
(`ftax.read.rows.focus`), that machine's label, and `here`, the words every caption uses for it. The
visits stay in the view (`visits`), for what pairs visits by round: speedups, scaling ratios.
Functions named `*_figure` return (figure, caption Markdown); those named
`*_finding` return Markdown; without ok rows both say so (`ftax.read.findings.no_data`).

A page reads findings first: its one hidden cell computes everything and glues it (`glue_figure`,
`glue_measured`), and its Markdown cells place the glued outputs in the reader's order, with how the page was
measured folded at the end (`measured_line` visible, `measured_detail` in a dropdown). A section that only a
GPU's records (or only a second machine's) can fill is glued as a Markdown block with its own heading
(`gpu_section`, `machines_section`), empty where those records are absent, so no empty figure or heading is left.

May import: claims, appendix, figures, read, measure, store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from ftax.read.estimates import newest_series, per_config
from ftax.read.load_notes import (grid_table, loaded, loaded_machine_note, not_ok, provenance_note, rounds_note,
                                  target_note, where)
from ftax.read.rows import focus, on_device, with_columns
from ftax.read.text import join, plural
from ftax.store.dataframe import overrides_json
from ftax.store.grid_rows import GridRows


@dataclass(frozen=True, eq=False)
class PageView:
    """What a case-study page shows. `frame` holds one row per config of the machine shown (every
    machine's on the hardware page), `study_frame` the study's configs on every machine, `visits` the
    visits behind `frame` (one row per visit), `here` names what is shown in captions
    ("**AMD EPYC x2 (CPU)** (profile `quick`)"); `every_visit` holds the visits of every machine (for what
    compares machines). `grids` are the study's grids (the table of what the page measures), `grid_rows` the
    same grids as the rows they hold (`ftax.read.rows.rows_of` selects by them)."""

    frame: pd.DataFrame
    machine: str | None
    here: str
    profile: str
    grids: Sequence
    study_frame: pd.DataFrame
    results_dir: str
    summary: object = None
    visits: pd.DataFrame = field(default_factory=pd.DataFrame)
    study_visits: int | None = None
    every_visit: pd.DataFrame = field(default_factory=pd.DataFrame)
    grid_rows: tuple[GridRows, ...] = ()


def _shown(data) -> pd.DataFrame:
    """The study's visits of each config's newest series (every machine)."""
    return newest_series(with_columns(data.frame))


def _visits_of(visits: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The visits of the machines and devices in `frame`."""
    if frame.empty:
        return visits.iloc[0:0]
    keep = visits["machine_label"].isin(frame["machine_label"]) & visits["machine_id"].isin(frame["machine_id"])
    return visits[keep & visits["device"].isin(frame["device"])].reset_index(drop=True)


def view(data, device: str = "auto") -> PageView:
    """The page's view of a study's records (`data`: a `ftax.study.studies.StudyData`, one row per visit): one
    machine, this one on `device` if it measured the study, else the machine with the most ok configs.
    `device` is the page's parameter, which `open_study` resolved (`data.device`): `auto` shows that one."""
    visits = _shown(data)
    study = with_columns(per_config(visits))
    frame, machine = focus(study, data.machine_id, data.device if device == "auto" else device)
    return PageView(frame, machine, where(machine, data.profile), data.profile, tuple(data.grids), study,
                    str(data.results_dir), data.summary, _visits_of(visits, frame), len(data.frame),
                    visits.reset_index(drop=True), tuple(data.grid_rows))


def every_machine(data) -> PageView:
    """The view of the hardware page: every machine's configs, each machine its own series."""
    visits = _shown(data)
    frame = with_columns(per_config(visits))
    machines = sorted(frame["machine_label"].unique()) if not frame.empty else []
    visits = visits.reset_index(drop=True)
    return PageView(frame, None, f"{plural(len(machines), 'machine')} (profile `{data.profile}`)", data.profile,
                    tuple(data.grids), frame, str(data.results_dir), data.summary, visits, len(data.frame), visits,
                    tuple(data.grid_rows))


def grids_markdown(v: PageView) -> str:
    """The table of what the page measures: one row per grid."""
    return grid_table(v.grids, v.grid_rows)


def measured(v: PageView) -> str:
    """What the page's one call measured, or that it only read."""
    return str(v.summary or "measure=False: reading stored records only")


def loaded_markdown(v: PageView) -> str:
    """How many records the study has, which machine the figures show, what failed there, how many rounds
    each estimate pools, what missed its precision target or was measured under load, and when and where
    the records shown were measured."""
    return loaded(v.study_frame, v.frame, v.machine, v.profile, v.results_dir, v.study_visits, v.summary)


def measured_line(v: PageView) -> str:
    """The one visible line of "How this page was measured": what the page reads (records, machine, rounds)."""
    ok = v.frame[v.frame["status"] == "ok"] if not v.frame.empty and "status" in v.frame else v.frame.iloc[0:0]
    rounds = pd.to_numeric(ok["rounds"], errors="coerce").dropna() if "rounds" in ok else pd.Series([], dtype=float)
    pooled = (f", {plural(int(rounds.min()), 'round')} per estimate" if len(rounds) and rounds.min() == rounds.max()
              else f", {int(rounds.min())}-{int(rounds.max())} rounds per estimate" if len(rounds) else "")
    failed = len(v.frame) - len(ok)
    return (f"This page reads {plural(len(ok), 'config')} of {v.here} from `{v.results_dir}`{pooled}"
            + (f"; {failed} more did not run (listed below)" if failed else "") + _not_measured(v) + ".")


def _not_measured(v: PageView) -> str:
    """'; not measured yet: ...' naming the page's grids with configs no record holds (a budgeted first run cut
    them), each cut inside with its count, or nothing."""
    columns = ["model", "backend", "dtype", "batch_size", "seq_len", "overrides", "phase"]
    have = set(v.frame[columns].itertuples(index=False, name=None)) if not v.frame.empty else set()
    cut: dict[str, list[int]] = {}
    for grid in v.grid_rows:
        missing = sum((c.model, c.backend, c.dtype, c.batch_size, c.seq_len, overrides_json(dict(c.overrides)),
                       c.phase) not in have for c in grid.configs)
        if missing:
            counts = cut.setdefault(grid.name, [0, 0])
            counts[0], counts[1] = counts[0] + missing, counts[1] + len(grid.configs)
    if not cut:
        return ""
    named = [f"`{name}`" + ("" if n == total else f" ({n} of {total} configs)") for name, (n, total) in cut.items()]
    return f"; not measured yet: {join(named)} (a budgeted first run cut them; `make book` again measures them)"


def measured_detail(v: PageView, rounds: str = "") -> str:
    """The folded detail: the grids, what this build measured (`rounds`: how each profile stops), and the records
    read (`loaded_markdown`, or every machine's on the hardware page)."""
    read = machines_markdown(v) if v.machine is None else loaded_markdown(v)
    return "\n\n".join(part for part in (
        "**What this page measures.**\n\n" + grids_markdown(v),
        f"**Measuring.** {measured(v)}" + (f" Rounds by profile: {rounds}" if rounds else ""),
        "**The records read.** " + read) if part)


def glue_figure(key: str, figure_and_caption: tuple, finding: str | None = None) -> None:
    """Glue a `*_figure` function's (figure, caption) as `key` and `key-caption`, and its finding as
    `key-finding`: what one `{glue:figure}` section of a page places."""
    from IPython.display import Markdown
    from myst_nb import glue

    figure, caption = figure_and_caption
    glue(key, figure, display=False)
    glue(f"{key}-caption", Markdown(caption), display=False)
    if finding is not None:
        glue(f"{key}-finding", Markdown(finding), display=False)


def glue_measured(v: PageView, rounds: str = "") -> None:
    """Glue `measured-line` and `measured-detail`, the two parts of the page's "How this page was measured"."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue("measured-line", Markdown(measured_line(v)), display=False)
    glue("measured-detail", Markdown(measured_detail(v, rounds)), display=False)


def machines_markdown(v: PageView) -> str:
    """The hardware page's load section: every machine with records, what failed, rounds, missed targets,
    provenance and load (as `loaded_markdown`)."""
    machines = sorted(v.frame["machine_label"].unique()) if not v.frame.empty else []
    notes = [n for n in (rounds_note(v.frame), target_note(v.frame), provenance_note(v.frame, v.summary)) if n]
    return (f"Machines with records for this study: {join([f'**{m}**' for m in machines], 'none yet')}.\n\n"
            + not_ok(v.frame) + "".join(f"\n\n{n}" for n in notes) + loaded_machine_note(v.frame))


def glue_markdown(key: str, text: str) -> None:
    """Glue `text` as the Markdown `key` (a `{glue:md}` directive places it; an empty text renders nothing)."""
    from IPython.display import Markdown
    from myst_nb import glue

    glue(key, Markdown(text), display=False)


def machine_count(rows: pd.DataFrame) -> int:
    """How many machines (and devices of a machine) have ok rows in `rows`: each is its own series."""
    if rows.empty or "status" not in rows:
        return 0
    ok = rows[rows["status"] == "ok"]
    return len(ok[["machine_label", "device"]].drop_duplicates()) if not ok.empty else 0


def gpu_section(rows: pd.DataFrame, markdown: str) -> str:
    """`markdown` (a whole section, heading included) where `rows` hold ok records measured on a GPU, else "":
    a GPU section, figure or sentence is shown only where a GPU measured it."""
    gpu = on_device(rows, "cuda") if not rows.empty else rows
    return markdown if not gpu.empty and (gpu["status"] == "ok").any() else ""


def machines_section(rows: pd.DataFrame, markdown: str, least: int = 2) -> str:
    """`markdown` (a whole section) where `rows` hold ok records of at least `least` machines or devices, else ""."""
    return markdown if machine_count(rows) >= least else ""


def figure_block(key: str, finding: bool = True) -> str:
    """The MyST of one glued figure with its caption (`{glue:figure}` `key`) and its finding (`key-finding`),
    for a section that is itself glued Markdown (`gpu_section`)."""
    return (f"```{{glue:figure}} {key}\n:name: fig-{key}\n\n{{glue:md}}`{key}-caption`\n```"
            + (f"\n\n```{{glue:md}} {key}-finding\n:format: myst\n```" if finding else ""))
