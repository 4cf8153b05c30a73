"""The command line: `ftax env | measure | predict | sweep | compare | ledger | book` (also `python -m ftax`).

Errors the user can fix print as one line on stderr with a non-zero exit, never a traceback. Heavy modules (torch,
papermill, Ray) are imported inside the commands, so `ftax --help` is quick. `commands` holds the commands and the
parser, `compare` the `ftax compare` command, `ledger` the `ftax ledger` command; `main` is the entry point.

May import: book, study, plan, sweep, pages, appendix, claims, figures, read, run, measure, store.
"""
from ftax.cli.commands import main

__all__ = ["main"]
