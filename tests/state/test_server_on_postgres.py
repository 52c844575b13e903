"""The whole product on PostgreSQL: the real CLI and API server with SKYHOP_DB_URL set."""

from __future__ import annotations

import subprocess
import sys

import postgres_db
import pytest
from e2e_support import Sky

from skyhop.state.store import StateStore


@pytest.fixture
def pg_sky(isolated_home, tmp_path):
    for url in postgres_db.fresh_database():
        work = tmp_path / "work"
        work.mkdir()
        sky = Sky(isolated_home, work)
        sky.env["SKYHOP_DB_URL"] = url
        try:
            yield sky, url
        finally:
            sky("down", "--all", "-y", timeout=120)
            subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=sky.env, capture_output=True, timeout=60)


def test_launch_status_down_with_the_state_on_postgresql(pg_sky):
    sky, url = pg_sky
    launched = sky("launch", "-y", "-c", "pg", "echo hello from pg", check=True)
    assert "hello from pg" in launched.out
    assert sky.clusters()["pg"]["status"] == "UP"
    with StateStore(url) as store:
        assert store.get_cluster("pg").status == "UP", "the server wrote to PostgreSQL"
        assert [r.name for r in store.list_requests()][0] == "launch"
    assert not (sky.skyhop_home / "state.db").exists(), "no SQLite file on the side"
    sky("down", "-y", "pg", check=True)
    with StateStore(url) as store:
        assert store.get_cluster("pg") is None
        assert [e.event for e in store.list_events("pg")] == ["LAUNCH", "TERMINATE"]
