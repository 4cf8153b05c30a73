"""The commits the validation run and the book's records were measured at, and the timing code's changes between.

The appendix validates the timing routine of one commit; the case studies' records may come from later ones. The
page says which commit each was measured at and lists the commits that touched the timing code in between
(`git log RUN...RECORDS -- TIMING_PATHS`), or, where this checkout has no such history, the command that lists them.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd

from ftax.read.text import join
from ftax.store import dataframe

# The code a timing passes through, in today's layout and in the flat one older commits had.
TIMING_PATHS = ("ftax/measure", "ftax/run", "ftax/timing.py", "ftax/runner.py")
REPO = Path(__file__).resolve().parent.parent.parent


def record_commits(results_dir: str | Path) -> pd.DataFrame:
    """The commits the book's records (`<results_dir>/*.jsonl`) were measured at: one row per commit with its
    record count and the first and last time it measured, oldest first."""
    files = sorted(Path(results_dir).glob("*.jsonl"))
    visits = dataframe.load(files) if files else pd.DataFrame()
    if visits.empty or "env_git_commit" not in visits:
        return pd.DataFrame(columns=["commit", "records", "first", "last"])
    grouped = visits.dropna(subset=["env_git_commit"]).groupby("env_git_commit")["timestamp"]
    out = grouped.agg(records="size", first="min", last="max").reset_index()
    return out.rename(columns={"env_git_commit": "commit"}).sort_values("first").reset_index(drop=True)


def timing_changes(run_commit: str, record_commits: list[str], repo: Path = REPO) -> list[str] | None:
    """The short hashes of the commits that touched `TIMING_PATHS` between `run_commit` and any of
    `record_commits`, whichever came first (`git log A...B`), newest first; None where git or a commit is not
    available here."""
    found: list[str] = []
    for other in record_commits:
        try:
            out = subprocess.run(["git", "log", "--format=%h", f"{run_commit}...{other}", "--", *TIMING_PATHS],
                                 cwd=repo, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            return None
        found += [h for h in out.stdout.split() if h not in found]
    return found


def commits_markdown(run_commit: str | None, run_time: str | None, commits: pd.DataFrame,
                     changes: list[str] | None) -> str:
    """The run's commit beside the records', and the commits that touched the timing code between the run's and
    any of the records' (`changes`, from `timing_changes`)."""
    if not run_commit:
        return "The validation run does not record the commit it was measured at."
    listed = join([f"{r.commit[:7]} ({r.records} records, {r.first:%Y-%m-%d %H:%M}-{r.last:%H:%M} UTC)"
                   for r in commits.itertuples()])
    when = f" on {str(run_time)[:10]}" if run_time else ""
    head = (f"The validation run was measured at commit {run_commit[:7]}{when}; the book's records at "
            f"{listed or 'no recorded commit'}.")
    if commits.empty:
        return head
    others = [c[:7] for c in commits["commit"] if c[:7] != run_commit[:7]]
    if not others:
        return head + " They share the timing code."
    command = join([f"`git log {run_commit[:7]}...{c} -- {' '.join(TIMING_PATHS)}`" for c in others])
    if changes is None:
        return head + f" This checkout cannot tell whether the timing code changed in between: {command} lists it."
    if not changes:
        return head + f" No commit in between touched the timing code ({command})."
    return (head + f" The timing code changed in between ({len(changes)} commits touch it: {', '.join(changes)}; "
            f"{command}), so this run validates the routine as it was at {run_commit[:7]}; re-running it at the "
            f"records' commit would validate theirs.")
