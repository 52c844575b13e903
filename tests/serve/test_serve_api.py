"""`/api/v1/serve` on a real API server: up, status, update, down, logs; bad input is a 4xx naming the field, never
a 500. The server hosts no controller (conftest.py): the service rows are what the API wrote, and what the
controller would write (replicas, an endpoint, a failed cleanup) the test writes into the same state database.
One server serves the module (a start costs seconds); each test has services of its own names."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import seed_state
from server.api_http import Server, send, start_server, stop_server

from serve.conftest import QUIET_SERVER
from skyhop.serve import files
from skyhop.state.services import Services
from skyhop.state.store import StateStore

SERVICE = {"name": "web", "run": "python3 -m http.server 8080", "resources": {"cpus": 0.25}, "service": {"readiness_probe": "/", "replicas": 2}}


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory, migrated_state_db: Path) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("home")
    seed_state(home / ".skyhop", migrated_state_db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SKYHOP_API_SERVER_COMMAND", QUIET_SERVER)
        proc, info = start_server(home)
    yield info
    stop_server(proc, info)


@pytest.fixture
def server(module_server: Server, isolated_home, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The module's server, with this process's SKYHOP_HOME (its store, the service folders, the SDK's server) its."""
    for name, value in module_server.env.items():
        if name.startswith("SKYHOP_") or name == "HOME":
            monkeypatch.setenv(name, value)
    return module_server


def _names(server) -> set[str]:
    return {s["name"] for s in send(server, "GET", "/api/v1/serve").json}


def _up(server, body):
    return send(server, "POST", "/api/v1/serve/up", json_body=body)


def test_up_status_update_and_down(server):
    answer = _up(server, {"task": SERVICE})
    assert answer.status == 200, answer.text
    assert answer.json == {"name": "web", "endpoint": None, "version": 1}
    taken = _up(server, {"task": SERVICE})
    assert taken.status == 409 and taken.json["code"] == "conflict" and "serve update web" in taken.json["detail"]
    named = _up(server, {"task": SERVICE, "service_name": "api"}).json
    assert named["name"] == "api"
    unnamed = _up(server, {"task": {k: v for k, v in SERVICE.items() if k != "name"}}).json
    assert unnamed["name"].startswith("skyhop-service-") and len(unnamed["name"]) == len("skyhop-service-") + 4

    (web,) = send(server, "GET", "/api/v1/serve?name=web").json
    assert web["status"] == "CONTROLLER_INIT" and web["version"] == 1 and web["update_mode"] == "rolling"
    assert web["target"] == 2 and (web["ready_replicas"], web["total_replicas"]) == (0, 0) and web["replicas"] == []
    assert web["policy"] == "Fixed 2 replicas" and web["load_balancing_policy"] == "least_load" and web["endpoint"] is None
    assert web["uptime_s"] >= 0 and web["created_at"] > 0
    assert {"web", "api", unnamed["name"]} <= _names(server)
    assert [s["name"] for s in send(server, "GET", "/api/v1/serve?name=web&name=api").json] == ["api", "web"]
    missing = send(server, "GET", "/api/v1/serve?name=web&name=nope")
    assert missing.status == 404 and "'nope'" in missing.json["detail"] and "serve status" in missing.json["detail"]

    autoscaled = dict(SERVICE, service={"readiness_probe": "/", "replica_policy": {"min_replicas": 1, "max_replicas": 3, "target_qps_per_replica": 5}})
    updated = send(server, "POST", "/api/v1/serve/update", json_body={"name": "web", "task": autoscaled, "mode": "blue_green"})
    assert updated.json == {"name": "web", "version": 2, "mode": "blue_green"}, updated.text
    (web,) = send(server, "GET", "/api/v1/serve?name=web").json
    assert web["version"] == 2 and web["policy"] == "Autoscaling from 1 to 3 replicas (target 5 QPS per replica)"
    assert send(server, "POST", "/api/v1/serve/update", json_body={"name": "nope", "task": SERVICE}).status == 404

    down = send(server, "POST", "/api/v1/serve/down", json_body={"names": ["web", "web"]})
    assert down.json == {"shutting_down": ["web"], "purged": [], "skipped": []}
    assert send(server, "GET", "/api/v1/serve?name=web").json[0]["status"] == "SHUTTING_DOWN"
    late = send(server, "POST", "/api/v1/serve/update", json_body={"name": "web", "task": SERVICE})
    assert late.status == 409 and "being taken down" in late.json["detail"]
    assert send(server, "POST", "/api/v1/serve/down", json_body={"names": ["nope"]}).status == 404
    everything = send(server, "POST", "/api/v1/serve/down", json_body={"all": True}).json
    assert {"web", "api", unnamed["name"]} <= set(everything["shutting_down"])


