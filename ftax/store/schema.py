"""The record schema: what one measured config is (`MeasureConfig`), its key, the `Record`, and its versions.

A record carries its `schema_version`, with one line per version below: a loader reads every version this ftax
ever wrote. `upgrade` turns a stored dict of any of them into the current shape; the store's reader
(`ftax.store.jsonl.iter_records`) calls it once per record and everything downstream takes its result.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

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
    gemm_calls: int | None = None  # calls of the ops that do the FLOPs (ftax.measure.counting.count_ops)
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
        return strict_json(self.to_dict())

    @staticmethod
    def from_dict(data: dict) -> "Record":
        """The record of a stored dict of any readable version: `upgrade`s it, then `from_upgraded`.

        A dict read through `ftax.store.jsonl.iter_records` is upgraded already: pass it to `from_upgraded`.
        """
        return Record.from_upgraded(upgrade(data))

    @staticmethod
    def from_upgraded(data: dict) -> "Record":
        """The record of a dict already in the current schema's shape (what `upgrade` returns); not upgraded again."""
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


def strict_json(data: dict) -> str:
    """`data` as strict JSON with sorted keys: a non-finite float is written as null (a stored line is always
    valid JSON)."""
    return json.dumps(_finite(data), sort_keys=True, allow_nan=False)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
