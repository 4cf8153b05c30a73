"""The machine fingerprint: a stable, readable machine_id and the fields every record carries."""
from __future__ import annotations

import json
import re

import pytest
import torch

import ftax
from ftax.store import env

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
FINGERPRINT_KEYS = {"machine_id", "cpu_model", "cpu_count", "torch_threads", "gpu_name", "gpu_driver", "cuda_version",
                    "torch_version", "transformers_version", "onnxruntime_version", "ftax_version", "git_commit"}


def test_fingerprint_has_the_issue_keys_with_sane_values():
    fp = env.fingerprint()
    assert FINGERPRINT_KEYS <= set(fp)
    assert isinstance(fp["cpu_model"], str) and fp["cpu_model"]
    assert isinstance(fp["cpu_count"], int) and fp["cpu_count"] >= 1
    assert fp["torch_threads"] == torch.get_num_threads()
    assert fp["torch_version"] == torch.__version__
    assert fp["ftax_version"] == ftax.__version__
    assert fp["cuda_version"] == torch.version.cuda
    assert fp["transformers_version"]
    assert fp["git_commit"] is None or re.fullmatch(r"[0-9a-f]{7,40}", fp["git_commit"])
    if torch.cuda.is_available():
        assert fp["gpu_name"] == torch.cuda.get_device_name(0)
    else:
        assert fp["gpu_name"] is None and fp["gpu_driver"] is None
    json.dumps(fp)  # goes into every JSON record as is


def test_machine_id_is_stable_and_a_slug():
    first, second = env.fingerprint()["machine_id"], env.fingerprint()["machine_id"]
    assert first == second
    assert SLUG.match(first), first
    fp = env.fingerprint()
    assert first == env.machine_id(fp["cpu_model"], fp["cpu_count"], fp["gpu_name"])


@pytest.mark.parametrize("cpu,cores,gpu,prefix", [
    ("Intel(R) Xeon(R) Platinum 8480+", 16, None, "intel-xeon-platinum-8480"),
    ("AMD Ryzen 9 5950X 16-Core Processor", 32, None, "amd-ryzen-9-5950x"),
    ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", 12, None, "intel-core-i7-8700"),
    ("Apple M2", 8, None, "apple-m2"),
    ("AMD EPYC 7763 64-Core Processor", 16, "NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"),
])
def test_machine_id_names_the_hardware(cpu, cores, gpu, prefix):
    mid = env.machine_id(cpu, cores, gpu)
    assert SLUG.match(mid), mid
    assert mid.startswith(f"{prefix}-{cores}c-")
    assert mid == env.machine_id(cpu, cores, gpu)


def test_machine_id_separates_different_hardware():
    ids = {env.machine_id("Intel Xeon", 8, None), env.machine_id("Intel Xeon", 16, None),
           env.machine_id("Intel Xeon", 8, "NVIDIA A100"), env.machine_id("Intel Xeon", 8, "NVIDIA H100"),
           env.machine_id("AMD EPYC", 8, None)}
    assert len(ids) == 5


def test_machine_id_is_a_slug_even_for_a_generic_cpu_name():
    assert SLUG.match(env.machine_id("Processor", 4, None))


def test_torch_threads_are_read_at_call_time():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert env.fingerprint()["torch_threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert env.fingerprint()["torch_threads"] == before


def test_machine_label_names_the_device_that_did_the_work():
    fp = {"cpu_model": "Intel Xeon", "cpu_count": 8, "gpu_name": "NVIDIA H100"}
    assert env.machine_label(fp, "cuda") == "NVIDIA H100 (GPU)"
    assert env.machine_label(fp, "cpu") == "Intel Xeon x8 (CPU)"
