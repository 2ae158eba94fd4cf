"""A closed output pipe ends the output, never the verdict.

`hostspec explain bad.mem | head -1`: once `head` has its line and exits,
every further write to the pipe fails with EPIPE.  The command still runs to
the end and exits with the status its input calls for; only the rest of its
output goes nowhere (to /dev/null, so that nothing flushed later, down to the
interpreter's own flush at exit, fails again).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator, TextIO


class _Guarded:
    """A text stream whose writes after a closed pipe are dropped."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._to_devnull()
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._to_devnull()

    def _to_devnull(self) -> None:
        self.closed_pipe = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def closed_pipes_ignored() -> Iterator[None]:
    """Within: writes to stdout and stderr never raise BrokenPipeError."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Guarded(saved[0]), _Guarded(saved[1])
    try:
        yield
    finally:
        for guarded in (sys.stdout, sys.stderr):
            if isinstance(guarded, _Guarded):
                guarded.flush()
        sys.stdout, sys.stderr = saved
