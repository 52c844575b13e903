"""The relay on its own: real worker processes (a stand-in worker), a socketpair for the caller.

The cluster is relay_support's: rank 0 local, rank 1 behind an exec prefix as a worker node is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from e2e_support import wait_for
from relay_support import STAND_IN, marked, stand_in_env, two_node_cluster

from skyhop_agent import autostop, fnwire
from skyhop_agent.errors import AgentError
from skyhop_agent.fnrelay import Relay, parse_input
from skyhop_agent.paths import Layout


class Caller:
    """The caller's end of a session: frames out, frames in (a reader thread puts them on a list)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frames: list[fnwire.Frame] = []
        self.arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.sock.makefile("rb")
        while (frame := fnwire.read_frame(stream)) is not None:
            with self.arrived:
                self.frames.append(frame)
                self.arrived.notify_all()

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        self.sock.sendall(fnwire.encode(fnwire.Frame(kind, rank, call_id, payload)))

    def wait(self, kind: int, call_id: int, timeout: float = 30) -> fnwire.Frame:
        def found() -> fnwire.Frame | None:
            return next((f for f in self.frames if f.kind == kind and f.call_id == call_id), None)

        with self.arrived:
            assert self.arrived.wait_for(found, timeout), f"no frame of kind {kind} for call {call_id}: {self.frames}"
            frame = found()
            assert frame is not None
            return frame


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Relay, Caller, list[dict]]]:
    env = {rank: {**variables, "MINE": f"mine-{rank}"} for rank, variables in stand_in_env().items()}
    relay = Relay(Layout(str(tmp_path / "head")), two_node_cluster(tmp_path), 3, env, worker_module=STAND_IN)
    workers = relay.start(timeout=60)
    ours, theirs = socket.socketpair()
    serving = threading.Thread(target=relay.serve, args=(theirs,), daemon=True)
    serving.start()
    try:
        yield relay, Caller(ours), workers
    finally:
        ours.shutdown(socket.SHUT_RDWR)  # the reader's file keeps the socket open past a close()
        ours.close()
        serving.join(30)
        assert not serving.is_alive()
        relay.close()
        theirs.close()


def test_workers_start_on_every_node_with_the_job_variables_and_frames_go_both_ways(session, tmp_path) -> None:
    relay, caller, workers = session
    assert [w["rank"] for w in workers] == [0, 1] and all(w["slots"] == 3 for w in workers)
    assert workers[0]["pid"] != workers[1]["pid"]
    for rank in range(2):
        caller.send(fnwire.CALL, rank, 10 + rank, b"env:SKYPILOT_NODE_RANK")
        caller.send(fnwire.CALL, rank, 20 + rank, b"env:MINE")
        caller.send(fnwire.CALL, rank, 30 + rank, b"env:SKYPILOT_NODE_IPS")
        caller.send(fnwire.PING, rank, 40 + rank)
        caller.send(fnwire.CALL, rank, 50 + rank, b"x" * 300_000)
    for rank in range(2):
        assert caller.wait(fnwire.RESULT, 10 + rank).payload == str(rank).encode()
        assert caller.wait(fnwire.RESULT, 20 + rank).payload == f"mine-{rank}".encode()
        assert caller.wait(fnwire.RESULT, 30 + rank).payload == b"10.0.0.1\n10.0.0.2"
        assert caller.wait(fnwire.PONG, 40 + rank).rank == rank
        big = caller.wait(fnwire.RESULT, 50 + rank)
        assert big.rank == rank and big.payload == b"x" * 300_000
    # Rank 1's agent came in its script: unpacked in its node's directory.
    assert list((tmp_path / "node-1" / "agent").glob("fn-*/skyhop_agent/fnwire.py"))
    assert not relay.in_flight.calls  # every call answered: autostop may count idle time again


def test_a_worker_that_dies_is_lost_once_and_later_frames_for_it_are_answered_lost(session) -> None:
    relay, caller, _ = session
    caller.send(fnwire.CALL, 1, 7, b"exit:3")
    lost = caller.wait(fnwire.LOST, 0)
    body = json.loads(lost.payload)
    assert lost.rank == 1 and body["rank"] == 1 and body["host"]
    assert "exited with code 3" in body["reason"] and "exiting as asked" in body["reason"]
    caller.send(fnwire.CALL, 1, 8, b"again")
    assert json.loads(caller.wait(fnwire.LOST, 8).payload)["reason"] == body["reason"]
    caller.send(fnwire.CALL, 5, 9, b"nobody")
    assert "no rank 5" in json.loads(caller.wait(fnwire.LOST, 9).payload)["reason"]
    caller.send(fnwire.CALL, 0, 11, b"still here")  # the other rank goes on
    assert caller.wait(fnwire.RESULT, 11).payload == b"still here"
    assert not relay.in_flight.calls


