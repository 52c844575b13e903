"""`skyhop.shard`: each node's slice of the data, by its rank.

Standard library only, and always pickled by value: the nodes have no skyhop
package, so a function that calls `shard` carries it along.
"""

from __future__ import annotations

import itertools
import os
from typing import Any


def shard(data: Any, by: str = "stride") -> Any:
    """This node's part of `data`: `data[rank::world]` ("stride") or the rank's contiguous block ("block").

    Rank and world come from `SKYPILOT_NODE_RANK`/`SKYPILOT_NUM_NODES`, which
    every pool worker has; where they are not set (the caller's own process)
    the data comes back unchanged. Sequences (lists, NumPy arrays, tensors:
    anything with `len` and slicing) are sliced; other iterables are consumed
    lazily with `itertools.islice` ("stride" only, a block needs a length).
    """
    if by not in ("stride", "block"):
        raise ValueError(f"shard(by=...) is 'stride' or 'block', not {by!r}")
    rank_text, world_text = os.environ.get("SKYPILOT_NODE_RANK"), os.environ.get("SKYPILOT_NUM_NODES")
    if rank_text is None or world_text is None:
        return data
    rank, world = int(rank_text), int(world_text)
    if world <= 1:
        return data
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        if by == "block":
            raise TypeError(f"shard(by='block') needs a sequence (len and slicing), not a {type(data).__name__}")
        return itertools.islice(data, rank, None, world)
    if by == "stride":
        return data[rank::world]
    size, extra = divmod(len(data), world)
    start = rank * size + min(rank, extra)
    return data[start : start + size + (1 if rank < extra else 0)]
