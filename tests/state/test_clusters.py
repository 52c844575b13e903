"""Clusters and their history: the transitions write the events cost depends on."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import cluster

import skyhop.errors
from skyhop.errors import SkyhopError
from skyhop.state.errors import ClusterExistsError, ClusterNotFoundError
from skyhop.state.records import ClusterRecord


def kinds(store, name=None) -> list[str]:
    return [event.event for event in store.list_events(name)]


def test_add_get_list_round_trip(store):
    added = store.add_cluster(cluster("b", zone="z1", autostop_minutes=30.0, autostop_down=True, setup_hash="abc"))
    store.add_cluster(cluster("a"))
    assert isinstance(added, ClusterRecord)
    assert added.status == "INIT"
    assert added.launched_at is not None and added.status_updated_at == added.launched_at
    got = store.get_cluster("b")
    assert got == added
    assert got.resources["accelerators"] == {"H100": 1}
    assert got.handle["ips"] == ["127.0.0.1", "127.0.0.2"]
    assert (got.zone, got.autostop_minutes, got.autostop_down, got.setup_hash, got.user) == ("z1", 30.0, True, "abc", "alice")
    assert [c.name for c in store.list_clusters()] == ["a", "b"]
    assert store.get_cluster("missing") is None
    assert kinds(store) == [], "INIT is not billed"


def test_records_are_frozen_copies(store):
    record = store.add_cluster(cluster())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = "UP"  # type: ignore[misc]
    record.resources["cpus"] = 999  # a caller's copy: the database is unaffected
    assert store.get_cluster("c1").resources["cpus"] == 2


def test_add_existing_name_is_a_clear_error(store):
    store.add_cluster(cluster())
    with pytest.raises(ClusterExistsError, match="'c1' already exists.*skyhop down c1") as error:
        store.add_cluster(cluster(provider="aws"))
    assert isinstance(error.value, SkyhopError)
    assert store.get_cluster("c1").provider == "local"


def test_add_requires_init(store):
    with pytest.raises(ValueError, match="INIT"):
        store.add_cluster(cluster(status="UP"))


def test_update_cluster_changes_known_fields_only(store):
    store.add_cluster(cluster())
    updated = store.update_cluster("c1", handle={"ips": ["10.0.0.1"]}, autostop_minutes=5.0, autostop_down=True)
    assert updated.handle == {"ips": ["10.0.0.1"]}
    assert store.get_cluster("c1") == updated
    with pytest.raises(ValueError, match="bogus"):
        store.update_cluster("c1", bogus=1)
    with pytest.raises(ValueError, match="set_cluster_status"):
        store.update_cluster("c1", status="UP")
    with pytest.raises(ClusterNotFoundError, match="'nope'") as missing:
        store.update_cluster("nope", autostop_minutes=1.0)
    assert isinstance(missing.value, getattr(skyhop.errors, "NotFoundError", SkyhopError))


def test_lifecycle_writes_launch_stop_start_terminate(store):
    store.add_cluster(cluster())
    assert store.set_cluster_status("c1", "UP", at=100.0, hourly_price=4.0).status == "UP"
    store.set_cluster_status("c1", "UP", at=150.0)  # idempotent: no event
    store.set_cluster_status("c1", "STOPPED", at=200.0)
    store.set_cluster_status("c1", "STOPPED", at=250.0)
    store.set_cluster_status("c1", "UP", at=300.0)
    assert store.get_cluster("c1").status_updated_at == 300.0
    assert store.remove_cluster("c1", at=400.0) is True
    events = store.list_events("c1")
    assert [(e.event, e.at) for e in events] == [("LAUNCH", 100.0), ("STOP", 200.0), ("START", 300.0), ("TERMINATE", 400.0)]
    launch = events[0]
    assert (launch.hourly_price, launch.provider, launch.region, launch.num_nodes, launch.user) == (4.0, "local", "local", 2, "alice")
    assert launch.resources["instance_type"] == "local"
    assert store.get_cluster("c1") is None


def test_repair_through_init_is_not_a_new_launch(store):
    store.add_cluster(cluster())
    store.set_cluster_status("c1", "UP", at=1.0)
    store.set_cluster_status("c1", "INIT", at=2.0)
    store.set_cluster_status("c1", "UP", at=3.0)
    store.set_cluster_status("c1", "STOPPED", at=4.0)
    store.set_cluster_status("c1", "INIT", at=5.0)  # being restarted
    store.set_cluster_status("c1", "UP", at=6.0)
    assert kinds(store) == ["LAUNCH", "STOP", "START"]


def test_unknown_status_and_cluster(store):
    with pytest.raises(ClusterNotFoundError):
        store.set_cluster_status("nope", "UP")
    store.add_cluster(cluster())
    with pytest.raises(ValueError, match="RUNNING"):
        store.set_cluster_status("c1", "RUNNING")


def test_remove_is_idempotent_and_never_double_terminates(store):
    assert store.remove_cluster("nope") is False
    store.add_cluster(cluster())
    store.set_cluster_status("c1", "UP", at=1.0)
    store.set_cluster_status("c1", "STOPPED", at=2.0)
    assert store.remove_cluster("c1", at=3.0) is True
    assert store.remove_cluster("c1", at=4.0) is False
    assert kinds(store) == ["LAUNCH", "STOP", "TERMINATE"]


def test_remove_of_a_never_launched_cluster_writes_no_event(store):
    store.add_cluster(cluster())  # provisioning failed before UP
    assert store.remove_cluster("c1") is True
    assert kinds(store) == []


def test_name_reuse_after_terminate_starts_a_new_lifetime(store):
    store.add_cluster(cluster())
    store.set_cluster_status("c1", "UP", at=1.0)
    store.remove_cluster("c1", at=2.0)
    store.add_cluster(cluster(provider="aws", region="us-east-1"))
    store.set_cluster_status("c1", "UP", at=3.0)
    assert kinds(store) == ["LAUNCH", "TERMINATE", "LAUNCH"]
    assert store.list_events("c1")[-1].provider == "aws"


def test_failed_write_changes_nothing(store):
    store.add_cluster(cluster())
    from sqlalchemy.exc import StatementError

    # Fails at flush, inside the transaction (psycopg raises the TypeError itself).
    with pytest.raises((StatementError, TypeError), match="not JSON serializable"):
        store.update_cluster("c1", handle={"x": object()}, autostop_minutes=9.0)
    assert store.get_cluster("c1").autostop_minutes is None


def test_writes_take_the_lock_up_front_reads_do_not(store):
    """BEGIN IMMEDIATE (SQLite) or row locks (PostgreSQL, which has no BEGIN
    IMMEDIATE) are what make read-modify-write safe across processes."""
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(store._engine, "before_cursor_execute", lambda c, cur, sql, *a: statements.append(sql))
    store.add_cluster(cluster())
    if store._engine.dialect.name == "sqlite":
        assert statements[0] == "BEGIN IMMEDIATE"
        statements.clear()
        store.list_clusters()
        assert statements[0] == "BEGIN"
    else:
        assert not any("IMMEDIATE" in sql for sql in statements)
        statements.clear()
        store.update_cluster("c1", autostop_minutes=1.0)
        assert "FOR UPDATE" in statements[0]
