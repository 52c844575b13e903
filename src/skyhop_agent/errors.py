"""The one error type the CLI turns into `{"error": ...}` on stderr with exit code 2."""

from __future__ import annotations


class AgentError(Exception):
    """A request the agent cannot honour; the message is meant for the user as is."""
