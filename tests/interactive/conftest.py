"""Interactive tests use the end-to-end `sky` fixture: own SKYHOP_HOME, real server, every cluster removed after."""

from __future__ import annotations

from e2e.conftest import sky  # noqa: F401  (a fixture, shared rather than copied)