def test_replicas_show_with_their_cluster_and_a_failed_service_is_only_purged_on_request(server):
    assert _up(server, {"task": SERVICE, "service_name": "rep"}).status == 200
    services = Services(StateStore())
    first = services.add_replica("rep", 1, use_spot=True, status="READY")
    services.set_replica("rep", first.replica_id, url="http://127.0.0.1:9", zone="z1", accelerator="L4", ready_at=first.launched_at + 1)
    services.add_replica("rep", 1, use_spot=False, status="FAILED")
    services.set("rep", endpoint="http://127.0.0.1:30001", status="READY")
    (rep,) = send(server, "GET", "/api/v1/serve?name=rep").json
    assert rep["endpoint"] == "http://127.0.0.1:30001" and (rep["ready_replicas"], rep["total_replicas"]) == (1, 1)
    ready, failed = rep["replicas"]
    assert ready == {
        "replica_id": 1, "cluster": "rep-1", "version": 1, "status": "READY", "status_reason": None, "use_spot": True, "zone": "z1",
        "accelerator": "L4", "url": "http://127.0.0.1:9", "launched_at": first.launched_at, "ready_at": first.launched_at + 1,
        "infra": None, "hourly_price": None,
    }
    assert failed["replica_id"] == 2 and failed["status"] == "FAILED"

    services.set("rep", status="FAILED_CLEANUP", status_reason="replica 2 could not be removed")
    kept = send(server, "POST", "/api/v1/serve/down", json_body={"names": ["rep"]}).json
    assert kept == {"shutting_down": [], "purged": [], "skipped": ["rep"]}
    assert send(server, "GET", "/api/v1/serve?name=rep").json[0]["status"] == "FAILED_CLEANUP"
    purged = send(server, "POST", "/api/v1/serve/down", json_body={"names": ["rep"], "purge": True}).json
    assert purged == {"shutting_down": [], "purged": ["rep"], "skipped": []}
    assert "rep" not in _names(server) and services.replicas("rep") == []
    assert _up(server, {"task": SERVICE, "service_name": "rep"}).json["version"] == 1  # the name is free again


def test_logs_stream_the_controller_and_load_balancer_files_and_follow_until_the_service_goes(server):
    assert _up(server, {"task": SERVICE, "service_name": "logs"}).status == 200
    files.controller_log("logs").write_bytes(b"controller line 1\n")
    files.lb_log("logs").write_bytes(b"lb line\n")
    logs = "/api/v1/serve/logs/logs?follow=false&target="
    assert send(server, "GET", logs + "controller").text == "controller line 1\n"
    assert send(server, "GET", logs + "load_balancer").text == "lb line\n"
    replica = Services(StateStore()).add_replica("logs", 1, use_spot=False, status="PROVISIONING")
    files.launch_log("logs", replica.replica_id).write_bytes(b"launching on local\n")
    out = send(server, "GET", logs + "replica&replica_id=1").text
    assert out.startswith("launching on local\n") and "Replica 1's output on 'logs-1' cannot be read now" in out

    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/api/v1/serve/logs/logs?target=controller&follow=true", headers={"Authorization": f"Bearer {server.token}"})
    response = conn.getresponse()
    assert response.status == 200
    first = b""
    for chunk in iter(lambda: response.read1(65536), b""):  # what is there already comes at once (a chunk may be split)
        first += chunk
        if len(first) >= len(b"controller line 1\n"):
            break
    assert first == b"controller line 1\n"
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(iter(lambda: response.read1(65536), b"")))
    reader.start()
    with files.controller_log("logs").open("ab") as log:
        log.write(b"controller line 2\n")
    Services(StateStore()).delete("logs")  # as the controller does once the service is down: the follower ends
    reader.join(30)
    conn.close()
    assert not reader.is_alive() and b"".join(received) == b"controller line 2\n"


