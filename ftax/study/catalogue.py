"""The catalogue: `catalogue.yaml` read and checked, giving the grids each study measures at each profile.

Which grids a study measures is data (`catalogue.yaml`, next to this module, in a grid file's format with a few
short forms the file's header explains), so a grid is changed in one place that reads as a table; this module
reads it once, on import, and checks its keys and types as `ftax sweep --grid` does, then `Grid.validate`s a
study's grids the first time they are asked for (validating builds model configs, too slow for every import),
so a mistake in the file is an error naming the file and the entry before anything runs. What is derived rather
than listed stays here: the tax model's smallest shapes, one per curve of the other studies.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path

from ftax.run import backends, models
from ftax.store.errors import InvalidConfigError
from ftax.study.grid_keys import GRID_KEYS, check_grid_keys, read_yaml
from ftax.sweep.grids import Grid, pow2
from ftax.sweep.profiles import PROFILES

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
FILE_KEYS = ("every_backend_leaves_out", "lists", "studies", "runs")
# A catalogue entry's keys beyond a grid file's lists: no device, profile or study (the catalogue says those).
ENTRY_OPTIONAL = {"name": str, "tier": str, "overrides": list, "decompose": bool}
EVERY_BACKEND = "every-backend"


@dataclass(frozen=True)
class Catalogue:
    """The grids of each study per profile (`studies`), and of each run (`runs`: the same at every profile), as
    read from `path`."""

    path: str
    studies: dict[str, dict[str, tuple[Grid, ...]]]
    runs: dict[str, tuple[Grid, ...]]


def load_catalogue(path: str | Path = CATALOGUE_FILE, validate: bool = True) -> Catalogue:
    """Read and check a catalogue file: every study lists every profile, and every grid has a grid file's keys
    and types (and, if `validate`, passes `Grid.validate`); a mistake is an InvalidConfigError naming the file
    and the key (or entry) at fault."""
    data = read_yaml(path, "catalogue")
    where = f"catalogue {path}"
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{where} must hold a mapping with keys {', '.join(FILE_KEYS)}")
    unknown = sorted(set(data) - set(FILE_KEYS), key=str)
    if unknown:
        raise InvalidConfigError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(FILE_KEYS)}")
    lists = _lists(data, where)
    studies, runs = _mapping(data, "studies", where), _mapping(data, "runs", where, required=False)
    if set(studies) & set(runs):
        raise InvalidConfigError(f"{where}: {sorted(set(studies) & set(runs))} named both a study and a run")
    by_study = {}
    for study, profiles in studies.items():
        here = f"{where}: studies.{study}"
        if not isinstance(profiles, dict) or set(profiles) != set(PROFILES):
            got = sorted(profiles, key=str) if isinstance(profiles, dict) else profiles
            raise InvalidConfigError(f"{here} must list the grids of each profile ({', '.join(PROFILES)}), "
                                     f"got {got!r}")
        by_study[study] = {p: _grids(profiles[p], f"{here}.{p}", lists) for p in PROFILES}
    catalogue = Catalogue(str(path), by_study,
                          {run: _grids(grids, f"{where}: runs.{run}", lists) for run, grids in runs.items()})
    if validate:
        for study in catalogue.studies:
            for profile in PROFILES:
                _validated(catalogue, study, profile)
        for run in catalogue.runs:
            _validated(catalogue, run, None)
    return catalogue


def _validated(catalogue: Catalogue, study: str, profile: str | None) -> tuple[Grid, ...]:
    """The grids of a study at a profile (of a run: `profile` None), each `Grid.validate`d, an error naming the
    file and the entry."""
    if profile is None:
        grids, where = catalogue.runs[study], f"catalogue {catalogue.path}: runs.{study}"
    else:
        grids, where = catalogue.studies[study][profile], f"catalogue {catalogue.path}: studies.{study}.{profile}"
    for i, grid in enumerate(grids):
        try:
            grid.validate()
        except InvalidConfigError as exc:
            raise InvalidConfigError(f"{where}[{i}] ({grid.name}): {exc}") from None
    return grids


def _mapping(data: dict, key: str, where: str, required: bool = True) -> dict:
    value = data.get(key, None if required else {})
    if not isinstance(value, dict) or (required and not value):
        raise InvalidConfigError(f"{where}: {key} must be a mapping of names to grids, got {value!r}")
    return value


def _lists(data: dict, where: str) -> dict[str, list]:
    """The named lists a grid splices with `$NAME`, `every-backend` among them."""
    named = data.get("lists", {})
    if not isinstance(named, dict) or not all(isinstance(v, list) for v in named.values()):
        raise InvalidConfigError(f"{where}: lists must map names to lists, got {named!r}")
    leaves_out = data.get("every_backend_leaves_out", [])
    if not isinstance(leaves_out, list):
        raise InvalidConfigError(f"{where}: every_backend_leaves_out must be a list, got {leaves_out!r}")
    return {**named, EVERY_BACKEND: [b for b in backends.names() if b not in leaves_out]}


def _grids(entries: object, where: str, lists: dict[str, list]) -> tuple[Grid, ...]:
    if not isinstance(entries, list) or not entries:
        raise InvalidConfigError(f"{where} must be a list of grids, got {entries!r}")
    return tuple(_grid(entry, f"{where}[{i}]", lists) for i, entry in enumerate(entries))


def _grid(entry: object, where: str, lists: dict[str, list]) -> Grid:
    """One catalogue entry as a Grid: short forms expanded, keys checked as a grid file's, then validated."""
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"
    if not isinstance(entry, dict) or "name" not in entry:
        raise InvalidConfigError(f"{where} must be a mapping with a name, got {entry!r}")
    expanded = {key: _expanded(key, value, where, lists) for key, value in entry.items()}
    check_grid_keys(expanded, where, ENTRY_OPTIONAL)
    fields = {key: tuple(expanded[key]) for key in GRID_KEYS if key in expanded}
    if "overrides" in expanded:
        fields["overrides"] = tuple(tuple(sorted(o.items())) for o in expanded["overrides"])
    return Grid(name=expanded["name"], decompose=expanded.get("decompose", False), tier=expanded.get("tier", ""),
                **fields)


