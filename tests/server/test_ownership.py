"""Two users on one API server, over real HTTP: each sees and changes only their own; -u needs a role.

The app is the real one (routers, services, state store) served by uvicorn on a port; only the
authenticator is the test's, mapping two tokens to two users (team tokens are tested with the users
store). The rows are seeded as a launch, `jobs launch` and `serve up` would leave them, so every
listing and every by-name route is checked without launching anything.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from skyhop.server.auth.principal import Principal, Role, local
from skyhop.state.records import ClusterRecord

TOKENS = {
    # Team tokens, with the ids a team server's tokens have; tok-local is a local server's own caller.
    "tok-alice": Principal(user="alice", role=Role.USER, token_id="ta"),
    "tok-bob": Principal(user="bob", role=Role.USER, token_id="tb"),
    "tok-fin": Principal(user="fin", role=Role.VIEWER, token_id="tf"),
    "tok-root": Principal(user="root", role=Role.ADMIN, token_id="tr"),
    "tok-carol": Principal(user="carol", role=Role.USER, workspaces=frozenset({"default", "team-a"}), token_id="tc"),
    "tok-local": local("root"),
}


class Tokens:
    blocking = False
    local_user = None

    def principal(self, token: str) -> Principal | None:
        return TOKENS.get(token)


class Caller:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def __call__(self, method: str, path: str, body: Any = None, workspace: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if workspace is not None:
            request.add_header("X-Skyhop-Workspace", workspace)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def server(isolated_home) -> Iterator[str]:
    import uvicorn

    from skyhop.server.app import create_app
    from skyhop.state.managed import ManagedJobs
    from skyhop.state.services import Services
    from skyhop.state.store import StateStore

    store = StateStore()
    for owner in ("alice", "bob"):
        # A provider nothing here loads: `status` keeps the row as it is (a local one would be reconciled away).
        store.add_cluster(ClusterRecord(name=f"{owner}-dev", provider="seeded", region="r1", user=owner))
        store.create_request("stop", {"cluster": f"{owner}-dev"}, cluster=f"{owner}-dev", user=owner, log_path="/dev/null", request_id=f"req{owner}")
        ManagedJobs(store).create([{"name": f"{owner}-train", "user": owner, "tasks": [{"run": "true"}]}])
        Services(store).create(f"{owner}-web", {"run": "true", "service": {"readiness_probe": "/"}}, owner)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(store, Tokens()), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    store.close()


def _names(rows: list[dict[str, Any]], key: str = "name") -> set[str]:
    return {r[key] for r in rows}


def test_each_user_lists_only_their_own(server):
    alice = Caller(server, "tok-alice")
    assert _names(alice("GET", "/api/v1/clusters")[1]) == {"alice-dev"}
    assert _names(alice("GET", "/api/v1/requests")[1], "request_id") == {"reqalice"}
    assert _names(alice("GET", "/api/v1/managed-jobs")[1]) == {"alice-train"}
    assert _names(alice("GET", "/api/v1/serve")[1]) == {"alice-web"}
    bob = Caller(server, "tok-bob")
    assert _names(bob("GET", "/api/v1/clusters")[1]) == {"bob-dev"}


def test_another_users_objects_are_not_found_by_name_or_id(server):
    alice = Caller(server, "tok-alice")
    bob_job = Caller(server, "tok-bob")("GET", "/api/v1/managed-jobs")[1][0]["id"]
    for method, path, body in [
        ("GET", "/api/v1/clusters?name=bob-dev", None),
        ("GET", "/api/v1/clusters/bob-dev/jobs", None),
        ("GET", "/api/v1/clusters/bob-dev/logs?follow=false", None),
        ("POST", "/api/v1/clusters/bob-dev/autostop", {"idle_minutes": 5}),
        ("POST", "/api/v1/clusters/bob-dev/cancel", {"all": True}),
        ("GET", "/api/v1/requests/reqbob", None),
        ("POST", "/api/v1/requests/reqbob/cancel", None),
        ("POST", "/api/v1/requests", {"name": "down", "body": {"cluster": "bob-dev"}}),
        ("GET", f"/api/v1/managed-jobs/{bob_job}/logs?follow=false", None),
        ("POST", "/api/v1/managed-jobs/cancel", {"job_ids": [bob_job]}),
        ("GET", "/api/v1/serve?name=bob-web", None),
        ("GET", "/api/v1/serve/bob-web/logs?target=controller&follow=false", None),
        ("POST", "/api/v1/serve/down", {"names": ["bob-web"]}),
    ]:
        status, answer = alice(method, path, body)
        if path == "/api/v1/clusters?name=bob-dev":
            assert (status, answer) == (200, []), path  # named but not hers: as if it were not there
            continue
        assert status == 404, (path, status, answer)
        assert answer["code"] == "not_found", path
    # Nothing of bob's changed: his cluster has no autostop, his job and service are as they were.
    root = Caller(server, "tok-root")
    [cluster] = root("GET", "/api/v1/clusters?name=bob-dev")[1]
    assert cluster["autostop_minutes"] is None
    assert root("GET", "/api/v1/serve?name=bob-web")[1][0]["status"] != "SHUTTING_DOWN"


def test_a_launch_onto_another_users_cluster_name_says_it_is_taken(server):
    status, answer = Caller(server, "tok-alice")("POST", "/api/v1/requests", {"name": "launch", "body": {"cluster": "bob-dev", "task": {"run": "true"}}})
    assert (status, answer["code"]) == (409, "conflict")
    assert "taken by another user" in answer["detail"] and "bob" not in answer["detail"].replace("bob-dev", "")


def test_all_users_needs_a_role_that_sees_all(server):
    alice = Caller(server, "tok-alice")
    for path in ("/api/v1/clusters?all_users=true", "/api/v1/requests?all_users=true", "/api/v1/managed-jobs?all_users=true", "/api/v1/serve?all_users=true"):
        status, answer = alice("GET", path)
        assert (status, answer["code"]) == (403, "forbidden"), path
        assert "admin or viewer" in answer["detail"]
    viewer = Caller(server, "tok-fin")
    assert _names(viewer("GET", "/api/v1/clusters?all_users=true")[1]) == {"alice-dev", "bob-dev"}
    assert _names(viewer("GET", "/api/v1/serve?all_users=true")[1]) == {"alice-web", "bob-web"}
    assert _names(Caller(server, "tok-root")("GET", "/api/v1/managed-jobs?all_users=true")[1]) == {"alice-train", "bob-train"}


def test_a_viewer_sees_but_changes_nothing(server):
    viewer = Caller(server, "tok-fin")
    assert _names(viewer("GET", "/api/v1/clusters?name=alice-dev")[1]) == {"alice-dev"}
    assert viewer("GET", "/api/v1/requests/reqalice")[0] == 200
    for method, path, body in [
        ("POST", "/api/v1/clusters/alice-dev/autostop", {"idle_minutes": 5}),
        ("POST", "/api/v1/requests", {"name": "stop", "body": {"cluster": "alice-dev"}}),
        ("POST", "/api/v1/requests", {"name": "launch", "body": {"cluster": "fresh", "task": {"run": "true"}}}),
        ("POST", "/api/v1/serve/down", {"names": ["alice-web"]}),
        ("POST", "/api/v1/pools/p1/hosts", {"hosts": ["10.0.0.1"]}),
    ]:
        status, answer = viewer(method, path, body)
        assert (status, answer["code"]) == (403, "forbidden"), (path, answer)


def test_an_admin_acts_on_another_users_cluster(server):
    root = Caller(server, "tok-root")
    status, answer = root("POST", "/api/v1/requests", {"name": "stop", "body": {"cluster": "alice-dev"}})
    assert status == 200, answer
    status, request = root("GET", f"/api/v1/requests/{answer['request_id']}")
    assert (status, request["user"]) == (200, "root")  # the request is the admin's; the cluster stays alice's
    assert Caller(server, "tok-alice")("GET", f"/api/v1/requests/{answer['request_id']}")[0] == 404


def test_new_objects_go_to_the_workspace_the_client_picks_among_the_callers(server):
    from skyhop.state.managed import ManagedJobs
    from skyhop.state.store import StateStore

    job = {"tasks": [{"run": "true", "resources": {"cpus": 0.25}}], "name": "in-team-a"}
    status, answer = Caller(server, "tok-carol")("POST", "/api/v1/managed-jobs", job, workspace="team-a")
    assert status == 200, answer
    with StateStore() as store:
        [made] = ManagedJobs(store).find(ids=answer["job_ids"])
    assert (made.user, made.workspace) == ("carol", "team-a")
    status, answer = Caller(server, "tok-alice")("POST", "/api/v1/managed-jobs", job, workspace="team-a")
    assert (status, answer["code"]) == (403, "forbidden")
    assert "not a member of workspace 'team-a'" in answer["detail"] and "yours: default" in answer["detail"]


def test_the_client_reads_the_active_workspace_from_the_environment_or_config(isolated_home, monkeypatch):
    """SkyPilot's `active_workspace` key in config.yaml, or SKYHOP_WORKSPACE first; a config without the key is not
    parsed for it (YAML costs ~35 ms on every CLI call)."""
    import sys

    from skyhop.client import http

    config = isolated_home / ".skyhop" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    try:
        config.write_text("jobs:\n  lease_seconds: 30\n")
        http.active_workspace.cache_clear()
        monkeypatch.delitem(sys.modules, "skyhop.config", raising=False)
        assert http.active_workspace() is None
        assert "skyhop.config" not in sys.modules
        config.write_text("active_workspace: team-a\n")
        http.active_workspace.cache_clear()
        assert http.active_workspace() == "team-a"
        monkeypatch.setenv("SKYHOP_WORKSPACE", "team-b")
        http.active_workspace.cache_clear()
        assert http.active_workspace() == "team-b"
    finally:
        http.active_workspace.cache_clear()


def test_functions_need_the_callers_own_cluster_and_a_local_server(server):
    """A functions session connects to the agent socket itself, which only the server's own Unix user can reach:
    the caller of a local server (who could read its server.json), never a team token, an admin's included."""
    alice = Caller(server, "tok-alice")
    status, answer = alice("POST", "/api/v1/clusters/alice-dev/functions", {})
    assert (status, answer["code"]) == (409, "conflict")
    assert "API server on this machine, as the same user" in answer["detail"] and "team server" in answer["detail"]
    assert alice("POST", "/api/v1/clusters/bob-dev/functions", {})[0] == 404
    assert Caller(server, "tok-fin")("POST", "/api/v1/clusters/alice-dev/functions", {})[0] == 403
    assert Caller(server, "tok-root")("POST", "/api/v1/clusters/alice-dev/functions", {})[0] == 409, "a team admin is no Unix user of the server"
    status, answer = Caller(server, "tok-local")("POST", "/api/v1/clusters/alice-dev/functions", {"renew": True})
    # The local server's own caller gets past both checks, to the cluster itself (a seeded row of a provider nothing loads).
    assert status == 400 and "'seeded'" in answer["detail"], answer
