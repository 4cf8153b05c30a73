"""Grid files and flags: what `ftax sweep` reads (`--grid FILE`, a YAML of the CLI's keys) turned into grids.

A file is checked key by key before anything runs (an unknown key or a wrong type is an error naming it), and
a sweep's spec (file and flags merged) becomes either a study's grids, changed by the spec's values under the
pages' rule (`study_grids`), or one grid of its own.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ftax.store.errors import InvalidConfigError
from ftax.sweep.grids import Grid
from ftax.study.page_parameters import study_grids
from ftax.sweep.profiles import PROFILES, RULES

GRID_KEYS = {"models": str, "backends": str, "dtypes": str, "batch_sizes": int, "seq_lens": int, "phases": str}
GRID_OPTIONAL = {"device": str, "profile": str, "overrides": list, "decompose": bool, "study": str}


def load_grid_file(path: str | Path) -> dict:
    """Read a YAML grid (same keys as the CLI flags); unknown keys and wrong types are errors."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidConfigError(f"cannot read grid file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"grid file {path} must hold a mapping of keys to lists")
    allowed = {**GRID_KEYS, **GRID_OPTIONAL}
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidConfigError(f"grid file {path}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")
    for key, kind in GRID_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise InvalidConfigError(f"grid file {path}: {key} must be a list of {kind.__name__}, got {value!r}")
    for key, kind in GRID_OPTIONAL.items():
        if key in data and not isinstance(data[key], kind):
            raise InvalidConfigError(f"grid file {path}: {key} must be a {kind.__name__}, got {data[key]!r}")
    if "overrides" in data and not all(isinstance(o, dict) for o in data["overrides"]):
        raise InvalidConfigError(f"grid file {path}: overrides must be a list of mappings like {{width: 256}}")
    return data


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
