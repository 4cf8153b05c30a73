"""One measuring process per machine: a lock that every ftax entry point takes before it measures.

Two processes timing at once compete for the same cores, so each times the other's load; two sweeps into
one store would also each decide, from what was stored before either started, to measure every missing
visit, and store them twice. `measuring()` serializes them: the second process says once on stderr that
it waits, takes the lock when the first is done, and only then reads the store, so it resumes from what
the first stored.

The lock is `fcntl.flock` on one file per machine (`lock_path()`: `ftax-measure.lock` in the temporary
directory, or `$FTAX_LOCK_FILE`). The kernel drops a flock when its process dies, however it dies, so a
killed sweep never leaves a stale lock behind. The holder writes its pid into the file, for the waiting
message only. Within one process the lock is re-entrant (a study's sweep inside `studies.measure_grids`).
A child process that measures for its parent (`sweep`'s `--isolate`, a local Ray cluster's workers) never
takes it: the parent holds it for them, and the file descriptor is not inherited.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import IO, Callable, Iterator, TypeVar

LOCK_ENV = "FTAX_LOCK_FILE"
_F = TypeVar("_F", bound=Callable)

_guard = threading.Lock()
_depth = 0  # how many `measuring()` blocks of this process are open
_fd: int | None = None


def lock_path() -> Path:
    """The machine-wide lock file: `$FTAX_LOCK_FILE`, else `ftax-measure.lock` in the temporary directory."""
    return Path(os.environ.get(LOCK_ENV) or Path(tempfile.gettempdir()) / "ftax-measure.lock")


def _open(path: Path) -> int:
    """The lock file opened for writing the holder's pid, or read-only where another user created it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return os.open(path, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o666)  # any user of the machine may wait on it; fails harmlessly if not ours
    except OSError:
        pass
    return fd


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _acquire(stream: IO[str]) -> int:
    import fcntl

    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"ftax: another ftax process (pid {_holder(fd)}) is measuring on this machine; waiting...",
              file=stream, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass  # opened read-only: the waiting message says "pid unknown"
    return fd


@contextmanager
def measuring(stream: IO[str] | None = None) -> Iterator[None]:
    """Hold the machine's measuring lock for the block, waiting (and saying so once on `stream`, default
    stderr) while another process holds it. Re-entrant within a process."""
    global _depth, _fd
    with _guard:
        if _depth == 0:
            _fd = _acquire(stream or sys.stderr)
        _depth += 1
    try:
        yield
    finally:
        with _guard:
            _depth -= 1
            if _depth == 0 and _fd is not None:
                os.close(_fd)  # closing the last descriptor releases the flock
                _fd = None


def holding(function: _F) -> _F:
    """`function` run inside `measuring()`: for an entry point that reads the store and then measures, so the
    store is read only once the lock is held."""
    @wraps(function)
    def locked(*args, **kwargs):
        with measuring():
            return function(*args, **kwargs)
    return locked  # type: ignore[return-value]
