"""The API against its own OpenAPI description, fuzzed by schemathesis: no 500, answers as described, no way in
without a token, and no other user's data.

The real `create_app` of a team server (tokens checked in the database) runs in-process (ASGI, no ports), one pytest item per
operation, so xdist spreads them. Each item gets a fresh home whose
config.yaml turns every provider off (`infra: {NAME: false}`): whatever the
fuzzer sends, a launch fails planning, and the test checks afterwards that
no cluster row and no process was made. Two users call: `alice`, who owns
seeded rows with distinctive names, and `bob`, whose answers must not
contain them (a hard failure: owner filtering is in). Budget: 10 positive and 5 negative examples per operation,
derandomized (the same cases at every run).
"""

from __future__ import annotations

import functools
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from skyhop.server.middleware import OPEN_PATHS

#: The key of the tokens' hashes in these tests' databases (a team server's own is in its home: state/pepper.py).
PEPPER = b"contract-test-pepper"
#: Every name alice's seeded rows carry: an answer to bob that holds it leaks her data.
SECRET = "alice-secret"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance, response_headers_conformance]


@functools.cache
def _described() -> dict[str, Any]:
    from skyhop.server.openapi import offline_app

    return offline_app().openapi()


def _schema(mode: str, examples: int):
    """The description to generate from (built once, at collection); each case is sent to the fixture's app."""
    schema = schemathesis.openapi.from_dict(_described())
    schema.config.generation.update(modes=[mode], max_examples=examples, deterministic=True, with_security_parameters=False, database="none")
    # Fuzzing only: the coverage phase adds boundary cases by the dozen per operation (beyond the budget).
    schema.config.phases.update(phases=["fuzzing"])
    return schema


POSITIVE = _schema("positive", 10)
NEGATIVE = _schema("negative", 5)
#: Hypothesis settings of every test here: no deadline (a loaded CI machine), the same examples every run, no shrinking.
FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


def _no_provider_config(skyhop_home: Path) -> None:
    from skyhop.providers import registry
    from skyhop.providers.credentials import RULES

    off = sorted(set(registry.names()) | set(RULES))
    (skyhop_home / "config.yaml").write_text("infra:\n" + "".join(f"  {name}: false\n" for name in off), encoding="utf-8")


def _seed_alice(store) -> dict[str, Any]:
    """Rows alice owns, each named with SECRET; returns their keys for by-name calls."""
    from skyhop.spec.task import Task
    from skyhop.state.managed import ManagedJobs
    from skyhop.state.records import ClusterRecord
    from skyhop.state.services import Services

    cluster = f"{SECRET}-cluster"
    store.add_cluster(ClusterRecord(name=cluster, provider="aws", region="us-east-1", user="alice", resources={"note": SECRET}))
    task = Task(run=f"echo {SECRET}", name=f"{SECRET}-job").to_dict()
    (job,) = ManagedJobs(store).create([{"name": f"{SECRET}-job", "user": "alice", "tasks": [task], "resources": ["-"], "withheld": [], "envs": {}}])
    service = f"{SECRET}-svc"
    Services(store).create(service, {**task, "service": {"readiness_probe": "/"}}, "alice")
    request = store.create_request("down", {"cluster": cluster}, cluster=cluster, user="alice", log_path=os.devnull)
    store.finish_request(request.request_id, "FAILED", error=f"{SECRET} failed", error_code="error")
    return {"cluster": cluster, "service": service, "request_id": request.request_id, "job_id": job.id}


