"""A request's event log: phases, messages and job output, one JSON object per line.

The server writes it to a file; clients stream the file (and can re-attach
later), rendering phases as a spinner and `out` events as the job's output.
Job output arrives in bounded chunks (never "a line", which a progress bar
drawn with `\r` can make endless), and the file has a size cap: past it,
output is dropped with one note saying where the full log is, while phases
and messages still get through.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import IO, Callable

from skyhop.errors import SkyhopError


class RequestCancelled(SkyhopError):
    """The user cancelled the request (`skyhop api cancel`)."""


class RequestInterrupted(SkyhopError):
    """The API server stopped while the request ran, and the next server could not resume it."""


class Progress:
    """Thread-safe writer of one request's events, and its cancel flag."""

    def __init__(self, path: Path | None = None, *, max_bytes: int | None = None) -> None:
        self._path = path
        self._file: IO[bytes] | None = path.open("ab", buffering=0) if path else None
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self._written = self._file.tell() if self._file is not None else 0
        self._truncated = False
        self.cancel_event = threading.Event()
        self.phase_name = ""
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the writing thread) after each event written and at close; returns the way to stop.

        Followers streaming the log wait for this instead of polling the file
        every few milliseconds: output reaches them at once, and an idle
        follower costs nothing.
        """
        with self._lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return stop

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()

    def _emit(self, event: dict[str, object]) -> None:
        if self._file is None:
            return
        line = (json.dumps(event, ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._file is None:
                return
            if "out" in event and self._max_bytes is not None and self._written + len(line) > self._max_bytes:
                if self._truncated:
                    return
                self._truncated = True
                note = f"[skyhop] The request log reached its size cap ({self._max_bytes} bytes); further output is in `skyhop logs`."
                line = (json.dumps({"msg": note}) + "\n").encode()
            self._file.write(line)
            self._written += len(line)
        self._notify()

    def phase(self, name: str) -> None:
        """A new stage of long work (optimizing, provisioning, syncing, setup, running)."""
        self.check_cancelled()
        self.phase_name = name
        self._emit({"phase": name})

    def info(self, text: str) -> None:
        self._emit({"msg": text})

    def attempt(self, record: dict) -> None:
        """One launch attempt and what it ruled out: the persisted blocked set of a failing-over launch."""
        self._emit({"attempt": record})

    def countdown(self, left_s: float, what: str) -> None:
        """A wait before trying again (`--retry-until-up`): clients show `what` and the whole seconds left."""
        self._emit({"countdown": {"left": math.ceil(left_s), "what": what}})

    def submitted(self, job_id: int) -> None:
        """The job this request started: a resumed request follows it rather than running it twice."""
        self._emit({"job": job_id})

    def recorded(self, key: str) -> list:
        """The `key` events already in this request's log (what a resumed request did before)."""
        if self._path is None or not self._path.exists():
            return []
        found = []
        with self._lock, self._path.open(encoding="utf-8") as log:
            for line in log:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(event, dict) and key in event:
                    found.append(event[key])
        return found

    def out(self, text: str) -> None:
        """Job output, passed through verbatim."""
        self._emit({"out": text})

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise RequestCancelled("The request was cancelled.")

    def close(self) -> None:
        if self._file is not None:
            with self._lock:
                self._file.close()
                self._file = None
        self._notify()
