"""The simulator's user-facing error (bad trace, impossible job): one paragraph, no traceback."""

from __future__ import annotations

from skyhop.errors import SkyhopError


class SimError(SkyhopError):
    """A trace that cannot be read, or a job the trace or the deadline cannot hold."""
