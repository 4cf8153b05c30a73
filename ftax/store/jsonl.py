"""The JSONL store on disk: append a record or a side result as one line, read the records back upgraded.

One JSON object per measured config, one line each, in `results/<machine_id>.jsonl`.
Appends are atomic per line (one `write` of the whole line on an O_APPEND file, then
fsync), so a killed sweep leaves at most one truncated last line; the reader skips
such a line with a warning naming the file and line. JSON only: nothing is unpickled
or evaluated from a results file.
"""
from __future__ import annotations

import gzip
import json
import os
import warnings
from pathlib import Path
from typing import Iterable, Iterator

from ftax.store.schema import Record, strict_json, upgrade


def store_path(out_dir: str | Path, machine_id: str) -> Path:
    return Path(out_dir) / f"{machine_id}.jsonl"


def append(path: str | Path, record: Record) -> None:
    """Append one record as one line, atomically: a single write on O_APPEND, then fsync.

    If the file ends in a partial line (a writer was killed mid-line), a newline is written
    first so that the new record starts on a line of its own.
    """
    _append_line(Path(path), record.to_json() + "\n")


def side_path(out_dir: str | Path, kind: str, machine_id: str) -> Path:
    """Where a machine's other stored results of `kind` live (`probes`, `predictions`): a folder of their own
    beside the records, so that `iter_records` (which reads `<out_dir>/*.jsonl`) never takes them for records."""
    return Path(out_dir) / kind / f"{machine_id}.jsonl"


def append_side(out_dir: str | Path, kind: str, machine_id: str, data: dict) -> Path:
    """Append `data` (a JSON object, non-finite floats as null) to the machine's `kind` store, as `append` does."""
    path = side_path(out_dir, kind, machine_id)
    _append_line(path, strict_json(data) + "\n")
    return path


def iter_side(out_dir: str | Path, kind: str) -> Iterator[dict]:
    """Every parsable line of every machine's `kind` store, in file order (corrupt lines skipped)."""
    for path in sorted((Path(out_dir) / kind).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The record files of `paths`: a directory's `*.jsonl` and `*.jsonl.gz` (a large run's records, compressed:
    `benchmarks/gpu_reference.sh`), each `x.jsonl.gz` before its `x.jsonl` (an archived part, then the live
    store); a file given by name, and its `.gz` sibling where the name ends in `.jsonl`."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = list(item.glob("*.jsonl")) + list(item.glob("*.jsonl.gz"))
            files.extend(sorted(found, key=lambda p: (p.name.removesuffix(".gz"), p.suffix != ".gz")))
            continue
        packed = item.with_name(item.name + ".gz")
        if item.suffix == ".jsonl" and packed.exists():
            files.append(packed)
        if item.exists():
            files.append(item)
    return files


def _open_text(path: Path):
    """A record file for reading as text: gzip-compressed where its name ends in `.gz`."""
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def iter_records(paths: str | Path | Iterable[str | Path]) -> Iterator[dict]:
    """Every parsable record (as a dict, upgraded to the current schema) in the given files or
    directories, in file order.

    A truncated or corrupt line is skipped with a warning naming the file and line; a compressed file cut
    short (a copy that broke off) yields the records before the cut, with a warning.
    """
    for path in _files(paths):
        yield from _records_of(path)


def _records_of(path: Path) -> Iterator[dict]:
    lineno = 0
    with _open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict) or "config" not in data:
                        raise ValueError("not a record object")
                    data = upgrade(data)  # the one upgrade on the read path: every reader takes this dict
                    Record.from_upgraded(data)
                except (ValueError, KeyError, TypeError) as exc:
                    warnings.warn(f"{path}:{lineno}: skipped unreadable record ({exc.__class__.__name__}: "
                                  f"{str(exc)[:80]})", stacklevel=3)
                    continue
                yield data
        except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            warnings.warn(f"{path}: compressed file cut short after line {lineno} ({exc.__class__.__name__}); "
                          f"the records before it are read", stacklevel=3)

