"""Send fd 2 elsewhere for a while: what native code (a Jupyter kernel, libkineto) writes there too.

`sys.stderr` only covers Python's writes; child processes and C++ libraries write to the file
descriptor, so both `ftax book` (the kernel's log) and `ftax.profile` (libkineto's chatter)
redirect the descriptor itself.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import BinaryIO, TextIO


@contextmanager
def stderr_fd_to(file: BinaryIO | TextIO):
    """fd 2 writes go to the open `file` for the duration; fd 2 is restored afterwards, also on error."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
