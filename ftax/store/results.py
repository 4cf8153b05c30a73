"""Record schema, the append-only JSONL store in `results/`, and the loader to pandas.

One JSON object per measured config, one line each, in `results/<machine_id>.jsonl`.
Appends are atomic per line (one `write` of the whole line on an O_APPEND file, then
fsync), so a killed sweep leaves at most one truncated last line; the loader skips
such a line with a warning naming the file and line. JSON only: nothing is unpickled
or evaluated from a results file.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

# Schema versions (a loader reads every version it ever wrote; older ones are upgraded on load):
# 1: config, status, message, stats, samples_ms, pipelined_ms, setup, parity, model_info,
#    flops, profile, env, machine_id, config_key, ftax_version, timestamp.
# 2: `profile` (the profiler decomposition) renamed `decomposition`, so "profile" means only
#    smoke/quick/full; `setup.first_call_ms` is still the cold call after building. New: `round`
#    (which round of a sweep this visit was; None: a single visit) and `rule` (the stop rule's
#    name: smoke/quick/full/custom; None in version 1).
# 3: `config.phase` (forward | prefill | decode; older records are forward) and, for decode, `per_token`
#    (per_token_ms statistics of the one-token step and tokens_per_s).
# 4: `flops` and `gemm_calls` are counted per phase. A version-3 record of a prefill or decode step took the
#    count of whichever config of its shape was timed first (prefill and decode are timed together), so `upgrade`
#    drops a version-3 decoder record's counts: unknown, rather than another phase's.
# 5: `writes` and `written_bytes` (ops that write new data and the bytes they write, beside `gemm_calls`).
# 6: `write_sizes`: those writes by size, [[bytes, count], ...] (the write rate depends on each output's size).
SCHEMA_VERSION = 6
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)
# What config_key hashes besides the config and the machine. It changes only when a config's
# identity changes (not when the record gains or renames fields), so a sweep resumes over
# records written by earlier schema versions.
CONFIG_KEY_VERSION = 1
STATUSES = ("ok", "unsupported", "oom", "error")
# What one timed call is: a whole forward (the paper's), the prompt pass of a decoder, or one new-token step
# with a KV cache already holding seq_len tokens.
PHASES = ("forward", "prefill", "decode")


@dataclass(frozen=True)
class MeasureConfig:
    """One point of a sweep: what to run, where, in which precision, at which shape."""

    model: str
    backend: str
    dtype: str
    device: str
    batch_size: int
    seq_len: int
    overrides: tuple[tuple[str, int], ...] = ()
    phase: str = "forward"  # PHASES; a decoder's prefill/decode (ftax.run.decoding), else the paper's forward

    @staticmethod
    def make(model: str, backend: str, dtype: str, device: str, batch_size: int, seq_len: int,
             overrides: dict[str, int] | None = None, phase: str = "forward") -> "MeasureConfig":
        return MeasureConfig(model, backend, dtype, device, batch_size, seq_len,
                             tuple(sorted((overrides or {}).items())), phase)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["overrides"] = dict(self.overrides)
        return data

    @staticmethod
    def from_dict(data: dict) -> "MeasureConfig":
        return MeasureConfig.make(data["model"], data["backend"], data["dtype"], data["device"],
                                  int(data["batch_size"]), int(data["seq_len"]), data.get("overrides") or {},
                                  data.get("phase") or "forward")

    def label(self) -> str:
        over = "".join(f" {k}={v}" for k, v in self.overrides)
        phase = "" if self.phase == "forward" else f" {self.phase}"
        return (f"{self.model} {self.backend} {self.dtype} {self.device} "
                f"bs={self.batch_size} seq={self.seq_len}{over}{phase}")


def config_key(config: MeasureConfig, machine_id: str) -> str:
    """Stable id of a measurement: hash of the config, the machine and CONFIG_KEY_VERSION.

    `phase` is hashed only when it is not forward, so every forward config keeps the key it had before
    phases existed (the stored records resume on it) and a prefill/decode config never shares one.
    """
    identity = config.to_dict()
    if identity["phase"] == "forward":
        del identity["phase"]
    payload = json.dumps([identity, machine_id, CONFIG_KEY_VERSION], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Record:
    """What `ftax measure --json` prints and what a store line holds."""

    config: MeasureConfig
    status: str
    message: str
    env: dict
    stats: dict | None = None
    samples_ms: list[float] = field(default_factory=list)
    pipelined_ms: float | None = None
    setup: dict = field(default_factory=dict)
    parity: dict | None = None
    model_info: dict = field(default_factory=dict)
    flops: float | None = None
    gemm_calls: int | None = None  # calls of the ops that do the FLOPs (ftax.measure.decompose.count_ops)
    writes: int | None = None  # calls of the ops that write new data, and the bytes they write (count_ops)
    written_bytes: int | None = None
    write_sizes: list[list[int]] | None = None  # the writes by size: [[bytes of one output, how many], ...]
    per_token: dict | None = None  # decode: per_token_ms statistics of the one-token step, tokens_per_s
    decomposition: dict | None = None  # ftax.measure.decompose: busy time vs overhead, if asked for
    memory: dict | None = None  # ftax.measure.memory: peak_bytes above the pre-prepare baseline, method, weights_bytes
    energy: dict | None = None  # ftax.measure.memory.Energy: joules per inference, or status "unavailable" and why
    round: int | None = None  # the sweep round of this visit (None: measured once, outside rounds)
    rule: str | None = None  # StopRule.name: visits under different rules are never pooled
    ftax_version: str = ""
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    @property
    def machine_id(self) -> str:
        return self.env.get("machine_id", "unknown")

    @property
    def config_key(self) -> str:
        return config_key(self.config, self.machine_id)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["config"] = self.config.to_dict()
        data["machine_id"] = self.machine_id
        data["config_key"] = self.config_key
        return data

    def to_json(self) -> str:
        """Strict JSON: a non-finite float (e.g. parity of mismatched shapes) is written as null."""
        return json.dumps(_finite(self.to_dict()), sort_keys=True, allow_nan=False)

    @staticmethod
    def from_dict(data: dict) -> "Record":
        data = upgrade(data)
        known = {f for f in Record.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["config"] = MeasureConfig.from_dict(data["config"])
        return Record(**kwargs)


def upgrade(data: dict) -> dict:
    """A stored record dict in the current schema's shape (a copy if it had to change).

    Raises ValueError for a version this ftax does not know (written by a newer one).
    """
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"unknown schema_version {version!r}; this ftax reads {READABLE_VERSIONS}")
    if version == 1:
        data = {**{k: v for k, v in data.items() if k != "profile"}, "decomposition": data.get("profile"),
                "schema_version": SCHEMA_VERSION}
    if version == 3 and (data.get("config") or {}).get("phase", "forward") != "forward":
        data = {**data, "flops": None, "gemm_calls": None}
    return data


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# --- the store ---------------------------------------------------------------------------

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
    beside the records, so that `load` (which reads `<out_dir>/*.jsonl`) never takes them for records."""
    return Path(out_dir) / kind / f"{machine_id}.jsonl"


