"""What a review of the functions feature found, each now a test of what a user should get.

A pool whose setup failed, a name already taken, a typo in slots or the name, a variable that would
change a node's rank, large keyword arguments, an argument over a frame's limit, a send cut by Ctrl-C.
"""

from __future__ import annotations

import pytest
from fn_session_fake import FakeSession

import skyhop
from skyhop.functions import pool as pool_module
from skyhop.functions.pool import Pool
from skyhop_agent import fnrelay, fnwire
from skyhop_agent.errors import AgentError


class Launches:
    """The API client's launch/down recorded; launch answers `answer` (what the server's launch request returns)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, session: FakeSession, answer: dict | None = None) -> None:
        from skyhop.client import api

        self.launched: list[str] = []
        self.downed: list[str] = []

        def launch(task, name, **options):
            self.launched.append(name)
            return answer or {"cluster": name, "job_id": 1, "job_status": "SUCCEEDED", "exit_code": 0}

        monkeypatch.setattr(api, "launch", launch)
        monkeypatch.setattr(api, "down", lambda name: self.downed.append(name))
        monkeypatch.setattr(api, "status", lambda names=None, **options: [{"name": n} for n in (names or []) if n in self.existing])
        self.existing: set[str] = set()
        monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: session)


def test_a_pool_whose_setup_failed_does_not_open_and_is_downed(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = {"cluster": "p", "job_id": 1, "job_status": "FAILED_SETUP", "exit_code": 3,
              "failure_reason": "setup failed on node 0 with exit code 3"}
    life = Launches(monkeypatch, FakeSession(), failed)
    with pytest.raises(skyhop.SkyhopError, match="setup"), Pool(name="p", setup="pip install torch"):
        pass
    assert life.downed == ["p"]


def test_slots_out_of_range_is_refused_before_anything_is_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    life = Launches(monkeypatch, FakeSession())
    with pytest.raises((ValueError, skyhop.SkyhopError)):
        Pool(name="p", slots=0).open()
    assert life.launched == []


def test_an_invalid_pool_name_is_one_error_without_a_teardown_message(monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from skyhop.client import api

    monkeypatch.setattr(api, "run", lambda *args, **kwargs: pytest.fail("no request may reach a server"))
    with pytest.raises(skyhop.SkyhopError, match="Invalid cluster name"):
        Pool(name="Bad_Name!").open()
    assert "could not be taken down" not in capsys.readouterr().err


def test_a_rank_that_is_no_decimal_number_is_an_agent_error() -> None:
    with pytest.raises(AgentError):
        fnrelay.parse_input('{"env": {"\u00b2": {"A": "b"}}}')


def test_a_large_keyword_argument_goes_once_per_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSession(ranks=2, slots=2)
    monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: fake)

    def size(data: bytes = b"") -> int:
        return len(data)

    with Pool(cluster="fake") as pool:
        for _ in range(4):
            assert pool.run(size, data=bytes(200_000)) == 200_000
    assert all(len(frame.payload) < 10_000 for frame in fake.calls())


def test_an_argument_over_the_frame_limit_is_a_skyhop_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fnwire, "MAX_PAYLOAD", 100_000)

    class Limited(FakeSession):
        """The fake with the frame limit the real Session.send checks (session.py)."""

        def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
            if len(payload) > fnwire.MAX_PAYLOAD:
                raise fnwire.FrameError(f"a frame payload of {len(payload)} bytes is over the {fnwire.MAX_PAYLOAD}-byte limit")
            super().send(kind, rank, call_id, payload)

    monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: Limited())
    with Pool(cluster="fake") as pool, pytest.raises(skyhop.SkyhopError, match="Argument 0"):
        pool.run(len, bytes(200_000))


def test_a_send_interrupted_mid_frame_ends_the_session() -> None:
    import socket
    import threading

    from skyhop.functions.errors import NodeLost
    from skyhop.functions.session import Session, WorkerInfo

    ours, relay = socket.socketpair()

    def drain() -> None:  # the relay's end reads whatever comes, until the session hangs up
        try:
            while relay.recv(1 << 16):
                pass
        except OSError:
            pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    class Interrupted:
        """The session's socket, whose sendall of a large part stops halfway as Ctrl-C stops it."""

        def sendall(self, data: bytes) -> None:
            if len(data) >= 1 << 16:
                ours.sendall(bytes(data[: len(data) // 2]))
                raise KeyboardInterrupt
            ours.sendall(data)

        def shutdown(self, how: int) -> None:
            ours.shutdown(how)

        def close(self) -> None:
            ours.close()

    worker = WorkerInfo(0, "h", (3, 11, 0), "3.1.3", 1, 1, 1)
    session = Session("c", Interrupted(), ours.makefile("rb"), (worker,))  # type: ignore[arg-type]
    try:
        with pytest.raises(KeyboardInterrupt):
            session.send(fnwire.PUT, 0, 0, bytes(1 << 20))
        with pytest.raises(NodeLost):  # the stream is broken: nothing may follow the half frame
            session.send(fnwire.PING, 0, 7)
    finally:
        session.close()
        reader.join(10)
        relay.close()


def test_a_name_in_use_is_refused_before_anything_is_launched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool downs what it launched: it must never take over (and then down) a cluster that was there."""
    life = Launches(monkeypatch, FakeSession())
    life.existing.add("victim")
    with pytest.raises(skyhop.SkyhopError, match=r"already exists.*Pool\(cluster='victim'\)"), Pool(name="victim"):
        pass
    assert life.launched == [] and life.downed == []
    assert Pool().name != Pool().name and len(Pool().name) == len("pool-") + 8


def test_a_tasks_own_job_variables_do_not_reach_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in jobs, SKYPILOT_* (and the GPU placement) are the job's: a task's own must not make two nodes rank 0."""
    pool = Pool(name="p", nodes=2, envs={"SKYPILOT_NODE_RANK": "0", "CUDA_VISIBLE_DEVICES": "7", "MINE": "1"})
    assert pool._worker_env() == {0: {"MINE": "1"}, 1: {"MINE": "1"}}


def test_only_a_launched_pool_with_retries_replaces_lost_nodes() -> None:
    """Replacement (replace.py) is for pools with retries (spot pools by default); a pool without them goes on
    with the nodes it has left, and an attached cluster is never added to."""
    assert Pool(name="p", nodes=2, retries=1)._replaces()
    assert Pool(name="p", nodes=2, use_spot=True)._replaces(), "spot: 3 retries by default"
    assert not Pool(name="p", nodes=2)._replaces()
    assert not Pool(cluster="theirs", retries=2)._replaces()
