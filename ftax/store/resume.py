"""Which stored record counts: a visit's identity, the software it was measured with, the resume rule.

A sweep resumes over the store: per config (per visit, with rounds) the newest ok record counts, and it is
measured again only when it failed and failures are retried, a decomposition is wanted and it has none, or it
was measured with another stack: other software, or another host under the same machine_id (a cloud VM's masked
CPU can hide a host change that halved a latency, so a new host starts a new series, `ftax.store.env`, and is
measured anew; a record without a host_id, stored before hosts were told apart, counts as another host).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

from ftax.store.jsonl import iter_records

SOFTWARE_KEYS = ("torch_version", "transformers_version", "onnxruntime_version")
HOST_KEYS = ("host_id",)


def software(env: dict) -> tuple:
    """The software a record was measured with: records of different software are never resumed over
    nor pooled (pyperf refuses to merge runs whose checked metadata differ)."""
    return tuple(env.get(key) for key in SOFTWARE_KEYS)


def stack(env: dict) -> tuple:
    """What a stored visit must share with this run to be resumed over: its software and its host."""
    return software(env) + tuple(env.get(key) for key in HOST_KEYS)


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


def is_done(data: dict, retry_failed: bool = False, decompose: bool = False, stack_now: tuple | None = None
            ) -> bool:
    """The resume rule: a stored record means "do not measure again" unless it failed and failures
    are retried, a decomposition is wanted and the ok record has none, or (given `stack_now`, `stack`) it
    was measured with other software or on another host."""
    if stack_now is not None and stack(data.get("env") or {}) != stack_now:
        return False
    if data["status"] == "ok":
        return bool(data.get("decomposition")) or not decompose
    return not retry_failed