def test_a_replica_log_shows_its_launch_events_as_text(server):
    assert _up(server, {"task": SERVICE, "service_name": "words"}).status == 200
    replica = Services(StateStore()).add_replica("words", 1, use_spot=False, status="STARTING")
    events = [{"phase": "provisioning"}, {"msg": "New cluster 'words-1' is up."}, {"out": "setup output\n"}, {"job": 2}]
    lines = b"".join(json.dumps(e).encode() + b"\n" for e in events) + b"a plain line\n"
    files.launch_log("words", replica.replica_id).write_bytes(lines)
    out = send(server, "GET", "/api/v1/serve/words/logs?follow=false&target=replica&replica_id=1").text
    assert out.startswith("[skyhop] provisioning...\nNew cluster 'words-1' is up.\nsetup output\na plain line\n"), out
    assert "{" not in out


def test_bad_input_is_a_4xx_naming_the_field_never_a_500(server):
    before = _names(server)
    plain = {k: v for k, v in SERVICE.items() if k != "service"}
    cases = [
        ({"task": plain}, "service"),
        ({"task": dict(SERVICE, service={"replicas": 1000})}, "service.replicas"),
        ({"task": dict(SERVICE, service={"replicas": 10**30})}, "service.replicas"),
        ({"task": dict(SERVICE, service={"replicas": "two"})}, "service.replicas"),
        ({"task": dict(SERVICE, service={"replicas": -1})}, "service.replicas"),
        ({"task": dict(SERVICE, service={"replica_policy": {"min_replicas": 1, "max_replicas": 500, "target_qps_per_replica": 1}})}, "service.replica_policy.max_replicas"),
        ({"task": dict(SERVICE, service={"replica_policy": {"min_replicas": 1, "num_overprovision": 10**9}})}, "service.replica_policy.num_overprovision"),
        ({"task": dict(SERVICE, service={"readiness_probe": "health"})}, "service.readiness_probe"),
        ({"task": dict(SERVICE, service={"replicas": 1, "ports": 70000})}, "service.ports"),
        ({"task": dict(SERVICE, service={"replicas": 1, "tls": {"keyfile": "/nonexistent/k.pem", "certfile": "/nonexistent/c.pem"}})}, "service.tls"),
        ({"task": dict(SERVICE, service={"replicas": 1, "readiness_probe": {"path": "/", "headers": {"X": "a\r\nB: c"}}})}, "service.readiness_probe.headers.X"),
        ({"task": dict(SERVICE, service={"replicas": 1, "readiness_probe": {"path": "/", "timeout_seconds": 1e300}})}, "timeout_seconds"),
        ({"task": dict(SERVICE, service={"replicas": 1, "surprise": 1})}, "surprise"),
        ({"task": dict(SERVICE, service=[1, 2])}, "service"),
        ({"task": dict(SERVICE, pool={"workers": 1})}, "pool"),
        ({"task": dict(SERVICE, resources={"accelerators": "H100:8", "infra": "local"})}, "H100"),
        ({"task": dict(SERVICE, run=123)}, "run"),
        ({"task": dict(SERVICE, envs={"A": None})}, "A"),
        ({"task": SERVICE, "service_name": "../etc"}, "Service name"),
        ({"task": SERVICE, "service_name": "Web"}, "Service name"),
        ({"task": SERVICE, "service_name": "a" * 41}, "Service name"),
        ({"task": SERVICE, "service_name": "a" * 65}, "service_name"),
        ({"task": SERVICE, "service_name": ""}, "service_name"),
        ({"task": dict(SERVICE, name="My Service")}, "Service name"),
        ({"task": SERVICE, "surprise": 1}, "surprise"),
        ({"task": [SERVICE]}, "task"),
        ({}, "task"),
    ]
    for body, field in cases:
        answer = _up(server, body)
        assert 400 <= answer.status < 500 and field in answer.text, (body, answer.status, answer.text)
    infinite = '{"task": {"run": "x", "service": {"readiness_probe": {"path": "/", "post_data": {"a": [1, Infinity]}}, "replicas": 1}}}'
    answer = send(server, "POST", "/api/v1/serve/up", infinite, headers={"Content-Type": "application/json"})
    assert answer.status == 422 and "service.readiness_probe.post_data.a[1] is not a finite number" in answer.text  # PostgreSQL's JSON has no Infinity
    assert _names(server) == before  # nothing refused was stored
    assert _up(server, {"task": SERVICE, "service_name": "bad"}).status == 200
    updates = [
        ({"name": "bad", "task": SERVICE, "mode": "sideways"}, "mode"),
        ({"name": "bad", "task": dict(SERVICE, service=None)}, "service"),
        ({"name": "../x", "task": SERVICE}, "Service name"),
        ({"task": SERVICE}, "name"),
    ]
    for body, field in updates:
        answer = send(server, "POST", "/api/v1/serve/update", json_body=body)
        assert 400 <= answer.status < 500 and field in answer.text, (body, answer.status, answer.text)
    for body in ({}, {"names": ["bad"], "all": True}, {"names": "bad"}, {"names": ["x" * 65]}, {"all": True, "purge": "yes"}):
        assert send(server, "POST", "/api/v1/serve/down", json_body=body).status == 422, body
    logs = [
        ("/api/v1/serve/nope/logs?target=controller", 404),
        ("/api/v1/serve/bad/logs?target=replica&replica_id=7", 404),
        ("/api/v1/serve/bad/logs?target=replica", 400),
        ("/api/v1/serve/bad/logs?target=controller&replica_id=1", 400),
        ("/api/v1/serve/bad/logs?target=everything", 422),
        ("/api/v1/serve/bad/logs?replica_id=0", 422),
        ("/api/v1/serve/bad/logs?replica_id=99999999999999999999", 422),
        ("/api/v1/serve/bad/logs?follow=maybe", 422),
        ("/api/v1/serve/..%2Fetc/logs?target=controller", 404),
        ("/api/v1/serve/Web%20x/logs?target=controller", 422),  # the path declares the name pattern (docs/openapi.json)
        (f"/api/v1/serve/{'x' * 65}/logs", 422),
    ]
    for path, status in logs:
        assert send(server, "GET", path).status == status, path
    assert send(server, "GET", "/api/v1/serve", auth=False).status == 401
    assert send(server, "GET", "/api/v1/serve?name=" + "x" * 65).status == 422  # not a name the pattern allows


