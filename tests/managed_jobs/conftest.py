"""Managed-jobs fixtures: the state tests' two backends (real SQLite file, real PostgreSQL database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import postgres_db
import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from postgres_db.fresh_database()
