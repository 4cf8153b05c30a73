"""The validation appendix's stored runs: one JSON line per run in `<results_dir>/validation/<machine_id>.jsonl`.

Like the case studies' records, a run is appended (never overwritten) with its provenance: the
machine's fingerprint (hardware, software versions, host), when it was measured, the plan (profile,
device, rounds, stop rule, callables) and the load. The report-only build (`make book-report`) reads
them back, so the hosted appendix shows numbers without measuring. The folder sits beside the
records, so `ftax.store.dataframe.load` never takes a run for a record (`ftax.store.jsonl.side_path`).

Format history: 1, the first.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from ftax.store import env, jsonl
from ftax.measure.timing import StopRule
from ftax.measure.validation_spec import ValidationPlan, Target, ValidationRun

KIND = "validation"
FORMAT = 1


def to_json(run: ValidationRun, fingerprint: dict) -> dict:
    """A measured run as one JSON object, with what it was measured on and when."""
    p = run.plan
    return {"format": FORMAT, "machine_id": fingerprint["machine_id"],
            "machine_label": env.machine_label(fingerprint, p.device), "env": fingerprint,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "plan": {"profile": p.profile, "device": p.device, "rounds": p.rounds, "rule": asdict(p.rule),
                     "targets": [asdict(t) for t in p.targets]},
            "seconds": run.seconds, "load_1m": list(run.load_1m), "skipped": [list(s) for s in run.skipped],
            "frame": run.frame.to_dict("records"), "sensitivity": run.sensitivity.to_dict("records"),
            "cuda": run.cuda.to_dict("records")}


def from_json(data: dict, path: Path | None = None) -> ValidationRun:
    """The run a stored line holds, with its provenance (`ValidationRun.provenance`)."""
    p = data["plan"]
    plan = ValidationPlan(p["profile"], p["device"], int(p["rounds"]), StopRule(**p["rule"]),
                tuple(Target(**t) for t in p["targets"]))
    fingerprint = data.get("env", {})
    provenance = {"machine_id": data["machine_id"], "timestamp": data["timestamp"],
                  "host": fingerprint.get("hostname"), "torch": fingerprint.get("torch_version"),
                  "ftax": fingerprint.get("ftax_version"), "commit": fingerprint.get("git_commit"),
                  "cpu_count": fingerprint.get("cpu_count"), "stored": str(path) if path else None}
    return ValidationRun(plan, True, pd.DataFrame(data["frame"]), pd.DataFrame(data["sensitivity"]),
                         pd.DataFrame(data["cuda"]), [tuple(s) for s in data["skipped"]], float(data["seconds"]),
                         tuple(float("nan") if v is None else v for v in data["load_1m"]),
                         machine_label=data["machine_label"], provenance=provenance)


def append(run: ValidationRun, results_dir: str | Path, fingerprint: dict | None = None) -> ValidationRun:
    """Store a measured run (appended to this machine's file); the run returned carries its provenance."""
    data = to_json(run, fingerprint or env.fingerprint())
    path = jsonl.append_side(results_dir, KIND, data["machine_id"], data)
    stored_run = from_json(data, path)
    stored_run.provenance["measured_now"] = True
    return stored_run


def path_of(results_dir: str | Path, data: dict) -> Path:
    """The file a stored run is in."""
    return jsonl.side_path(results_dir, KIND, data["machine_id"])


def stored(results_dir: str | Path) -> list[dict]:
    """Every stored run of every machine, oldest first (by timestamp, then file order)."""
    runs = [r for r in jsonl.iter_side(results_dir, KIND) if r.get("format") == FORMAT]
    return sorted(runs, key=lambda r: r.get("timestamp", ""))


def choose(runs: list[dict], plan: ValidationPlan, machine_id: str, torch_version: str) -> tuple[dict | None, bool]:
    """The stored run that stands for `plan` here, and whether it is this machine's own: the newest of this
    machine with the plan's profile, device kind, rounds and torch; else (a report built elsewhere) the newest
    of any machine with the plan's profile, then of any profile. (None, False) when nothing is stored."""
    kind = plan.device.split(":")[0]

    def same_plan(r: dict) -> bool:
        return (r["plan"]["profile"] == plan.profile and r["plan"]["device"].split(":")[0] == kind
                and int(r["plan"]["rounds"]) == plan.rounds)

    mine = [r for r in runs if r["machine_id"] == machine_id and same_plan(r)
            and r.get("env", {}).get("torch_version") == torch_version]
    if mine:
        return mine[-1], True
    profile = [r for r in runs if r["plan"]["profile"] == plan.profile]
    return ((profile or runs)[-1] if runs else None), False