def test_the_sdk_verbs(server):
    """Through the module's server: the SDK finds it as the CLI does (SKYHOP_HOME's server.json)."""
    import skyhop
    from skyhop.client.http import InvalidRequest

    task = skyhop.Task.from_dict(dict(SERVICE, secrets={"TOKEN": "s3cret"}))
    assert skyhop.serve_up(task, service_name="sdk") == {"name": "sdk", "endpoint": None, "version": 1}
    (row,) = skyhop.serve_status("sdk")
    assert row["name"] == "sdk" and row["policy"] == "Fixed 2 replicas"
    assert "s3cret" not in repr(Services(StateStore()).get("sdk"))  # the secret's value is never stored
    assert skyhop.serve_update("sdk", SERVICE, mode="blue_green") == {"name": "sdk", "version": 2, "mode": "blue_green"}
    files.controller_log("sdk").write_bytes(b"hello\n")
    assert b"".join(skyhop.serve_logs("sdk", controller=True, follow=False)) == b"hello\n"
    with pytest.raises(skyhop.SkyhopError, match="has no replica 3"):
        skyhop.serve_logs("sdk", 3, follow=False)
    with pytest.raises(ValueError, match="exactly one of"):
        skyhop.serve_logs("sdk", 1, controller=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        skyhop.serve_update("sdk", SERVICE, mode="sideways")
    with pytest.raises(InvalidRequest, match="^service_name: "):
        skyhop.serve_up(SERVICE, service_name="x" * 65)
    with pytest.raises(TypeError, match="task must be"):
        skyhop.serve_up(42)
    assert skyhop.serve_down("sdk") == {"shutting_down": ["sdk"], "purged": [], "skipped": []}