def append_side(out_dir: str | Path, kind: str, machine_id: str, data: dict) -> Path:
    """Append `data` (a JSON object, non-finite floats as null) to the machine's `kind` store, as `append` does."""
    path = side_path(out_dir, kind, machine_id)
    _append_line(path, json.dumps(_finite(data), sort_keys=True, allow_nan=False) + "\n")
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
                    data = upgrade(data)
                    Record.from_dict(data)
                except (ValueError, KeyError, TypeError) as exc:
                    warnings.warn(f"{path}:{lineno}: skipped unreadable record ({exc.__class__.__name__}: "
                                  f"{str(exc)[:80]})", stacklevel=3)
                    continue
                yield data
        except (EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
            warnings.warn(f"{path}: compressed file cut short after line {lineno} ({exc.__class__.__name__}); "
                          f"the records before it are read", stacklevel=3)


SOFTWARE_KEYS = ("torch_version", "transformers_version", "onnxruntime_version")


def software(env: dict) -> tuple:
    """The software a record was measured with: records of different software are never resumed over
    nor pooled (pyperf refuses to merge runs whose checked metadata differ)."""
    return tuple(env.get(key) for key in SOFTWARE_KEYS)


def visit_key(data: dict) -> tuple:
    """What identifies one visit of a config: its key, the sweep round and the stop rule's name."""
    return data["config_key"], data.get("round"), data.get("rule")


def best_records(paths: str | Path | Iterable[str | Path], key=lambda data: data["config_key"]) -> dict:
    """Per `key` (the config_key; `visit_key` for rounds), the record that counts: the newest ok one, else
    the newest (silently skips bad lines)."""
    best: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data in iter_records(paths):
            previous = best.get(key(data))
            if previous is None or previous.get("status") != "ok" or data.get("status") == "ok":
                best[key(data)] = data
    return best


def is_done(data: dict, retry_failed: bool = False, decompose: bool = False, software_now: tuple | None = None
            ) -> bool:
    """The resume rule: a stored record means "do not measure again" unless it failed and failures
    are retried, a decomposition is wanted and the ok record has none, or (given `software_now`) it
    was measured with other software."""
    if software_now is not None and software(data.get("env") or {}) != software_now:
        return False
    if data["status"] == "ok":
        return bool(data.get("decomposition")) or not decompose
    return not retry_failed


def _flatten(data: dict) -> dict:
    config = data["config"]
    row = {key: config[key] for key in ("model", "backend", "dtype", "device", "batch_size", "seq_len")}
    row["phase"] = config.get("phase") or "forward"
    overrides = config.get("overrides") or {}
    row["overrides"] = overrides_json(overrides)
    for key in ("width", "depth", "heads", "intermediate"):
        row[key] = overrides.get(key)
    env = data.get("env") or {}
    from ftax.store.env import machine_label

    row.update(config_key=data["config_key"], machine_id=data.get("machine_id", env.get("machine_id")),
               machine_label=machine_label(env, config["device"]), status=data["status"],
               message=data.get("message", ""), pipelined_ms=data.get("pipelined_ms"), flops=data.get("flops"),
               gemm_calls=data.get("gemm_calls"), writes=data.get("writes"), written_bytes=data.get("written_bytes"),
               write_sizes=data.get("write_sizes"),
               samples_ms=data.get("samples_ms") or [], timestamp=data.get("timestamp"),
               ftax_version=data.get("ftax_version"), schema_version=data.get("schema_version"),
               round=data.get("round"), rule=data.get("rule"))
    row.update(data.get("stats") or {})
    row.update(data.get("setup") or {})
    row.update(data.get("model_info") or {})
    for prefix in ("parity", "decomposition", "memory", "energy", "per_token"):
        row.update({f"{prefix}_{k}": v for k, v in (data.get(prefix) or {}).items()})
    row.update({f"env_{k}": v for k, v in env.items() if k != "machine_id"})
    return row


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """The visits: one tidy row per record, every round of every config (stats, setup, parity, profile and env
    flattened into columns).

    Estimates and paired ratios pool a config's rounds, so this is what `ftax.read.estimates` and
    `ftax.claims.table` read; `newest_visits` is the view with one visit per config.
    """
    rows = [_flatten(d) for d in iter_records(paths)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    return frame


def newest_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """One visit per config_key: its newest ok visit, or its newest visit if none is ok (a config retried after
    a failure shows its success, not the old failure), in the visits' order.

    What one visit says (its status, its own samples, a record's fields); never an estimate: a config's
    estimate and interval come from all its visits (`ftax.read.estimates.per_config`), which refuses this view.
    """
    if visits.empty:
        return visits
    ok = visits["status"] == "ok"
    return (visits.assign(_ok=ok.to_numpy()).reset_index(drop=True).reset_index()
            .sort_values(["_ok", "index"]).drop_duplicates("config_key", keep="last").sort_values("index")
            .drop(columns=["_ok", "index"]).reset_index(drop=True))


def overrides_json(overrides: dict) -> str:
    """The `overrides` column of a loaded frame: the config's overrides as sorted JSON."""
    return json.dumps(overrides, sort_keys=True)


def rows_matching(frame: pd.DataFrame, configs: Iterable[MeasureConfig]) -> pd.DataFrame:
    """Rows of a loaded frame whose config is one of `configs`, on any machine and device.

    Device is left out on purpose: a grid's `auto` device resolves differently per machine, and a
    study shows every machine's records of the same configs.
    """
    wanted = {(c.model, c.backend, c.dtype, c.batch_size, c.seq_len, overrides_json(dict(c.overrides)), c.phase)
              for c in configs}
    if frame.empty or not wanted:
        return frame.iloc[0:0]
    phases = frame["phase"] if "phase" in frame else ["forward"] * len(frame)
    keys = zip(frame["model"], frame["backend"], frame["dtype"], frame["batch_size"], frame["seq_len"],
               frame["overrides"], phases)
    return frame[[key in wanted for key in keys]].reset_index(drop=True)
