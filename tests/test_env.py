"""The machine fingerprint: a stable, readable machine_id and the fields every record carries."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
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


HOST_TYPES = {"cpu_family": int, "cpu_model_number": int, "cpu_stepping": int, "cpu_microcode": str, "cpu_mhz": float,
              "cpu_cache_l1d_bytes": int, "cpu_cache_l2_bytes": int, "cpu_cache_l3_bytes": int, "cpu_max_mhz": float,
              "kernel_release": str, "kernel_version": str, "host_id": str}
FAKE_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
microcode\t: 0x2b000461
cpu MHz\t\t: 2000.000
cache size\t: 107520 KB

processor\t: 1
cpu family\t: 99
model\t\t: 1
stepping\t: 9
"""


def test_the_fingerprint_records_the_host_with_types():
    fp = env.fingerprint()
    assert set(HOST_TYPES) <= set(fp)
    for key, kind in HOST_TYPES.items():
        assert fp[key] is None or isinstance(fp[key], kind), (key, fp[key])
    assert re.fullmatch(r"[0-9a-f]{12}", fp["host_id"])
    assert fp["machine_id"] == env.machine_id(fp["cpu_model"], fp["cpu_count"], fp["gpu_name"])  # unchanged by host


def test_a_fake_cpuinfo_parses_from_its_first_processor():
    fields = env.cpuinfo_fields(FAKE_CPUINFO)
    assert fields == {"cpu_family": 6, "cpu_model_number": 143, "cpu_stepping": 8, "cpu_microcode": "0x2b000461",
                      "cpu_mhz": 2000.0}
    arm = env.cpuinfo_fields("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n")
    assert set(arm.values()) == {None}
    assert set(env.cpuinfo_fields("").values()) == {None}


def test_cache_sizes_come_from_a_sysfs_tree(tmp_path):
    for index, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                                 ("2", "Unified", "2048K"), ("3", "Unified", "105M")]):
        folder = tmp_path / "cache" / f"index{index}"
        folder.mkdir(parents=True)
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(text + "\n")
    assert env.cache_sizes(tmp_path) == {"cpu_cache_l1d_bytes": 48 << 10, "cpu_cache_l2_bytes": 2048 << 10,
                                         "cpu_cache_l3_bytes": 105 << 20}
    assert set(env.cache_sizes(tmp_path / "missing").values()) == {None}


def test_host_id_changes_with_the_host_and_not_with_the_clock(tmp_path):
    base = env.host_fields(FAKE_CPUINFO, tmp_path)
    assert base["host_id"] == env.host_fields(FAKE_CPUINFO.replace("2000.000", "3100.5"), tmp_path)["host_id"]
    assert base["host_id"] != env.host_fields(FAKE_CPUINFO.replace("0x2b000461", "0x2b000590"), tmp_path)["host_id"]
    assert base["host_id"] != env.host_fields(FAKE_CPUINFO.replace("stepping\t: 8", "stepping\t: 6"), tmp_path)["host_id"]


COMMITTED = Path(__file__).resolve().parents[1] / "results" / "amd-epyc-2c-c4c3af.jsonl"


@pytest.mark.skipif(not COMMITTED.exists(), reason="the committed records are not in this checkout")
def test_records_without_host_fields_stay_one_series_and_a_host_change_splits_one(monkeypatch):
    from ftax.read import estimates
    from ftax.store.dataframe import load

    visits = load(COMMITTED)
    assert "env_host_id" not in visits  # written before the host was recorded
    shown = estimates.estimates(visits)
    assert not shown.duplicated(["machine_id", *estimates.CONFIG_COLUMNS]).any()  # one series per config
    assert len(estimates.newest_series(visits)) == len(visits)  # no visit is set aside as an older series
    without_host = tuple(c for c in estimates.SERIES_COLUMNS if c != "env_host_id")
    with monkeypatch.context() as patch:
        patch.setattr(estimates, "SERIES_COLUMNS", without_host)
        before = estimates.estimates(visits)
    pd.testing.assert_frame_equal(shown, before)  # what the book shows today is unchanged

    ok = visits[visits["status"] == "ok"]
    one = ok[ok["config_key"] == ok["config_key"].iloc[0]]
    rounds = sorted(one["round"].unique())
    assert len(rounds) >= 2
    moved = one.assign(env_host_id=["host-a" if r == rounds[0] else "host-b" for r in one["round"]])
    split = estimates.estimates(moved)
    assert sorted(split["env_host_id"]) == ["host-a", "host-b"]
    assert set(split["rounds"]) == {1, len(rounds) - 1}
    unknown = one.assign(env_host_id=[None] * len(one))
    assert len(estimates.estimates(unknown)) == 1  # None with None is one series
