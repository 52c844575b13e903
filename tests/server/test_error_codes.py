"""Typed errors across HTTP: the client raises the exception class the server raised.

Both for errors answered at once (a 4xx with `code`) and for requests that
fail later in the server's worker threads (the code is stored with the
request, so `follow` re-raises the right type even after a re-attach).
"""

from __future__ import annotations

import threading

import pytest

from server.api_http import send
from skyhop.errors import ConflictError, InfeasibleError, NotFoundError, SkyhopError
from skyhop.providers.errors import (
    AuthError,
    CapacityError,
    NotSupportedError,
    QuotaError,
)
from skyhop.server import error_codes


@pytest.fixture
def client_of(api_server, monkeypatch):
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", api_server.url)
    monkeypatch.setenv("SKYHOP_API_TOKEN", api_server.token)
    from skyhop.client import api

    return api


@pytest.mark.parametrize(
    ("error_type", "code"),
    [(CapacityError, "capacity"), (QuotaError, "quota"), (AuthError, "auth"), (NotSupportedError, "not_supported"), (NotFoundError, "not_found"), (InfeasibleError, "infeasible"), (ConflictError, "conflict"), (SkyhopError, "error")],
)
def test_each_error_type_has_a_code_that_comes_back_as_the_same_type(error_type, code):
    assert error_codes.code_of(error_type("why")) == code
    rebuilt = error_codes.error_for(code, "why")
    assert type(rebuilt) is error_type and str(rebuilt) == "why"


def test_subclasses_take_their_nearest_code_and_bugs_are_internal():
    from skyhop.state.errors import ClusterExistsError, ClusterNotFoundError

    assert error_codes.code_of(ClusterNotFoundError("gone")) == "not_found"
    assert error_codes.code_of(ClusterExistsError("taken")) == "conflict" and error_codes.status_of("conflict") == 409
    assert error_codes.code_of(ValueError("bug")) == "internal" and error_codes.status_of("internal") == 500
    assert type(error_codes.error_for("a-code-from-a-newer-server", "m")) is SkyhopError


def test_an_immediate_error_is_raised_as_its_type_by_the_client(client_of):
    with pytest.raises(NotFoundError, match="does not exist"):
        client_of.queue("no-such-cluster")
    with pytest.raises(SkyhopError, match="idle_minutes"):
        from skyhop.client import http
        from skyhop.client.server_process import endpoint

        http.call(endpoint(), "POST", "/api/v1/clusters/c/autostop", body={"idle_minutes": "abc"})


def test_a_request_that_fails_later_keeps_its_error_type(client_of, api_server):
    task = {"run": "echo hi", "resources": {"cpus": 100000}}
    request_id = client_of.submit("launch", {"task": task, "cluster": "huge", "dryrun": True})
    with pytest.raises(InfeasibleError):
        client_of.follow(request_id)
    record = send(api_server, "GET", f"/api/v1/requests/{request_id}").json
    assert record["status"] == "FAILED" and record["error_code"] == "infeasible"
    with pytest.raises(InfeasibleError):  # a re-attach after the fact too
        client_of.follow(request_id)


def test_the_executor_stores_the_code_of_what_an_operation_raised(isolated_home):
    from skyhop.execution.progress import Progress
    from skyhop.server.executor import Executor, Owner
    from skyhop.state.store import StateStore

    done = threading.Event()

    def no_room(body: dict, progress: Progress, owner: Owner) -> None:
        try:
            raise CapacityError("no H100 left in us-east-1a")
        finally:
            done.set()

    store = StateStore()
    executor = Executor(store, {"launch": no_room})
    request_id = executor.submit("launch", {}, stored_body={}, cluster=None, owner=Owner("me"))
    assert done.wait(30)
    while executor.is_active(request_id):
        threading.Event().wait(0.01)
    record = store.get_request(request_id)
    assert (record.status, record.error_code) == ("FAILED", "capacity")
    assert isinstance(error_codes.error_for(record.error_code, record.error), CapacityError)
    executor.shutdown()
