"""Services and replicas in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from conftest import cluster

from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.errors import StateError
from skyhop.state.services import KIND, SHUTTING_DOWN, Services

TASK = {"run": "python -m http.server", "service": {"readiness_probe": "/", "replicas": 2}}


def test_create_makes_the_lease_and_refuses_a_taken_name(store):
    services = Services(store)
    record = services.create("web", TASK, "alice")
    assert (record.version, record.status, record.next_replica_id) == (1, "CONTROLLER_INIT", 1)
    assert "web" in ControllerLeases(store).claimable(KIND, 10)
    with pytest.raises(StateError, match="already exists"):
        services.create("web", TASK, "bob")


def test_update_bumps_the_version_and_refuses_a_service_going_down(store):
    services = Services(store)
    services.create("web", TASK, None)
    assert services.update("web", TASK, "blue_green").version == 2
    assert services.get("web").update_mode == "blue_green"
    services.mark_down("web")
    with pytest.raises(StateError, match="being taken down"):
        services.update("web", TASK, "rolling")
    with pytest.raises(StateError, match="No service"):
        services.update("nope", TASK, "rolling")


def test_a_status_never_overwrites_shutting_down(store):
    services = Services(store)
    services.create("web", TASK, None)
    services.mark_down("web")
    services.set("web", status="READY", target=3)
    record = services.get("web")
    assert (record.status, record.target) == (SHUTTING_DOWN, 3)
    with pytest.raises(ValueError):
        services.set("web", version=9)


def test_replica_ids_are_never_reused_and_skip_taken_cluster_names(store):
    services = Services(store)
    services.create("web", TASK, None)
    store.add_cluster(cluster("web-2"))  # somebody's own cluster: replica 2 must not take it over
    first = services.add_replica("web", 1, False, "PENDING")
    second = services.add_replica("web", 1, True, "PENDING")
    assert (first.replica_id, first.cluster) == (1, "web-1")
    assert (second.replica_id, second.cluster, second.use_spot) == (3, "web-3", True)
    services.remove_replica("web", 3)
    assert services.add_replica("web", 1, False, "PENDING").replica_id == 4
    services.set_replica("web", 1, status="READY", url="http://127.0.0.1:9000", port=9000)
    assert [(r.replica_id, r.status, r.url) for r in services.replicas("web")] == [
        (1, "READY", "http://127.0.0.1:9000"), (4, "PENDING", None)]
    services.delete("web")
    assert services.get("web") is None and services.replicas() == []
