"""The SSH provider's leases live in the state store, on SQLite or PostgreSQL."""

from __future__ import annotations

import json

import postgres_db
import pytest

from skyhop.providers.ssh import leases


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, isolated_home, monkeypatch):
    if request.param == "sqlite":
        yield isolated_home / ".skyhop" / "state.db"
        return
    for url in postgres_db.fresh_database():
        monkeypatch.setenv("SKYHOP_DB_URL", url)
        yield url
        leases.state_store().close()  # let the test database be dropped


def test_leases_round_trip_through_the_store(backend):
    assert leases.acquire("c1", ["h1", "h2"], 1) == ["h1"]
    leases.note_key("c1", "skyhop-c1-key")
    leases.note_head("c1", {"host": "h1", "port": 22}, "/base")
    leases.mark_preempted("c1", "h1")
    assert leases.holders(["h1", "h2"]) == {"h1": "c1"}
    assert (leases.key_of("c1"), leases.head_of("c1")) == ("skyhop-c1-key", {"target": {"host": "h1", "port": 22}, "base": "/base"})
    assert leases.is_preempted("h1") and not leases.is_preempted("h2")
    leases.release("c1")
    assert leases.holders(["h1", "h2"]) == {} and leases.key_of("c1") is None and not leases.is_preempted("h1")


def test_an_old_lease_file_is_imported_once(isolated_home):
    old = isolated_home / ".skyhop" / "ssh" / "leases.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({
        "hosts": {"root@10.0.0.1:22": "old", "root@10.0.0.2:22": "old"},
        "heads": {"old": {"target": {"host": "10.0.0.1"}, "base": "/b"}},
        "preempted": {"root@10.0.0.2:22": "old"},
        "keys": {"old": "skyhop-old"},
    }))
    assert leases.held_by("old") == ["root@10.0.0.1:22", "root@10.0.0.2:22"]
    assert leases.key_of("old") == "skyhop-old" and leases.head_of("old")["base"] == "/b"
    assert leases.is_preempted("root@10.0.0.2:22")
    assert not old.exists() and old.with_name("leases.json.imported").exists()
    assert leases.acquire("new", ["root@10.0.0.1:22"], 1) is None, "imported leases are held"
