"""The client's session against the real relay on a real Unix socket (a stand-in daemon and worker)."""

from __future__ import annotations

import queue
import threading
from typing import Iterator

import pytest
from relay_support import StandInDaemon, stand_in_env

from skyhop.errors import SkyhopError
from skyhop.functions.errors import NodeLost
from skyhop.functions.session import Session, WorkerInfo, attach
from skyhop_agent import fnwire


@pytest.fixture
def daemon(tmp_path) -> Iterator[StandInDaemon]:
    found = StandInDaemon(tmp_path)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
def session(daemon) -> Iterator[Session]:
    opened = attach("c", daemon.connect(), slots=2, env=stand_in_env())
    try:
        yield opened
    finally:
        opened.close()


def _call(session: Session, rank: int, payload: bytes) -> fnwire.Frame:
    answers: queue.Queue[fnwire.Frame] = queue.Queue()
    call_id = session.next_call_id()
    session.register(call_id, answers.put)
    try:
        session.send(fnwire.CALL, rank, call_id, payload)
        return answers.get(timeout=30)
    finally:
        session.unregister(call_id)


def test_workers_calls_output_and_pings(session: Session) -> None:
    assert [w.rank for w in session.workers] == [0, 1]
    first = session.workers[0]
    assert isinstance(first, WorkerInfo) and first.slots == 2 and first.cloudpickle is None and len(first.python) == 3
    printed: queue.Queue[tuple[int, int, bytes]] = queue.Queue()
    session.on_output = lambda rank, stream, data: printed.put((rank, stream, data))
    for rank in (0, 1):
        answer = _call(session, rank, b"env:SKYPILOT_NODE_RANK")
        assert (answer.kind, answer.rank, answer.payload) == (fnwire.RESULT, rank, str(rank).encode())
        assert _call(session, rank, b"out:hello\n").kind == fnwire.RESULT
        assert printed.get(timeout=10) == (rank, fnwire.STDOUT, b"hello\n")
        assert session.ping(rank) > 0
        assert _call(session, rank, b"y" * 300_000).payload == b"y" * 300_000  # header and payload sent apart
    ids = {session.next_call_id() for _ in range(1000)}
    assert len(ids) == 1000 and 0 not in ids


def test_a_lost_rank_is_reported_once_and_refuses_sends(session: Session) -> None:
    lost: queue.Queue[tuple[int, str]] = queue.Queue()
    session.on_lost = lambda rank, reason: lost.put((rank, reason))
    session.send(fnwire.CALL, 1, session.next_call_id(), b"exit:4")
    rank, reason = lost.get(timeout=30)
    assert rank == 1 and "exited with code 4" in reason
    assert [w.rank for w in session.workers] == [0]
    with pytest.raises(NodeLost) as refused:
        session.send(fnwire.CALL, 1, session.next_call_id(), b"x")
    assert (refused.value.rank, refused.value.reason) == (1, reason) and refused.value.host
    assert "Node 1" in str(refused.value)
    with pytest.raises(NodeLost, match="no node of rank 7"):
        session.send(fnwire.CALL, 7, session.next_call_id())
    assert _call(session, 0, b"on rank 0").payload == b"on rank 0"
    assert lost.empty()


def test_the_end_of_the_connection_loses_every_rank(daemon: StandInDaemon, session: Session) -> None:
    lost: list[int] = []
    everything = threading.Event()
    session.on_lost = lambda rank, reason: (lost.append(rank), len(lost) == 2 and everything.set())
    daemon.drop_connections()
    assert everything.wait(30)
    assert sorted(lost) == [0, 1] and session.workers == ()
    with pytest.raises(NodeLost, match="connection to the head of 'c' ended"):
        session.send(fnwire.PING, 0, 1)


def test_closing_is_quiet_and_idempotent(daemon: StandInDaemon) -> None:
    opened = attach("c", daemon.connect(), env=stand_in_env())
    called = []
    opened.on_lost = lambda rank, reason: called.append(rank)
    opened.close()
    opened.close()
    assert called == [] and opened.workers == ()


def test_an_agent_without_the_verb_says_how_to_update_it(tmp_path) -> None:
    old = StandInDaemon(tmp_path, answer="Unknown verb 'functions' on the agent socket (it answers health, submit).")
    try:
        with pytest.raises(SkyhopError, match="older than this skyhop") as refused:
            attach("c", old.connect())
        assert "skyhop stop c" in str(refused.value) and "\n" not in str(refused.value)
    finally:
        old.close()


def test_a_worker_that_does_not_start_is_one_paragraph(daemon: StandInDaemon) -> None:
    with pytest.raises(SkyhopError, match="Could not start the function workers on 'c': The function worker of rank 0") as refused:
        attach("c", daemon.connect())  # no PYTHONPATH to the stand-in worker
    assert "No module named echo_worker" in str(refused.value)


def test_a_closed_session_gives_back_its_file_descriptor(daemon: StandInDaemon) -> None:
    """The socket's fd is freed only when its `makefile` reader is closed too: a notebook reopening pools must not leak."""
    import os

    def open_sockets() -> set[str]:
        found = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                found.add(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        return found

    sock = daemon.connect()
    ours = f"socket:[{os.fstat(sock.fileno()).st_ino}]"
    session = attach("c", sock, env=stand_in_env())
    session.close()
    assert ours not in open_sockets(), "closed, though the session object is still referenced"
