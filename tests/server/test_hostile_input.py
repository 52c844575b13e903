"""Malformed requests of every kind, over real HTTP to a real server: always 4xx, never 500, never a traceback.

Each answer must be the API's error shape (`code` + `detail`), and a
validation failure must name the offending field. Before the typed schemas,
many of these got 500 or an agent traceback, and `tail=-5` got 200.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.api_http import send

REQUESTS = "/api/v1/requests"
TASK = {"run": "echo hi"}


def assert_refused(answer, field: str | None = None) -> dict:
    assert 400 <= answer.status < 500, (answer.status, answer.text)
    assert "Traceback" not in answer.text and 'File "' not in answer.text, answer.text
    body = answer.json
    assert isinstance(body.get("code"), str) and isinstance(body.get("detail"), str), body
    if field is not None:
        assert field in body["detail"], body
    return body


BAD_BODIES = [
    ([1, 2], "body"),
    ("launch", "body"),
    (None, "body"),
    ({"name": "launch"}, "body"),
    ({"name": "launch", "body": []}, "body"),
    ({"name": "launch", "body": {"cluster": "c", "task": []}}, "task"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "idle_minutes": "abc"}}, "idle_minutes"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "idle_minutes": -1}}, "idle_minutes"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "idle_minutes": 1e300}}, "idle_minutes"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "detach_run": "sometimes"}}, "detach_run"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "envs": ["A=1"]}}, "envs"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "envs": {"A": {"b": 1}}}}, "envs"),
    ({"name": "launch", "body": {"cluster": ["c"], "task": TASK}}, "cluster"),
    ({"name": "launch", "body": {"cluster": "../../etc", "task": TASK}}, "cluster"),
    ({"name": "launch", "body": {"cluster": "a\nb", "task": TASK}}, "cluster"),
    ({"name": "stop", "body": {"cluster": "Upper"}}, "cluster"),
    ({"name": "launch", "body": {"cluster": "c", "task": {"run": "x", "num_nodes": 10**30}}}, "num_nodes"),
    ({"name": "launch", "body": {"cluster": "c", "task": TASK, "typo_option": True}}, "typo_option"),
    ({"name": "launch", "body": {"cluster": "c", "task": {"run": "x", "resources": {"cpus": "abc"}}}}, "resources.cpus"),
    ({"name": "launch", "body": {"cluster": "c", "task": {"run": "x", "num_nodes": "many"}}}, "num_nodes"),
    ({"name": "exec", "body": {"cluster": 7, "task": TASK}}, "cluster"),
    ({"name": "stop", "body": {"cluster": "c", "purge": True}}, "purge"),
    ({"name": "down", "body": {}}, "cluster"),
    ({"name": "rm -rf", "body": {"cluster": "c"}}, "body"),
    ({"name": "down", "body": {"cluster": "x" * 10_000}}, "cluster"),
    ({"name": "down-orphans", "body": {"keys": []}}, "keys"),
    ({"name": "down-orphans", "body": {"keys": ["aws:instance:i-1 ; rm -rf /"]}}, "keys"),
    ({"name": "down-orphans", "body": {"keys": "aws:instance:i-1"}}, "keys"),
    ({"name": "down-orphans", "body": {"cluster": "c"}}, "keys"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
def test_malformed_request_bodies_get_4xx_naming_the_field(shared_api_server, payload, field):
    assert_refused(send(shared_api_server, "POST", REQUESTS, json_body=payload), field)


BAD_CLUSTER_WRITES = [
    ("autostop", {"idle_minutes": "abc"}, "idle_minutes"),
    ("autostop", [], "body"),
    ("autostop", {}, "idle_minutes"),
    ("autostop", {"idle_minutes": float("inf")}, None),
    ("cancel", {"job_ids": ["1; rm -rf /"]}, "job_ids"),
    ("cancel", {"job_ids": [123456789012345678901]}, "job_ids"),
    ("cancel", {"job_ids": [1], "all": True}, "all"),
    ("cancel", {"job_ids": 5}, "job_ids"),
    ("chaos/preempt", {"node": "0"}, None),
    ("chaos/preempt", {"node": -1}, "node"),
    ("chaos/preempt", {"node": True}, None),
]


@pytest.mark.parametrize(("verb", "payload", "field"), BAD_CLUSTER_WRITES, ids=[f"{v}-{i}" for i, (v, _, _) in enumerate(BAD_CLUSTER_WRITES)])
def test_malformed_cluster_writes_get_4xx(shared_api_server, verb, payload, field):
    # `Infinity` is what Python's json writes for inf: not JSON, and must be refused too.
    assert_refused(send(shared_api_server, "POST", f"/api/v1/clusters/c/{verb}", body=json.dumps(payload), headers={"Content-Type": "application/json"}), field)


BAD_QUERIES = [
    ("/api/v1/requests?limit=1e21", "limit"),
    ("/api/v1/requests?limit=100000000000000000000", "limit"),
    ("/api/v1/requests?limit=-1", "limit"),
    ("/api/v1/requests?active=maybe", "active"),
    ("/api/v1/clusters/c/jobs/12345678901234567890", "job_id"),
    ("/api/v1/clusters/c/jobs/-3", "job_id"),
    ("/api/v1/clusters/c/jobs/abc", "job_id"),
    ("/api/v1/clusters/c/logs?tail=-5", "tail"),
    ("/api/v1/clusters/c/logs?tail=abc", "tail"),
    ("/api/v1/clusters/c/logs?job_id=99999999999999999999", "job_id"),
    ("/api/v1/clusters/c/logs?node=-1", "node"),
    ("/api/v1/clusters/c/logs?follow=perhaps", "follow"),
    ("/api/v1/clusters?refresh=2", "refresh"),
    ("/api/v1/requests/..%2F..%2Fetc%2Fpasswd", None),  # a path that routes nowhere: 404
    ("/api/v1/requests/" + "a" * 100, "request_id"),
    ("/api/v1/managed-jobs?job_id=99999999999999999999999", "job_id"),  # was a 500 (OverflowError)
    ("/api/v1/managed-jobs?job_id=2147483648", "job_id"),  # a 500 on PostgreSQL (integer out of range)
    ("/api/v1/managed-jobs?job_id=0", "job_id"),
]


@pytest.mark.parametrize(("path", "field"), BAD_QUERIES, ids=[p for p, _ in BAD_QUERIES])
def test_malformed_parameters_get_4xx_naming_the_field(shared_api_server, path, field):
    assert_refused(send(shared_api_server, "GET", path), field)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{", "application/json"), (b"\xff\xfe", "application/json"), (b"", "application/json"), (b'{"name": "down"}', "text/plain"), (b"[]" * 1000, "application/json")],
)
def test_bodies_that_are_not_json_get_4xx(shared_api_server, body, content_type):
    assert_refused(send(shared_api_server, "POST", REQUESTS, body=body, headers={"Content-Type": content_type}))


def test_unknown_routes_and_methods_get_the_error_shape(shared_api_server):
    assert assert_refused(send(shared_api_server, "GET", "/api/v1/nothing-here"))["code"] == "not_found"
    wrong_method = send(shared_api_server, "DELETE", REQUESTS)
    assert_refused(wrong_method)
    assert wrong_method.status == 405 and wrong_method.headers["allow"] == "POST"  # says what is allowed (RFC 9110)
    assert assert_refused(send(shared_api_server, "GET", "/api/v1/clusters/nope/jobs"))["code"] == "not_found"
    for provider in ("lambda", "nope"):  # priced by the catalog, unknown
        assert assert_refused(send(shared_api_server, "GET", f"/api/v1/offers/{provider}"))["code"] == "not_found"
    # Not a provider's name at all: the path parameter's pattern refuses it (a 404 if it does not even reach the route).
    assert assert_refused(send(shared_api_server, "GET", f"/api/v1/offers/{'a' * 5000}"), "path.provider")["code"] == "invalid_request"
    for provider in ("..%2F..", "%00"):
        assert assert_refused(send(shared_api_server, "GET", f"/api/v1/offers/{provider}"))["code"] in ("not_found", "invalid_request")


def test_validation_errors_never_echo_the_value_sent(shared_api_server):
    """A value that fails validation may be a secret typed in the wrong place."""
    payload = {"name": "launch", "body": {"cluster": "c", "task": TASK, "envs": {"TOKEN": ["hunter2-secret"]}}}
    answer = send(shared_api_server, "POST", REQUESTS, json_body=payload)
    assert_refused(answer, "envs")
    assert "hunter2-secret" not in answer.text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["name", "body", "user", "task", "cluster", "envs", "idle_minutes", "detach_run", "down", "purge", "dryrun"])


def _request_like():
    """JSON shaped like a request (the right keys, wrong values) as well as anything at all.

    Not `launch`/`exec`: a generated body that happens to be valid would start a
    real cluster; the parametrized cases above cover their bodies.
    """
    body = st.dictionaries(FIELDS, JSON, max_size=5)
    name = st.sampled_from(["stop", "start", "down"]) | JSON.filter(lambda v: v not in ("launch", "exec"))
    return JSON | st.fixed_dictionaries({"name": name, "body": body | JSON})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=_request_like())
def test_any_json_at_the_request_door_is_never_a_server_error(shared_api_server, payload):
    answer = send(shared_api_server, "POST", REQUESTS, json_body=payload)
    assert answer.status < 500, (payload, answer.text)
    assert "Traceback" not in answer.text
    if answer.status >= 400:
        assert_refused(answer)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(verb=st.sampled_from(["autostop", "cancel", "chaos/preempt"]), payload=JSON | st.dictionaries(st.sampled_from(["idle_minutes", "down", "cancel", "job_ids", "all", "node"]), JSON, max_size=3))
def test_any_json_at_the_cluster_writes_is_a_4xx(shared_api_server, verb, payload):
    assert_refused(send(shared_api_server, "POST", f"/api/v1/clusters/no-such/{verb}", json_body=payload))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(param=st.sampled_from(["job_id", "tail", "node", "follow"]), value=st.text(min_size=1, max_size=25) | st.integers().map(str) | st.floats().map(str))
def test_any_log_query_value_is_a_4xx(shared_api_server, param, value):
    from urllib.parse import quote

    assert_refused(send(shared_api_server, "GET", f"/api/v1/clusters/no-such/logs?{param}={quote(value, safe='')}"))
