"""One operation per cluster at a time within the server process.

Two launches of the same cluster name, or a `down` racing a launch, would
otherwise both create or remove machines. Status refresh skips a cluster
whose lock is held: its INIT state is a launch in progress, not a crash.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock(name: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(name, threading.Lock())


@contextmanager
def cluster_lock(name: str) -> Iterator[None]:
    lock = _lock(name)
    with lock:
        yield


def is_busy(name: str) -> bool:
    return _lock(name).locked()
