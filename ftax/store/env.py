"""Machine fingerprint: what a record was measured on, a stable `machine_id` for its file, and its host.

The fingerprint decides what may be compared: ftax groups and labels by `machine_id`
and never averages across machines. The id depends on hardware only (CPU model and
core count, GPU name), so the same box keeps its file across software upgrades; the
software versions are in every record for filtering.

A machine class is not a host. A cloud VM masks its CPU ("AMD EPYC"), so two hosts share one
`machine_id`, and on one such id the same eager call has run at half the latency of a run a week
earlier, with only the VM's kernel build differing between the records. So the fingerprint also
records what tells hosts apart (`host_fields`: CPU family, model number, stepping, microcode,
L1d/L2/L3 sizes, clock, kernel release and build; None where unreadable), and `host_id` hashes the
stable ones. `host_id` splits series (`ftax.read.estimates.SERIES_COLUMNS`): a change of host starts
a new series, so rounds from two hosts are never pooled into one estimate, while `machine_id`, which
keys the stored records, stays as it was. Records written before these fields carry no `host_id`
and stay one series. The clock is left out of `host_id`: the current `cpu MHz` moves with frequency
scaling, so it would split one host's series by the moment it was read.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import torch

import ftax


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def cpuinfo_fields(text: str) -> dict:
    """The first processor's identity in a `/proc/cpuinfo` text: family, model number, stepping (ints), microcode
    (as written, e.g. "0x1000065") and the current clock in MHz; None for each field the text lacks (an ARM
    cpuinfo names its parts otherwise)."""
    first: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if first:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            first.setdefault(key.strip().lower(), value.strip())
    return {"cpu_family": _number(first.get("cpu family"), int), "cpu_model_number": _number(first.get("model"), int),
            "cpu_stepping": _number(first.get("stepping"), int), "cpu_microcode": first.get("microcode") or None,
            "cpu_mhz": _number(first.get("cpu mhz"), float)}


def _number(text: str | None, kind: type):
    try:
        return kind(text, 0) if kind is int and text and text.lower().startswith("0x") else kind(text)
    except (TypeError, ValueError):
        return None


_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)


def cache_sizes(cpu_dir: Path = Path("/sys/devices/system/cpu/cpu0")) -> dict:
    """cpu0's L1 data, L2 and L3 cache sizes in bytes from sysfs (`cache/index*/level`, `type`, `size`), each
    None where unreadable."""
    out: dict[str, int | None] = {"cpu_cache_l1d_bytes": None, "cpu_cache_l2_bytes": None, "cpu_cache_l3_bytes": None}
    for index in sorted((cpu_dir / "cache").glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        match = _SIZE.match(size)
        name = {("1", "Data"): "l1d", ("2", "Unified"): "l2", ("3", "Unified"): "l3"}.get((level, kind))
        if match and name:
            scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2).upper()]
            out[f"cpu_cache_{name}_bytes"] = int(match.group(1)) * scale
    return out


def _max_mhz(cpu_dir: Path = Path("/sys/devices/system/cpu/cpu0")) -> float | None:
    """The highest clock the kernel allows cpu0 (sysfs `cpufreq/cpuinfo_max_freq`, in kHz; else psutil's), None
    where neither says (a VM without cpufreq reports 0)."""
    try:
        return int((cpu_dir / "cpufreq" / "cpuinfo_max_freq").read_text()) / 1000
    except (OSError, ValueError):
        pass
    try:
        import psutil

        freq = psutil.cpu_freq()
    except (ImportError, OSError, NotImplementedError):
        return None
    return float(freq.max) if freq is not None and freq.max else None


# What identifies a host in `host_id`: the stable fields of `host_fields` (not the current clock).
HOST_ID_FIELDS = ("cpu_model", "cpu_family", "cpu_model_number", "cpu_stepping", "cpu_microcode", "cpu_cache_l1d_bytes",
                  "cpu_cache_l2_bytes", "cpu_cache_l3_bytes", "cpu_max_mhz", "kernel_release", "kernel_version")


def host_fields(cpuinfo: str | None = None, cpu_dir: Path = Path("/sys/devices/system/cpu/cpu0")) -> dict:
    """What tells this host apart from another of the same `machine_id`: `cpuinfo_fields`, `cache_sizes`, the
    highest clock, the kernel release and build (`uname -r`, `uname -v`), and `host_id`, 12 hex digits of a hash of
    `HOST_ID_FIELDS` with `cpu_model`. `cpuinfo` is `/proc/cpuinfo`'s text (read when None; "" where unreadable)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields = {**cpuinfo_fields(cpuinfo), **cache_sizes(cpu_dir), "cpu_max_mhz": _max_mhz(cpu_dir),
              "kernel_release": platform.release() or None, "kernel_version": platform.version() or None}
    identity = [_cpu_model(), *(fields[k] for k in HOST_ID_FIELDS[1:])]
    fields["host_id"] = hashlib.sha256(repr(identity).encode()).hexdigest()[:12]
    return fields


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _gpu() -> dict:
    if not torch.cuda.is_available():
        return {"gpu_name": None, "gpu_count": 0, "gpu_memory_bytes": None, "gpu_driver": None,
                "cuda_version": torch.version.cuda}
    props = torch.cuda.get_device_properties(0)
    driver = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {"gpu_name": props.name, "gpu_count": torch.cuda.device_count(), "gpu_memory_bytes": props.total_memory,
            "gpu_driver": driver.splitlines()[0] if driver else None, "cuda_version": torch.version.cuda}


