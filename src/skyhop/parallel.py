"""Do the same remote step on many machines at once.

Each step is mostly waiting on a network round trip, so threads are enough,
and a cluster-wide step then costs one machine's time, not the sum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each(items: Iterable[T], work: Callable[[T], R], *, limit: int = 32) -> list[R]:
    """`work(item)` for every item at once, results in order; the first error is raised once all have finished."""
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as threads:
        futures = [threads.submit(work, item) for item in items]
    return [future.result() for future in futures]
