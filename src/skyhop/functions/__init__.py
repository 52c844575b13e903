"""Python functions on a pool's nodes: `@skyhop.function`, `skyhop.Pool`, `skyhop.shard`.

docs/functions.md is the user's guide; docs/architecture.md ("Functions: the
client library") says why it is built this way. Importing this package is
cheap: cloudpickle and the pool's machinery load on the first call.
"""

from __future__ import annotations

from skyhop.functions.decorator import Function, PendingCall, function
from skyhop.functions.sharding import shard

__all__ = ["Function", "PendingCall", "function", "shard"]