def _expanded(key: str, value: object, where: str, lists: dict[str, list]) -> object:
    """`value` with the file's short forms written out: `{pow2: [LOW, HIGH]}`, `$NAME` list items, and overrides
    as a mapping of lists (every combination, the first key outermost)."""
    if key == "overrides" and isinstance(value, dict):
        if not all(isinstance(v, list) for v in value.values()):
            raise InvalidConfigError(f"{where}: overrides must map each field to a list, got {value!r}")
        return [dict(zip(value, combo)) for combo in itertools.product(*value.values())]
    if key not in GRID_KEYS:
        return value
    if isinstance(value, dict):
        bounds = value.get("pow2")
        if set(value) != {"pow2"} or not (isinstance(bounds, list) and len(bounds) == 2 and all(
                isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bounds)):
            raise InvalidConfigError(f"{where}: {key} must be a list or {{pow2: [LOW, HIGH]}}, got {value!r}")
        return list(pow2(*bounds))
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, str) and item.startswith("$"):
            if item[1:] not in lists:
                raise InvalidConfigError(f"{where}: {key} names the list {item!r}, which is not in lists "
                                         f"({', '.join(lists)})")
            out.extend(lists[item[1:]])
        else:
            out.append(item)
    return out


_CATALOGUE = load_catalogue(validate=False)
STUDIES = tuple(_CATALOGUE.studies)
# Studies a run of their own measures (`ftax sweep --study NAME`), never the book's sweep (`measure_studies`,
# which takes STUDIES): the GPU reference run (`benchmarks/gpu_reference.sh`), planned and cut at a time budget
# by `ftax.plan.schedule`.
RUNS = tuple(_CATALOGUE.runs)


def profile_grids(profile: str, study: str) -> list[Grid]:
    """The profile's grids for one study (or run), before a page's parameters; the tax model's include the
    smallest shape of every other study's text-model curve."""
    if study in _CATALOGUE.runs:
        return list(_checked(study, None))
    return _listed_grids(profile, study) + (_smallest_shapes(profile) if study == "tax-model" else [])


def _listed_grids(profile: str, study: str) -> list[Grid]:
    """The grids the catalogue lists for a study at a profile."""
    if profile not in PROFILES:
        raise InvalidConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    return list(_checked(study, profile))


@functools.cache
def _checked(study: str, profile: str | None) -> tuple[Grid, ...]:
    return _validated(_CATALOGUE, study, profile)


def _smallest_shapes(profile: str) -> list[Grid]:
    """Batch 1 at the shortest sequence, for every text model's batch curve in the profile's studies: the
    latency with almost no work, one of `ftax.read.tax_model`'s estimates of the host cost, measured per curve
    (model, runtime, precision, overrides) so every curve on the model's validation page has one."""
    curves: dict[tuple, str] = {}  # curve -> the tier of the first grid that sweeps it: a first run's order
    for study in STUDIES:
        for grid in (_CATALOGUE.studies[study][profile] if study != "tax-model" else ()):
            if len(grid.batch_sizes) < 2 or grid.phases != ("forward",):
                continue
            for model, backend, dtype, over in itertools.product(grid.models, grid.backends, grid.dtypes,
                                                                 grid.overrides):
                if models.get_spec(model).modality == "text":
                    curves.setdefault((model, backend, dtype, over), grid.tier)
    tax_tier = next((g.tier for g in _CATALOGUE.studies["tax-model"][profile]), "")
    for key in ((m, b, "fp32", ()) for m in ("bert-tiny", "bert-mini", "bert-base") for b in ("eager", "torchscript")):
        curves.setdefault(key, tax_tier)
    return [Grid("tax-smallest", models=(m,), backends=(b,), dtypes=(d,), overrides=(o,), batch_sizes=(1,),
                 seq_lens=(models.get_spec(m).min_seq_len,), tier=tier) for (m, b, d, o), tier in curves.items()]

