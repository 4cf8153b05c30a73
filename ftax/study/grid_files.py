"""Grid files and flags: what `ftax sweep` reads (`--grid FILE`, a YAML of the CLI's keys) turned into grids.

A file is checked key by key before anything runs (an unknown key or a wrong type is an error naming it), and
a sweep's spec (file and flags merged) becomes either a study's grids, changed by the spec's values under the
pages' rule (`study_grids`), or one grid of its own.
"""
from __future__ import annotations

from pathlib import Path

from ftax.store.errors import InvalidConfigError
from ftax.study.grid_keys import GRID_KEYS, check_grid_keys, read_yaml
from ftax.sweep.grids import Grid
from ftax.study.page_parameters import study_grids
from ftax.sweep.profiles import PROFILES, RULES


def load_grid_file(path: str | Path) -> dict:
    """Read a YAML grid (same keys as the CLI flags); unknown keys and wrong types are errors."""
    return check_grid_keys(read_yaml(path, "grid file"), f"grid file {path}")


def grids_from_spec(spec: dict, profile: str | None = None, device: str | None = None,
                    study: str | None = None) -> list[Grid]:
    """The grids a sweep asks for: a study's, or one grid from `spec` (a grid file's keys, flags merged in).

    Explicit `profile`/`device`/`study` win over the spec's; the defaults are quick and auto.
    """
    profile = profile or spec.get("profile") or "quick"
    device = device or spec.get("device") or "auto"
    study = study or spec.get("study")
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if study:
        return study_grids(study, profile, device, **{k: spec[k] for k in GRID_KEYS if k in spec})
    if "models" not in spec:
        raise InvalidConfigError("say what to sweep: --models (or a grid file with models:), or --study NAME")
    overrides = tuple(tuple(sorted(o.items())) for o in spec.get("overrides", [{}]))
    grid = Grid(name="cli", models=tuple(spec["models"]), backends=tuple(spec.get("backends", ["eager"])),
                dtypes=tuple(spec.get("dtypes", ["fp32"])), batch_sizes=tuple(spec.get("batch_sizes", [1])),
                seq_lens=tuple(spec.get("seq_lens", [128])), overrides=overrides, device=device,
                phases=tuple(spec.get("phases", ["forward"])),
                rule=RULES[profile], decompose=bool(spec.get("decompose", False)))
    grid.validate()
    return [grid]