def test_autostop_waits_while_a_call_runs_and_counts_idle_time_from_its_end(session) -> None:
    relay, caller, workers = session
    assert not autostop.followed(relay.layout)
    started = time.time()
    caller.send(fnwire.CALL, 0, 5, b"sleep:600")
    wait_for(lambda: autostop.followed(relay.layout), 10, "the autostop hold")
    caller.send(fnwire.CALL, 1, 6, b"quick")
    caller.wait(fnwire.RESULT, 6)
    assert autostop.followed(relay.layout)  # rank 0's call still runs
    # A cancelled call is over for autostop (the worker sends nothing more of it), even while it still runs.
    caller.send(fnwire.CANCEL, 0, 5)
    wait_for(lambda: not autostop.followed(relay.layout), 10, "the hold to go at the CANCEL")
    assert os.stat(relay.layout.functions_activity).st_mtime >= started - 1
    os.kill(workers[0]["pid"], signal.SIGKILL)  # the stand-in does not stop a running call
    caller.wait(fnwire.LOST, 0)


def test_a_worker_lost_before_the_caller_came_is_reported_when_it_does(tmp_path) -> None:
    relay = Relay(Layout(str(tmp_path / "head")), two_node_cluster(tmp_path), None, stand_in_env(), worker_module=STAND_IN)
    workers = relay.start(timeout=60)
    os.kill(workers[1]["pid"], signal.SIGKILL)
    wait_for(lambda: relay.workers[1].ended, 30, "rank 1 to end")
    ours, theirs = socket.socketpair()
    serving = threading.Thread(target=relay.serve, args=(theirs,), daemon=True)
    serving.start()
    try:
        caller = Caller(ours)
        assert "signal 9" in json.loads(caller.wait(fnwire.LOST, 0).payload)["reason"]
        assert [f.kind for f in caller.frames] == [fnwire.LOST]
    finally:
        ours.shutdown(socket.SHUT_RDWR)
        ours.close()
        serving.join(30)
        relay.close()


def test_closing_the_session_leaves_no_process_and_no_file(tmp_path) -> None:
    relay = Relay(Layout(str(tmp_path / "head")), two_node_cluster(tmp_path), None, stand_in_env(), worker_module=STAND_IN)
    relay.start(timeout=60)
    assert len(marked(tmp_path)) >= 2
    ours, theirs = socket.socketpair()
    ours.close()
    relay.serve(theirs)  # the caller hung up at once
    relay.close()
    assert marked(tmp_path) == []
    assert os.listdir(tmp_path / "head" / "functions") == []


def test_a_worker_that_cannot_start_names_its_rank_host_and_stderr(tmp_path) -> None:
    relay = Relay(Layout(str(tmp_path / "head")), two_node_cluster(tmp_path), None, stand_in_env(range(1)), worker_module=STAND_IN)
    with pytest.raises(AgentError) as failed:
        relay.start(timeout=60)  # rank 1 has no PYTHONPATH to the stand-in worker
    message = str(failed.value)
    assert "rank 1 (10.0.0.2) did not start" in message and "No module named echo_worker" in message
    assert "\n" not in message
    assert marked(tmp_path) == []


@pytest.mark.parametrize("text, problem", [
    ("[1]", "must be an object"),
    ('{"slots": 0}', '"slots" must be'),
    ('{"slots": true}', '"slots" must be'),
    ('{"env": {"x": {}}}', "maps ranks"),
    ('{"env": {"0": {"A=B": "1"}}}', 'no "=" in a name'),
    ('{"env": {"0": {"A": 1}}}', 'NAME: "VALUE"'),
])
def test_bad_input_is_refused(text: str, problem: str) -> None:
    with pytest.raises(AgentError, match=problem):
        parse_input(text)


def test_env_for_a_rank_the_cluster_lacks_is_refused(tmp_path) -> None:
    with pytest.raises(AgentError, match="names rank 2, but the cluster has ranks 0..1"):
        Relay(Layout(str(tmp_path)), two_node_cluster(tmp_path), None, {2: {}})
    assert parse_input(None) == (None, {})
