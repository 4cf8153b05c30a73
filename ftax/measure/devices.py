"""Which device a config runs on, and how the host waits for it: the one sync rule of ftax.

Every clock read around a forward pass (the timed samples in `ftax.measure.timing`, a backend's cold
first call, the unprofiled calls the decomposition pairs with profiled ones, the validation
study's methods) synchronizes with `sync_for(device)`. On CUDA the host runs ahead of the
device, so reading a clock without synchronizing would time only the launch; on a CPU the call
has finished when it returns, so the sync does nothing. Keeping the rule here, in one place,
means a change to it (another accelerator, a stream) is made once.
"""
from __future__ import annotations

from typing import Callable

import torch

from ftax.store.errors import InvalidConfigError

Sync = Callable[[], None]


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; anything else is checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InvalidConfigError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N")
    return device


def _no_sync() -> None:
    return None


def sync_for(device: str | torch.device) -> Sync:
    """What makes the host wait until `device` has finished all queued work (nothing on a CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return _no_sync
