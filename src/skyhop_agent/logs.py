"""Job log files: copying node output into them, and streaming them back out.

Each node's output goes to `node-R.log` raw and to the job's `run.log`, which
is what users read; with several nodes every `run.log` line carries a
`(node-R) ` prefix, so only whole lines go there (a partial line would be
interleaved with other nodes' output); a line longer than `MAX_LINE` (a
progress bar redrawn with `\r` forever) is cut into prefixed pieces rather
than held in memory. Output is read in chunks as it comes so progress shows
up at once, and decoded leniently: a job printing bytes that are not UTF-8
must not break its own logging. Nothing here holds more than a chunk or a
line piece, whatever the job prints.
"""

from __future__ import annotations

import codecs
import os
import time

from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import IO, Callable, Protocol, Sequence

    class Sink(Protocol):
        """Where `stream` copies a log: stdout (the `logs` verb) or a socket (the daemon's channel)."""

        def write(self, data: bytes, /) -> object: ...

        def flush(self) -> object: ...

_CHUNK = 65536
#: The longest piece of one line that goes to a multi-node `run.log` in one go.
MAX_LINE = 65536
# How often `logs --follow` looks for more output; short so `exec` stays snappy.
FOLLOW_POLL_S = 0.02
#: A follower asks the job table whether the job ended when the table's files
#: changed (a `stat`, every poll), and at the latest this often.
FINISHED_BACKSTOP_S = 1.0


class JobLogs:
    """The open log files of one job, written by one pump thread per node process."""

    def __init__(self, layout: Layout, job_id: int, num_nodes: int) -> None:
        os.makedirs(layout.job_dir(job_id), exist_ok=True)
        self._combined = open(layout.run_log(job_id), "a", encoding="utf-8")
        self._nodes = [open(layout.node_log(job_id, rank), "a", encoding="utf-8") for rank in range(num_nodes)]
        self._prefixed = num_nodes > 1
        import threading  # here: the `logs` verb imports this module too, and has no threads

        self._lock = threading.Lock()

    def pump(self, rank: int, pipe: IO[bytes]) -> None:
        """Copy one node process's output until it closes its end of the pipe."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        partial = ""
        while True:
            chunk = pipe.read1(_CHUNK)  # type: ignore[attr-defined]  # returns whatever has arrived
            text = decoder.decode(chunk, final=not chunk)
            if text:
                self._nodes[rank].write(text)
                self._nodes[rank].flush()
            if self._prefixed:
                complete, newline, partial = (partial + text).rpartition("\n")
                lines = complete.split("\n") if newline else []
                if not chunk and partial:
                    lines.append(partial)
                elif len(partial) > MAX_LINE:  # keep at most one piece back
                    cut = len(partial) - len(partial) % MAX_LINE
                    lines.append(partial[:cut])
                    partial = partial[cut:]
                text = "".join(f"(node-{rank}) {line[i : i + MAX_LINE]}\n" for line in lines for i in range(0, max(len(line), 1), MAX_LINE))
            if text:
                with self._lock:
                    self._combined.write(text)
                    self._combined.flush()
            if not chunk:
                return

    def close(self) -> None:
        for f in [self._combined] + self._nodes:
            f.close()


def _tail_offset(f: IO[bytes], lines: int) -> int:
    """Where the last `lines` lines of `f` begin (a trailing newline ends the last line).

    Scans backwards a chunk at a time, holding one chunk: a log without
    newlines costs a scan, not its size in memory.
    """
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    f.seek(end - 1 if end else 0)
    wanted = lines + 1 if end and f.read(1) == b"\n" else lines  # newlines to pass, counting the trailing one
    pos = end
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step)
        count = data.count(b"\n")
        if count >= wanted:
            cut = len(data)
            for _ in range(wanted):
                cut = data.rindex(b"\n", 0, cut)
            return pos + cut + 1
        wanted -= count
    return 0


def asked_on_change(question: Callable[[], bool], paths: Sequence[str], backstop_s: float = FINISHED_BACKSTOP_S) -> Callable[[], bool]:
    """`question` asked again only once one of `paths` changed (size or mtime), or `backstop_s` passed.

    Whether a job ended is a database read; a follower polls every 20 ms for
    hours, and many follow at once. A job ends with a write to the job table,
    so between writes the last answer stands: the end is seen within one poll
    (a follower used to ask every 0.1 s, which added up to 0.1 s to every job).
    """
    seen: tuple | None = None
    answer = False
    deadline = 0.0

    def ask() -> bool:
        nonlocal seen, answer, deadline
        now = _stats(paths)
        if now != seen or time.monotonic() >= deadline:
            seen, deadline = now, time.monotonic() + backstop_s
            answer = question()
        return answer

    return ask


def _stats(paths: Sequence[str]) -> tuple:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def stream(path: str, out: Sink, follow: bool, tail: int | None, finished: Callable[[], bool]) -> None:
    """Copy the log at `path` to `out`; with `follow`, until `finished()` and nothing is left.

    `finished()` is asked before each drain, so output written before the job
    became terminal is always copied before we stop.
    """
    f = None
    try:
        while True:
            done = follow and finished()
            if f is None and os.path.exists(path):
                f = open(path, "rb")
                if tail is not None:
                    f.seek(_tail_offset(f, tail))
            if f is not None:
                chunk = f.read(_CHUNK)
                while chunk:
                    out.write(chunk)
                    out.flush()
                    chunk = f.read(_CHUNK)
            if not follow or done:
                return
            time.sleep(FOLLOW_POLL_S)
    finally:
        if f is not None:
            f.close()
