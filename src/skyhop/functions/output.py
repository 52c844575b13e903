"""What the functions print on the nodes, shown here.

The workers send their stdout/stderr bytes as OUT frames; this writes them to
this process's `sys.stdout`/`sys.stderr`, looked up at each write (in Jupyter
those are the kernel's streams, swapped per cell, so output lands in the cell
running now). With more than one node every line carries a `(node-R) ` prefix,
as a multi-node job's `run.log` does (skyhop_agent/logs.py), so only whole
lines are written; a partial line is written after PARTIAL_FLUSH_S of quiet
(a progress bar without a newline still shows up).
"""

from __future__ import annotations

import codecs
import sys
import threading
from typing import Any

from skyhop_agent import fnwire

#: How long a line without its newline waits for the rest before it is written anyway.
PARTIAL_FLUSH_S = 0.2


class Output:
    """The session's `on_output`: called on the reader thread with `(rank, stream, data)`."""

    def __init__(self, *, prefixed: bool, quiet: bool = False) -> None:
        self.prefixed = prefixed
        self.quiet = quiet
        self._lock = threading.Lock()
        self._decoders: dict[tuple[int, int], Any] = {}
        self._partial: dict[tuple[int, int], str] = {}
        self._timer: threading.Timer | None = None

    def __call__(self, rank: int, stream: int, data: bytes) -> None:
        if self.quiet:
            return
        key = (rank, stream)
        with self._lock:
            decoder = self._decoders.get(key)
            if decoder is None:
                decoder = self._decoders[key] = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text = decoder.decode(data)
            if not self.prefixed:
                _write(stream, text)
                return
            complete, newline, partial = (self._partial.pop(key, "") + text).rpartition("\n")
            if newline:
                _write(stream, "".join(f"(node-{rank}) {line}\n" for line in complete.split("\n")))
            if partial:
                self._partial[key] = partial
                if self._timer is None:
                    self._timer = threading.Timer(PARTIAL_FLUSH_S, self.flush)
                    self._timer.daemon = True
                    self._timer.start()

    def flush(self) -> None:
        """Write the partial lines held back (the timer, and the pool's close)."""
        with self._lock:
            self._timer = None
            for (rank, stream), partial in sorted(self._partial.items()):
                _write(stream, f"(node-{rank}) {partial}\n")
            self._partial.clear()


def _write(stream: int, text: str) -> None:
    if not text:
        return
    target = sys.stderr if stream == fnwire.STDERR else sys.stdout
    try:
        target.write(text)
        target.flush()
    except (OSError, ValueError):  # a closed stream (interpreter shutting down): the output is dropped
        pass
