"""Page 04's "Your machine next to this book": each other machine set against the book's by `ftax compare`.

A side is one machine's device kind (cpu, cuda), as the page keeps each machine and device its own series. The
book's machine, A, is the side with the most ok visits on the page (the book is built from its records); every
other side, B, is compared with it by `ftax.read.compare.compare` over the page's configs, each config's newest
series, with the run-to-run spread of the calibration runs stored in the page's results folder. The section shows
what `ftax compare` prints, in the page's order: what differs, the verdict counts and the summaries first, the
per-config table folded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ftax.appendix.calibration_report import stored
from ftax.pages import PageView
from ftax.read import compare, compare_text
from ftax.read.text import join, plural
from ftax.store.errors import SelectionError

# Fingerprint fields that name the stack rather than the machine (besides every `*_version`): the ftax commit,
# the thread count, the GPU driver, and the stop rule the runs used.
_SOFTWARE = ("git_commit", "torch_threads", "gpu_driver", "rule")


@dataclass(frozen=True, eq=False)
class Side:
    """One machine's device kind on the page: its visits (every status), its label and its ok visit count."""

    machine_id: str
    kind: str
    label: str
    visits: pd.DataFrame
    records: int


@dataclass(frozen=True, eq=False)
class Versus:
    """One other side (B) against the book's (A): `ftax compare`'s comparison, or why there is none (`why`)."""

    a: Side
    b: Side
    comparison: compare.Comparison | None
    why: str = ""


def sides(visits: pd.DataFrame) -> list[Side]:
    """Each machine and device kind with ok visits, the book's (the most ok visits) first."""
    if visits.empty or "status" not in visits:
        return []
    kinds = visits["device"].map(compare.device_kind).rename("kind")
    out = []
    for (machine, kind), part in visits.groupby([visits["machine_id"], kinds], sort=True):
        ok = part[part["status"] == "ok"]
        if not ok.empty:
            out.append(Side(str(machine), str(kind), str(ok["machine_label"].mode().iloc[0]), part, len(ok)))
    return sorted(out, key=lambda s: (-s.records, s.label, s.machine_id))


def versus(visits: pd.DataFrame, spread: dict) -> list[Versus]:
    """Every other side against the book's, by `ftax.read.compare.compare` (`spread`: its `run_spread`)."""
    found = sides(visits)
    out = []
    for b in found[1:]:
        try:
            out.append(Versus(found[0], b, compare.compare(found[0].visits, b.visits, spread=spread)))
        except SelectionError as error:
            out.append(Versus(found[0], b, None, str(error)))
    return out


def _group(name: str) -> str:
    """Which part of a fingerprint a field describes: the devices, the software or the host."""
    if name.endswith("_version") or name in _SOFTWARE:
        return "software"
    return "devices" if name.startswith("gpu_") else "host"


def _differences_markdown(pair: Versus) -> str:
    """What differs between A's and B's fingerprints (`A -> B`), as devices, software and host."""
    c = pair.comparison
    said: dict[str, list[str]] = {"devices": [], "software": [], "host": []}
    for line in c.differences:
        said[_group(line.split(":", 1)[0])].append(f"`{line}`")
    differ = [n.split(": ", 1)[1] for n in c.notes if n.startswith("devices differ: ")]
    said["devices"][:0] = [f"they differ ({differ[0]}; configs match without the device)" if differ
                           else f"both {pair.a.kind}"]
    return "**What differs (A -> B).** " + "; ".join(
        f"{part.capitalize()}: {join(lines, 'the same')}" for part, lines in said.items()) + "."


def _pair_markdown(pair: Versus) -> str:
    title = f"### {pair.b.label} (`{pair.b.machine_id}`)"
    if pair.comparison is None:
        return f"{title}\n\nNo comparison with A: {pair.why}."
    c = pair.comparison
    detail = "\n\n".join([compare_text.heading(c), compare_text.configs_markdown(c), *[f"_{n}_" for n in c.notes]])
    return "\n\n".join([
        title, _differences_markdown(pair),
        f"**Verdicts.** Of {plural(len(c.rows), 'config')} both measured, B against A: {compare_text.verdict_counts(c)}"
        f" ({c.confidence:.0%} family-wise over {plural(c.corrected_over, 'config')}).",
        "**B/A per runtime and per model family** (geometric mean of the configs' ratios, with its interval):",
        compare_text.summary_markdown(c),
        f":::{{dropdown}} Every config: B/A, its interval and the smallest change it could show\n{detail}\n:::"])


def _detectable_line(pairs: list[Versus]) -> str:
    """How small a change stored runs could show here: the median config's minimum detectable change, and range."""
    values = np.array([x for p in pairs if p.comparison is not None for x in p.comparison.rows["min_detectable"]],
                      float)
    values = values[np.isfinite(values)]
    if not len(values):
        return ("Stored runs on one machine cannot see small changes, and no config here has the two rounds per "
                "side an interval needs.")
    return (f"Stored runs on one machine cannot see small changes: with their rounds' and runs' spread, the "
            f"smallest change a config's interval could show is {np.median(values):.0%} in the median config here "
            f"({np.min(values):.0%} to {np.max(values):.0%}; per config in the folded tables' 'detectable' column).")


def section_markdown(v: PageView) -> str:
    """The section, heading included, where the page holds two or more machines (or devices), else ""."""
    pairs = versus(v.every_visit, compare.run_spread(stored(v.results_dir)))
    if not pairs:
        return ""
    a = pairs[0].a
    return "\n\n".join([
        "## Your machine next to this book",
        f"A, the book's machine, is **{a.label}** (`{a.machine_id}`): the one with the most records on this page "
        f"({plural(a.records, 'ok visit')}). Each other machine is B, set against A config by config over this "
        "page's configs by `ftax compare` (see {doc}`../reproduce` to compare your own records).",
        "B/A divides the absolute latencies of two machines: it says how much faster one machine runs each config, "
        "not whether its framework tax differs, which the claims judge by ratios between runtimes on each machine. "
        + _detectable_line(pairs),
        *[_pair_markdown(p) for p in pairs]])