def _slug(text: str) -> str:
    text = re.sub(r"\(r\)|\(tm\)|cpu @.*|processor|\d+-core", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:40]


def machine_id(cpu_model: str, cpu_count: int, gpu_name: str | None) -> str:
    """Readable and stable: `<gpu or cpu slug>-<cores>c-<6 hex of the full hardware string>`."""
    hardware = f"{cpu_model}|{cpu_count}|{gpu_name or ''}"
    digest = hashlib.sha256(hardware.encode()).hexdigest()[:6]
    name = (_slug(gpu_name) if gpu_name else _slug(cpu_model)) or ("gpu" if gpu_name else "cpu")
    return f"{name}-{cpu_count}c-{digest}"


@functools.lru_cache(maxsize=1)
def _static_fingerprint() -> dict:
    gpu = _gpu()
    cpu_model, cpu_count = _cpu_model(), os.cpu_count() or 1
    repo = Path(ftax.__file__).resolve().parent.parent
    return {
        "machine_id": machine_id(cpu_model, cpu_count, gpu["gpu_name"]),
        "cpu_model": cpu_model,
        "cpu_count": cpu_count,
        **gpu,
        "hostname": platform.node(),  # machine_id names the hardware class; pages name the host that measured
        **host_fields(),
        "platform": platform.platform(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "transformers_version": _version("transformers"),
        "onnxruntime_version": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "ftax_version": ftax.__version__,
        "git_commit": _run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo),
    }


def default_threads() -> int:
    """Torch threads a sweep fixes when none are asked for: the physical cores (hyperthreads share
    execution units, so more threads than cores add contention, not speed)."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except ImportError:
        cores = None
    return max(1, cores or os.cpu_count() or 1)


def load_avg_1m() -> float | None:
    """The 1-minute load average now (None where the OS has none): above the core count, other work competes."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def fingerprint() -> dict:
    """The fingerprint of this machine now: threads and load can change between calls, and a load
    above the core count (a shared, oversubscribed machine) explains outliers that nothing else would."""
    return {**_static_fingerprint(), "torch_threads": torch.get_num_threads(), "load_avg_1m": load_avg_1m()}


def machine_label(env: dict, device: str) -> str:
    """What a figure calls the machine a record came from: the device that did the work."""
    cpu = f"{env.get('cpu_model', 'unknown CPU')} x{env.get('cpu_count', '?')}"
    if device.startswith("cuda"):
        return f"{env['gpu_name']} (GPU)" if env.get("gpu_name") else f"no visible GPU on {cpu}"
    return f"{cpu} (CPU)"
