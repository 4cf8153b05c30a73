"""The case-study pages' text and figures: one module per page, each function one cell's output.

A notebook holds the story; each of its figure or finding cells calls one function here and
glues what it returns. `view` makes the selection every case study starts from, once, from what
`ftax.studies.open_study` returned (read only uses its fields, so it never imports the study
layer): the rows of one machine (`ftax.rows.focus`), that machine's label, and `here`, the words
every caption uses for it. Functions named `*_figure` return (figure, caption Markdown); those named
`*_finding` return Markdown; without ok rows both say so (`ftax.findings.no_data`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ftax.findings import grid_table, loaded, not_ok, where
from ftax.rows import focus, with_columns
from ftax.text import join, plural


@dataclass(frozen=True, eq=False)
class PageView:
    """What a case-study page shows. `frame` holds the rows of the machine shown (every machine's on
    the hardware page), `study_frame` the study's rows on every machine, `here` names what is shown
    in captions ("**AMD EPYC x2 (CPU)** (profile `quick`)")."""

    frame: pd.DataFrame
    machine: str | None
    here: str
    profile: str
    grids: Sequence
    study_frame: pd.DataFrame
    results_dir: str
    summary: object = None


def view(data, device: str = "auto") -> PageView:
    """The page's view of a study's records (`data`: a `ftax.studies.StudyData`): one machine, this one
    on `device` if it measured the study, else the machine with the most ok records."""
    frame, machine = focus(data.frame, data.machine_id, device)
    return PageView(frame, machine, where(machine, data.profile), data.profile, tuple(data.grids), data.frame,
                    str(data.results_dir), data.summary)


def every_machine(data) -> PageView:
    """The view of the hardware page: every machine's rows, each machine its own series."""
    frame = with_columns(data.frame)
    machines = sorted(frame["machine_label"].unique()) if not frame.empty else []
    return PageView(frame, None, f"{plural(len(machines), 'machine')} (profile `{data.profile}`)", data.profile,
                    tuple(data.grids), data.frame, str(data.results_dir), data.summary)


def grids_markdown(v: PageView) -> str:
    """The table of what the page measures: one row per grid."""
    return grid_table(v.grids)


def measured(v: PageView) -> str:
    """What the page's one call measured, or that it only read."""
    return str(v.summary or "measure=False: reading stored records only")


def loaded_markdown(v: PageView) -> str:
    """How many records the study has, which machine the figures show, and what failed there."""
    return loaded(v.study_frame, v.frame, v.machine, v.profile, v.results_dir)


def machines_markdown(v: PageView) -> str:
    """The hardware page's load section: every machine with records, then what failed."""
    machines = sorted(v.frame["machine_label"].unique()) if not v.frame.empty else []
    return (f"Machines with records for this study: {join([f'**{m}**' for m in machines], 'none yet')}.\n\n"
            + not_ok(v.frame))
