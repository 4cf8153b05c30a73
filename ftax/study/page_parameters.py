"""A page's parameters: papermill's list parameters parsed, and the one rule by which they change a study's grids.

A notebook page (and `ftax sweep --study NAME` with the same flags) may change what a study measures, but a grid
is made for one question, so a parameter changes only the grids whose axis or members it names
(book/methodology.md, "A page's parameters"). The rule lives here, apart from the catalogue it applies to, so
the single-study pages (`study_grids`) and the pages over every study (`grids_of_studies`) apply the same one.
"""
from __future__ import annotations

import ast
from dataclasses import replace
from typing import Sequence

from ftax.run import backends, models
from ftax.store import schema
from ftax.study.catalogue import RUNS, STUDIES, profile_grids
from ftax.store.errors import InvalidConfigError
from ftax.sweep.grids import Grid
from ftax.sweep.profiles import PROFILES, RULES

# The list parameters a page takes, which are also `ftax sweep`'s grid flags.
GRID_FIELDS = ("models", "backends", "dtypes", "batch_sizes", "seq_lens", "phases")

# What a page parameter may change (the one rule; book/methodology.md, "A page's parameters"): an axis
# parameter replaces the values of the grids that sweep that axis, a member parameter narrows each grid to
# the members it already has.
AXES = ("batch_sizes", "seq_lens")
MEMBERS = ("models", "backends", "dtypes", "phases")


def study_grids(study: str, profile: str = "quick", device: str = "auto", models: Sequence[str] | None = None,
                backends: Sequence[str] | None = None, dtypes: Sequence[str] | None = None,
                batch_sizes: Sequence[int] | None = None, seq_lens: Sequence[int] | None = None,
                phases: Sequence[str] | None = None) -> list[Grid]:
    """The grids of `study` at `profile`, changed by the page's parameters (None keeps the profile's).

    A grid is made for one question (a batch curve at one sequence length, a sequence curve at batch 1, a CNN
    at its image size), so a parameter changes only the grids it names. `batch_sizes` and `seq_lens` replace
    the values of the grids that sweep that axis (more than one value); a grid that holds one value there
    keeps it, so a sequence curve stays at its batch size. `models`, `backends`, `dtypes` and `phases` narrow
    each grid to the members it has (never adding, say, a text model to the CNN grid); a grid left with none
    is dropped. A value no grid of the study can take is an error naming what the grids hold, as is a
    combination that leaves no grid. Every name and size is validated here, so a bad notebook parameter
    fails before measuring.
    """
    if study not in STUDIES + RUNS:
        raise InvalidConfigError(f"unknown study {study!r}; allowed: {', '.join(STUDIES + RUNS)}")
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    given = {"models": models, "backends": backends, "dtypes": dtypes, "batch_sizes": batch_sizes,
             "seq_lens": seq_lens, "phases": phases}
    changes = {}
    for key, value in given.items():
        if value is None:
            continue
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InvalidConfigError(f"{key} must be a list, got {value!r}")
        changes[key] = tuple(value)
    grids = [replace(g, device=device, rule=RULES[profile]) for g in profile_grids(profile, study)]
    grids = _changed(grids, changes, f"study {study!r} at profile {profile!r}")
    for grid in grids:
        grid.validate()
    return grids


def _changed(grids: list[Grid], changes: dict[str, tuple], where: str, strict: bool = True) -> list[Grid]:
    """`grids` with the page's parameters applied by the rule of `study_grids`; names are checked first, so a
    misspelled model says so rather than that no grid holds it. Not `strict`: a value these grids cannot take
    is passed over rather than refused, and they may all be dropped (one study among several, `open_studies`)."""
    _check_names(changes)
    for key in MEMBERS:
        if key not in changes:
            continue
        held = list(dict.fromkeys(v for g in grids for v in getattr(g, key)))
        stray = [v for v in changes[key] if v not in held]
        if stray and strict:
            raise InvalidConfigError(f"{key} {stray} is in no grid of {where}, whose grids hold {key} {held}; a "
                                     f"parameter narrows a grid to members it has and never adds one")
        grids = [replace(g, **{key: kept}) for g in grids
                 if (kept := tuple(v for v in getattr(g, key) if v in changes[key]))]
        if not grids and strict:
            raise InvalidConfigError(f"no grid of {where} holds every parameter given "
                                     f"({', '.join(f'{k}={list(v)}' for k, v in changes.items() if k in MEMBERS)})")
    for key in AXES:
        if key not in changes:
            continue
        if strict and not any(len(getattr(g, key)) > 1 for g in grids):
            raise InvalidConfigError(f"{key} changes only the grids that sweep it, and no grid of {where} does "
                                     f"(each holds one value: {sorted({v for g in grids for v in getattr(g, key)})})")
        grids = [replace(g, **{key: changes[key]}) if len(getattr(g, key)) > 1 else g for g in grids]
    return grids


def _check_names(changes: dict[str, tuple]) -> None:
    """Each model, backend, dtype and phase named must exist (the message lists what is allowed)."""
    for model in changes.get("models", ()):
        models.get_spec(model)
    for backend in changes.get("backends", ()):
        backends.check_name(backend)
    for dtype in changes.get("dtypes", ()):
        backends.dtype_of(dtype)
    for phase in changes.get("phases", ()):
        if phase not in schema.PHASES:
            raise InvalidConfigError(f"unknown phase {phase!r}; allowed: {', '.join(schema.PHASES)}")


def grids_of_studies(studies: Sequence[str], profile: str, device: str, values: dict[str, list]
                     ) -> dict[str, list[Grid]]:
    """Each study's grids under one set of parsed page parameters (`page_values`), for the pages that summarize
    every study: `study_grids`' rule over the studies' grids taken together. A value that no grid of any of them
    can take is refused, while a study whose grids hold none of the members named keeps no grids, and an axis
    changes only the grids that sweep it."""
    base = {s: study_grids(s, profile, device) for s in studies}
    _changed([g for grids in base.values() for g in grids], {k: tuple(v) for k, v in values.items()},
             f"the studies {', '.join(studies)} at profile {profile!r}")
    changed = {s: _changed(grids, {k: tuple(v) for k, v in values.items()}, s, strict=False)
               for s, grids in base.items()}
    for grid in (g for grids in changed.values() for g in grids):
        grid.validate()
    return changed


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


def page_values(grid_values: dict) -> dict[str, list]:
    """The page's list parameters that are set, parsed (`list_param`); an unknown name is an error."""
    unknown = sorted(set(grid_values) - set(GRID_FIELDS))
    if unknown:
        raise InvalidConfigError(f"unknown grid parameter(s) {unknown}; allowed: {', '.join(GRID_FIELDS)}")
    return {k: v for k, v in ((k, list_param(k, v)) for k, v in grid_values.items()) if v is not None}