def _children() -> set[int]:
    """This process's child processes (the session's zygotes included: compared before and after)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


class Api:
    """The app of one test item (one operation), and one in-process client for all its calls (a client per call
    would start the app's lifespan each time)."""

    def __init__(self, app, client, alice: dict[str, Any]) -> None:
        self.app, self.client, self.alice = app, client, alice
        self.alice_token, self.bob_token = alice["tokens"]["alice"], alice["tokens"]["bob"]

    def call(self, case, token: str | None):
        if "follow" in {p.name for p in case.operation.query}:
            # A stream that follows a live object (a seeded job never ends here) would hold the call until the client's
            # timeout; following is tested where the objects run (tests/managed_jobs, tests/serve).
            case.query = {**(case.query or {}), "follow": False}
        return case.call(session=self.client, headers={} if token is None else {"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="session")
def alice_state(tmp_path_factory: pytest.TempPathFactory, migrated_state_db: Path) -> tuple[Path, dict[str, Any]]:
    """A migrated state database holding alice's rows, made once per worker and copied for each test
    (writing the rows per test cost more than the test's own calls)."""
    from e2e_support import seed_state

    from skyhop.state.store import StateStore
    from skyhop.state.users import Users

    home = tmp_path_factory.mktemp("alice") / ".skyhop"
    seed_state(home, migrated_state_db)
    store = StateStore(f"sqlite:///{home / 'state.db'}")
    try:
        users = Users(store, PEPPER)
        for user in ("alice", "bob"):  # two plain users of a team server
            users.create_user(user, role="user")
        seeded = _seed_alice(store)
        seeded["tokens"] = {user: users.mint(user).secret for user in ("alice", "bob")}
        return home / "state.db", seeded
    finally:
        store.close()


@pytest.fixture
def api(isolated_home: Path, alice_state: tuple[Path, dict[str, Any]]) -> Iterator[Api]:
    """The real app on a fresh home with every provider off and alice's rows; afterwards, no cluster but
    alice's and no new process."""
    from e2e_support import seed_state
    from schemathesis.python import asgi

    from skyhop.server.app import create_app
    from skyhop.server.auth.tokens import TeamTokens
    from skyhop.state.store import StateStore
    from skyhop.state.users import Users

    template, alice = alice_state
    seed_state(isolated_home / ".skyhop", template)
    _no_provider_config(isolated_home / ".skyhop")
    store = StateStore()
    before = _children()
    app = create_app(store, TeamTokens(Users(store, PEPPER), store))
    try:
        with asgi.get_client(app) as client:
            yield Api(app, client, alice)
        _wait_for_requests(store, alice["request_id"])
        # What the fuzzer submitted ran in the background: each ended refused (a 4xx code), never as a server bug.
        bugs = [(r.name, r.error) for r in store.list_requests(limit=10_000) if r.error_code == "internal"]
        assert not bugs, bugs
        assert [c.name for c in store.list_clusters()] == [alice["cluster"]], "a fuzzed call made a cluster"
        assert _children() <= before, "a fuzzed call left a process behind"
    finally:
        app.state.executor.shutdown()
        store.close()


def _wait_for_requests(store, seeded: str, timeout: float = 60.0) -> None:
    """Requests the fuzzer submitted run in the executor's threads: they end (failing planning) before the checks."""
    deadline = time.monotonic() + timeout
    while any(r.request_id != seeded for r in store.list_requests(limit=10_000, active_only=True)):
        assert time.monotonic() < deadline, "a fuzzed request is still running"
        time.sleep(0.05)


def _sampled(case, one_in: int) -> bool:
    """One case in `one_in`, chosen by the case's own data: Hypothesis replays a failing case, and a check chosen by
    a counter would not run again (a "flaky" failure instead of the real one)."""
    import zlib

    from schemathesis.core import NOT_SET

    data = (case.path_parameters, case.query, None if case.body is NOT_SET else case.body)
    if not any(value not in (None, {}, []) for value in data):
        return True  # an operation without parameters has one case only: it is always checked
    return zlib.crc32(repr(data).encode()) % one_in == 0


@POSITIVE.parametrize()
@FUZZ
def test_positive_cases(case, api):
    """As alice: answered as described. As bob: nothing of alice's."""
    response = api.call(case, api.alice_token)
    case.validate_response(response, checks=CHECKS)
    if _sampled(case, 2):  # about half the cases: bob's calls cost as much as alice's
        _bob_sees_nothing_of_alice(case, api)


def test_every_operation_but_the_open_ones_needs_a_valid_token(api):
    """The token is checked before routing (server/middleware.py), so one request per operation says it all:
    none, a made-up one and alice's with one character changed are each refused with 401."""
    forged = api.alice_token[:-1] + ("A" if api.alice_token[-1] != "A" else "B")
    for path, item in _described()["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in item:
            for token in (None, "wrong-token", forged):
                headers = {} if token is None else {"Authorization": f"Bearer {token}"}
                answer = api.client.request(method.upper(), url, headers=headers)
                if path in OPEN_PATHS:
                    assert answer.status_code != 401, (method, path, answer.status_code)
                else:
                    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized", (method, path, token and token[:4], answer.status_code)


@NEGATIVE.parametrize()
@FUZZ
def test_negative_cases_are_refused_as_described(case, api):
    response = api.call(case, api.alice_token)
    case.validate_response(response, checks=CHECKS)


def _aimed_at_alice(case, alice: dict[str, Any]) -> bool:
    """Point the case's path parameters at alice's objects (and stop it following a stream); False if it has none."""
    keys = {"name": alice["service"] if case.path.startswith("/api/v1/serve/") else alice["cluster"], "request_id": alice["request_id"], "job_id": alice["job_id"]}
    aimed = {name: keys[name] for name in (case.path_parameters or {}) if name in keys}
    if not aimed:
        return False
    case.path_parameters = {**case.path_parameters, **aimed}
    if case.path.startswith("/api/v1/clusters/") and "job_id" in aimed:
        case.path_parameters["job_id"] = 1
    return True


class Leak(AssertionError):
    """An answer to bob that holds alice's data."""


def _bob_sees_nothing_of_alice(case, api: Api) -> None:
    """The same case as bob: no answer holds alice's names. Aimed at her objects by name or id: refused as a
    missing one is (the answer may repeat the name bob sent, nothing more of hers)."""
    leaks = []
    answer = api.call(case, api.bob_token)
    assert answer.status_code != 500, answer.text[:300]
    if SECRET in answer.text:
        leaks.append(f"{case.method} {case.formatted_path} -> {answer.status_code} {answer.text[:200]}")
    if _aimed_at_alice(case, api.alice):
        aimed = api.call(case, api.bob_token)
        assert aimed.status_code != 500, aimed.text[:300]
        if aimed.status_code < 400:
            leaks.append(f"{case.method} {case.formatted_path} (alice's) -> {aimed.status_code} {aimed.text[:200]}")
    if leaks:
        raise Leak("; ".join(leaks))


def test_a_launch_is_refused_at_planning_here(api):
    """The fuzzer may not reach a launch (its bodies rarely parse as one): every provider being off is what keeps
    it from creating a cluster, so a plain launch, and one pinned to this machine, must fail planning at once."""
    store = api.app.state.store
    for task in ({"run": "echo hi"}, {"run": "echo hi", "resources": {"infra": "local"}}):
        answer = api.client.post("/api/v1/requests", json={"name": "launch", "body": {"cluster": "fuzz-launch", "task": task}},
                                 headers={"Authorization": f"Bearer {api.alice_token}"})
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["request_id"]
        _wait_for_requests(store, api.alice["request_id"])
        record = store.get_request(request_id)
        assert record.status == "FAILED" and record.error_code in ("infeasible", "error"), (record.status, record.error_code, record.error)
