"""The keys a grid written as data may hold (a grid file, a catalogue entry), checked with the file and key named.

`ftax sweep --grid FILE` and the catalogue (`catalogue.yaml`) describe a grid in one format, so one checker
reads both: an unknown key or a value of the wrong type is an error naming the file and the key, raised before
anything runs.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ftax.store.errors import InvalidConfigError

GRID_KEYS = {"models": str, "backends": str, "dtypes": str, "batch_sizes": int, "seq_lens": int, "phases": str}
GRID_OPTIONAL = {"device": str, "profile": str, "overrides": list, "decompose": bool, "study": str}


def read_yaml(path: str | Path, what: str) -> object:
    """The YAML document at `path` (`what` names the kind of file in the error when it cannot be read), read by
    libyaml's safe loader where PyYAML has it (the catalogue is read on every import of the study layer)."""
    try:
        return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidConfigError(f"cannot read {what} {path}: {exc}") from None


def check_grid_keys(data: object, where: str, optional: dict[str, type] = GRID_OPTIONAL) -> dict:
    """`data` if it is a mapping of a grid's keys (`GRID_KEYS`, each a list of its type, and `optional`); an
    unknown key or a wrong type is an InvalidConfigError that starts with `where` (the file, and the entry)."""
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{where} must hold a mapping of keys to lists")
    allowed = {**GRID_KEYS, **optional}
    unknown = sorted(set(data) - set(allowed), key=str)
    if unknown:
        raise InvalidConfigError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")
    for key, kind in GRID_KEYS.items():
        if key not in data:
            continue
        value = data[key]
        if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            raise InvalidConfigError(f"{where}: {key} must be a list of {kind.__name__}, got {value!r}")
    for key, kind in optional.items():
        if key in data and not isinstance(data[key], kind):
            raise InvalidConfigError(f"{where}: {key} must be a {kind.__name__}, got {data[key]!r}")
    if "overrides" in data and not all(isinstance(o, dict) for o in data["overrides"]):
        raise InvalidConfigError(f"{where}: overrides must be a list of mappings like {{width: 256}}")
    return data
