"""Fixtures for the state store tests: each runs on a real SQLite file AND on a
fresh database of a real PostgreSQL server (tests/postgres_db.py; skipped with
the reason where no server runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import postgres_db
import pytest

from skyhop.state.records import ClusterRecord
from skyhop.state.store import StateStore


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        yield from postgres_db.fresh_database()


@pytest.fixture
def store(db_url: str) -> Iterator[StateStore]:
    with StateStore(db_url) as opened:
        yield opened


def cluster(name: str = "c1", **fields) -> ClusterRecord:
    """A cluster record with test defaults."""
    values = dict(
        provider="local",
        region="local",
        num_nodes=2,
        resources={"cloud": "local", "instance_type": "local", "cpus": 2, "memory_gib": 16, "accelerators": {"H100": 1}, "use_spot": False},
        handle={"ips": ["127.0.0.1", "127.0.0.2"], "dirs": ["/tmp/n0", "/tmp/n1"]},
        hourly_price=3.0,
        user="alice",
    )
    values.update(fields)
    return ClusterRecord(name=name, **values)
