"""Printing a command's data (JSON, markdown, `export` lines) so that `| head` ends it quietly.

When the reader of a pipe leaves early, the next write to stdout raises BrokenPipeError, and
Python prints its traceback, then another one when it flushes stdout at exit. `emit` prints and
flushes at once, and when the reader has gone it points stdout at the null device: the command
goes on (its other outputs, files and job summaries, are still written) and exits as it would
have. Standard library only: ml.forking, ml and infra all may import it.
"""

from __future__ import annotations

import os
import sys


def emit(text: str) -> bool:
    """Print `text` and a newline to stdout; False when the reader has closed the pipe."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Later writes, and the flush at exit, then go to the null device instead of failing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True
