"""The probe store: each machine's throughput probes (`ftax.measure.probe`), read back and measured when none fits.

The tax model reads a curve with the probes taken around it, so a probe is stored beside the records
(`results/probes/<machine_id>.jsonl`, a side store the record loader never reads) and reused only when it was
measured on this machine, with this software and probe version, at the device, dtype and threads asked for.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import torch

from ftax.run import backends
from ftax.store import jsonl, resume
from ftax.store.env import default_threads, fingerprint
from ftax.measure.probe import PROBE_VERSION, Probe, run_probe

PROBES = "probes"  # results/probes/<machine_id>.jsonl: each machine's throughput probes (ftax.measure.probe)


def stored_probe(out_dir: str | Path, device: str, dtype: str, threads: int) -> Probe | None:
    """The newest stored probe of this machine for `device`, `dtype` and `threads`, measured with this software."""
    found = _probes_of_this_machine(out_dir, device, dtype, threads)
    return found[-1] if found else None


def recent_probes(out_dir: str | Path, device: str, dtype: str, threads: int, max_age_s: float) -> list[Probe]:
    """Every probe `stored_probe` could return that is at most `max_age_s` old, oldest first: `ftax predict`
    averages them (`probe.mean_of`), since two readings minutes apart differ by up to 1.6x at small products."""
    return [p for p in _probes_of_this_machine(out_dir, device, dtype, threads) if _age_s(p) <= max_age_s]


def _probes_of_this_machine(out_dir: str | Path, device: str, dtype: str, threads: int) -> list[Probe]:
    """This machine's stored probes for `device`, `dtype` and `threads`, of this probe version and software."""
    env = fingerprint()
    now = tuple(resume.software(env))
    return [Probe.from_dict(data) for data in jsonl.iter_side(out_dir, PROBES)
            if data.get("machine_id") == env["machine_id"] and data.get("device") == device
            and data.get("dtype") == dtype and data.get("threads") == threads
            and data.get("version") == PROBE_VERSION and tuple(data.get("software") or ()) == now]


def ensure_probe(out_dir: str | Path, device: str, dtype: str, max_age_s: float | None = None
                 ) -> tuple[Probe, bool]:
    """(probe, reused): the stored probe if there is one for this machine (measured at most `max_age_s` ago, when
    given), else a new one, stored.

    Why an age: a shared VM's speed drifts between days, and the model reads H as T(1) minus the probe's time
    for the work, so a probe from another day moves H with the drift (on the 2-core EPYC, bert-base seq 32's
    predicted T(8) moved from within 15% of the measured one with a probe taken minutes before to 46% above it
    with a 5-day-old probe; measured once, not stored). A probe costs seconds; `ftax predict` takes a fresh one
    each hour."""
    torch.set_num_threads(default_threads())
    found = stored_probe(out_dir, device, dtype, torch.get_num_threads())
    if found is not None and (max_age_s is None or _age_s(found) <= max_age_s):
        return found, True
    measured = run_probe(device, dtype, backends.dtype_of(dtype))
    env = fingerprint()
    jsonl.append_side(out_dir, PROBES, env["machine_id"], {**measured.to_dict(), "machine_id": env["machine_id"],
                                                          "software": list(resume.software(env)), "env": env})
    return measured, False


def any_probe_stored(out_dir: str | Path, device: str, dtype: str) -> bool:
    """Whether this machine has any probe stored for `device` and `dtype`, whatever its version or software."""
    machine_id = fingerprint()["machine_id"]
    return any(data.get("machine_id") == machine_id and data.get("device") == device and data.get("dtype") == dtype
               for data in jsonl.iter_side(out_dir, PROBES))


def _age_s(probe: Probe) -> float:
    """Seconds since `probe` was measured (infinite for a probe stored without its time)."""
    if not probe.timestamp:
        return math.inf
    return (datetime.now(timezone.utc) - datetime.fromisoformat(probe.timestamp)).total_seconds()
