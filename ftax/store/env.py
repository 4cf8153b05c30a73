"""Machine fingerprint: what a record was measured on, and a stable `machine_id` for its file.

The fingerprint decides what may be compared: ftax groups and labels by `machine_id`
and never averages across machines. The id depends on hardware only (CPU model and
core count, GPU name), so the same box keeps its file across software upgrades; the
software versions are in every record for filtering.
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
