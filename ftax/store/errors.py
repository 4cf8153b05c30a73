"""Exceptions ftax raises on purpose; the CLI prints them as one line, never a traceback."""
from __future__ import annotations

# What the command line exits with: a usage error (an FtaxError, printed as one line) or a run that failed.
EXIT_USAGE, EXIT_FAILED = 2, 1


class FtaxError(Exception):
    """Base class of every error ftax raises deliberately."""


class InvalidConfigError(FtaxError, ValueError):
    """A model/backend/dtype/shape the user asked for does not exist or cannot be built."""


class UnsupportedError(FtaxError):
    """A valid combination that this machine or backend cannot run (recorded as `unsupported`)."""


class SelectionError(FtaxError, ValueError):
    """A selection of stored records that names an unknown column, matches nothing, or cannot be compared."""
