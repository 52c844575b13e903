"""API server requests: lifecycle, listing, and adopting orphans after a crash."""

from __future__ import annotations

import os

import pytest

from skyhop.state.errors import RequestNotFoundError


def test_request_lifecycle(store):
    created = store.create_request("launch", {"task": {"run": "echo hi"}}, cluster="c1", user="alice", log_path="/l/1.log")
    assert (created.status, created.server_pid, created.started_at, created.result) == ("PENDING", os.getpid(), None, None)
    assert len(created.request_id) == 32
    running = store.start_request(created.request_id, server_pid=4242)
    assert (running.status, running.server_pid) == ("RUNNING", 4242)
    assert running.started_at is not None
    done = store.finish_request(created.request_id, "SUCCEEDED", result={"job_id": 1, "ips": ["1.2.3.4"]})
    assert done.status == "SUCCEEDED" and done.result == {"job_id": 1, "ips": ["1.2.3.4"]} and done.finished_at is not None
    assert store.get_request(created.request_id) == done
    assert store.get_request("nope") is None


def test_first_outcome_wins_and_cancelled_requests_do_not_start(store):
    request = store.create_request("exec", {}, log_path="/l", request_id="r1")
    assert store.finish_request("r1", "CANCELLED").status == "CANCELLED"
    assert store.start_request("r1", server_pid=1).status == "CANCELLED"
    late = store.finish_request("r1", "FAILED", error="boom")
    assert (late.status, late.error) == ("CANCELLED", None)
    assert request.request_id == "r1"


def test_bad_finish_status_and_unknown_ids(store):
    store.create_request("exec", {}, log_path="/l", request_id="r1")
    with pytest.raises(ValueError, match="RUNNING"):
        store.finish_request("r1", "RUNNING")
    with pytest.raises(RequestNotFoundError):
        store.start_request("nope", 1)
    with pytest.raises(RequestNotFoundError):
        store.finish_request("nope", "FAILED")


def test_list_requests_newest_first_and_active_only(store):
    for i in range(5):
        store.create_request("status", {"i": i}, log_path="/l", request_id=f"r{i}")
    store.finish_request("r1", "SUCCEEDED", result=[1, 2])
    store.start_request("r2", 1)
    assert [r.request_id for r in store.list_requests()] == ["r4", "r3", "r2", "r1", "r0"]
    assert [r.request_id for r in store.list_requests(limit=2)] == ["r4", "r3"]
    assert [r.request_id for r in store.list_requests(active_only=True)] == ["r4", "r3", "r2", "r0"]
    assert store.get_request("r1").result == [1, 2]


def test_orphaned_requests_are_listed_and_adopted_once(store):
    from skyhop.state.controller_leases import ControllerLeases, OwnerId

    me = OwnerId("hostb", 222, "1")
    ControllerLeases(store, me).rejoin(60)  # a live owner row: requests of a live owner are not taken
    store.create_request("launch", {}, log_path="/l", request_id="old-pending", server_pid=111, server_owner="hosta:111:1")
    store.create_request("launch", {}, log_path="/l", request_id="old-running", server_pid=111, server_owner="hosta:111:1")
    store.start_request("old-running", 111)
    store.create_request("launch", {}, log_path="/l", request_id="old-done", server_pid=111, server_owner="hosta:111:1")
    store.finish_request("old-done", "SUCCEEDED")
    store.create_request("launch", {}, log_path="/l", request_id="mine", server_pid=222, server_owner=str(me))
    store.create_request("launch", {}, log_path="/l", request_id="held", server_pid=333, server_owner="hostc:333:1")
    ControllerLeases(store, OwnerId("hostc", 333, "1")).rejoin(60)
    seen = {r.request_id: r for r in store.orphaned_requests(str(me))}
    assert list(seen) == ["old-pending", "old-running", "held"]
    adopted = store.adopt_request(seen["old-running"], owner=str(me), pid=222)
    assert (adopted.status, adopted.server_pid, adopted.server_owner) == ("RUNNING", 222, str(me))  # the status is kept: the new owner runs it again
    assert store.adopt_request(seen["old-running"], owner="hostd:444:1", pid=444) is None  # a second sweeper finds it taken
    assert store.adopt_request(store.get_request("old-done"), owner=str(me), pid=222) is None  # finished: nothing to adopt
    assert store.adopt_request(seen["held"], owner=str(me), pid=222) is None  # its owner's row is live
    assert store.adopt_request(seen["held"], owner=str(me), pid=222, owner_dead=True).server_owner == str(me)  # proven dead on its host
    assert store.adopt_request(seen["old-pending"], owner=str(me), pid=222).status == "PENDING"
    assert store.orphaned_requests(str(me)) == []
    assert store.get_request("old-done").status == "SUCCEEDED"


def test_a_released_request_is_adopted_and_the_owner_row_stays_while_it_holds_requests(store):
    from skyhop.state.controller_leases import ControllerLeases, OwnerId, live_owners

    draining, sibling = OwnerId("h", 1, "1"), OwnerId("h", 2, "1")
    leases = ControllerLeases(store, draining)
    leases.rejoin(60)
    store.create_request("down", {}, log_path="/l", request_id="r1", server_owner=str(draining))
    store.create_request("down", {}, log_path="/l", request_id="r2", server_owner=str(sibling))
    leases.leave()  # its controllers stopped: the row stays, it still answers for r1
    assert str(draining) in live_owners(store)
    assert store.adopt_request(store.get_request("r1"), owner=str(sibling), pid=2) is None
    assert store.release_requests(str(draining)) == ["r1"]
    released = store.get_request("r1")
    assert (released.server_owner, released.server_pid) == (None, None)
    leases.leave()
    assert str(draining) not in live_owners(store)
    assert store.adopt_request(released, owner=str(sibling), pid=2).server_owner == str(sibling)


def test_a_taken_request_id_is_refused(store):
    from skyhop.state.errors import RequestExistsError

    store.create_request("down", {"cluster": "a"}, log_path="/l", request_id="k" * 32)
    with pytest.raises(RequestExistsError):
        store.create_request("down", {"cluster": "b"}, log_path="/l", request_id="k" * 32)
    assert store.get_request("k" * 32).body == {"cluster": "a"}
