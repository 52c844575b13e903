"""The errors of `skyhop.function` calls on a pool.

A function's own exception is re-raised locally with its original type (see
`remote.rebuild`); these classes are for what is not the function's own doing:
a node that went away, a pickle that cannot cross, a timeout. All but
`RemoteTraceback` (which only carries the remote frames as a `__cause__`) are
`SkyhopError`s: one paragraph each, never a traceback of ours.
"""

from __future__ import annotations

from skyhop.errors import SkyhopError


class NodeLost(SkyhopError):
    """A node's worker is gone (the node was preempted or lost, its worker died, or the connection to the
    cluster ended): calls on it cannot be sent, and calls in flight there get no answer."""

    def __init__(self, rank: int, host: str | None, reason: str) -> None:
        super().__init__(f"Node {rank}{f' ({host})' if host else ''} of the pool is lost: {reason}.")
        self.rank = rank
        self.host = host
        self.reason = reason


class RemoteTraceback(Exception):
    """The remote frames of an exception raised on a node, attached as its `__cause__`.

    Its `str` is the remote traceback text, so Python's report of the local
    exception ends with "The above exception was the direct cause of ..." and
    the frames as they ran on the node (CPython's `concurrent.futures` does the same).
    """

    def __init__(self, text: str, *, node: str, rank: int, function: str) -> None:
        super().__init__(text)
        self.text = text
        self.node = node
        self.rank = rank
        self.function = function

    def __str__(self) -> str:
        return self.text


class RemoteError(SkyhopError):
    """An exception raised on a node whose class could not be rebuilt here (not importable, or not picklable).

    `type_name` is the remote class's `module.qualname`, `message` its `str()`.
    """

    def __init__(self, type_name: str, message: str, *, why: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.why = why
        because = f" (it is shown as a RemoteError because {why})" if why else ""
        super().__init__(f"{type_name}: {message}{because}")


class FunctionTimeout(SkyhopError, TimeoutError):
    """A call ran past the `timeout=` its function was declared with; it was cancelled on the node."""


class PickleMismatch(SkyhopError):
    """The nodes' Python or cloudpickle cannot exchange pickles with this process's."""


class NotPicklable(SkyhopError):
    """A function, an argument or a result that pickle cannot carry across; the message names which."""
