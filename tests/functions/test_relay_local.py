"""Functions sessions on a real local cluster of two nodes: the CLI launches it, the API server says where its
agent socket is, the daemon's relay starts the real worker on both nodes.

One cluster serves the module (a launch is seconds); the test of `down` under an open session takes a cluster
of its own down.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
from pathlib import Path
from typing import Iterator

import pytest
from e2e_support import Sky, cluster_processes, wait_for
from relay_support import remote_call, with_this_python, worker_processes

from skyhop.functions.errors import NodeLost
from skyhop.functions.session import open_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fn_sky(tmp_path_factory, migrated_state_db) -> Iterator[Sky]:
    home = tmp_path_factory.mktemp("fn-local")
    (home / "work").mkdir()
    sky = Sky(home, home / "work")
    sky.seed_state(migrated_state_db)
    sky("launch", "-y", "-c", "fn", "--num-nodes", "2", "--cpus", "0.5", "echo up", check=True)
    yield sky
    sky.teardown_leaving_nothing()


@pytest.fixture(autouse=True)
def _as_that_user(fn_sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's SDK calls go to the module's home and API server."""
    monkeypatch.setenv("HOME", str(fn_sky.home))
    monkeypatch.setenv("SKYHOP_HOME", str(fn_sky.skyhop_home))


def _cluster_dir(sky: Sky, name: str) -> str:
    return str(sky.skyhop_home / "clusters" / name)


def test_every_rank_gets_its_worker_with_the_job_variables_and_closing_ends_them(fn_sky: Sky) -> None:
    session = open_session("fn", env=with_this_python({1: {"ONLY_ON_ONE": "yes"}}))
    try:
        assert [w.rank for w in session.workers] == [0, 1]
        assert session.workers[0].pid != session.workers[1].pid
        for rank in (0, 1):
            env = remote_call(session, rank, lambda: {k: os.environ.get(k) for k in ("SKYPILOT_NODE_RANK", "SKYPILOT_NUM_NODES", "ONLY_ON_ONE")})
            assert env == {"SKYPILOT_NODE_RANK": str(rank), "SKYPILOT_NUM_NODES": "2", "ONLY_ON_ONE": "yes" if rank else None}
            assert remote_call(session, rank, lambda n: n * 2, 21) == 42
            assert session.ping(rank) > 0
        assert len(worker_processes(_cluster_dir(fn_sky, "fn"))) >= 2
    finally:
        session.close()
    wait_for(lambda: not worker_processes(_cluster_dir(fn_sky, "fn")), 30, "the workers to end")
    # The cluster is as it was: a job still runs, and a new session starts.
    assert "still up" in fn_sky("exec", "fn", "echo still up", check=True).out
    with open_session("fn", env=with_this_python()) as again:
        assert remote_call(again, 1, lambda: 7) == 7


def test_a_killed_worker_is_lost_and_the_other_rank_goes_on(fn_sky: Sky) -> None:
    lost: queue.Queue[tuple[int, str]] = queue.Queue()
    with open_session("fn", env=with_this_python()) as session:
        session.on_lost = lambda rank, reason: lost.put((rank, reason))
        os.kill(session.workers[1].pid, signal.SIGKILL)
        rank, reason = lost.get(timeout=30)
        assert rank == 1 and "signal 9" in reason
        with pytest.raises(NodeLost) as refused:
            remote_call(session, 1, lambda: 1)
        assert refused.value.rank == 1
        assert remote_call(session, 0, lambda: "alive") == "alive"
    wait_for(lambda: not worker_processes(_cluster_dir(fn_sky, "fn")), 30, "the workers to end")


def test_down_with_an_open_session_leaves_nothing(fn_sky: Sky) -> None:
    fn_sky("launch", "-y", "-c", "fn-down", "--num-nodes", "2", "--cpus", "0.5", "echo up", check=True)
    session = open_session("fn-down", env=with_this_python())
    lost: list[int] = []
    both = threading.Event()
    session.on_lost = lambda rank, reason: (lost.append(rank), len(lost) == 2 and both.set())
    assert remote_call(session, 1, lambda: "up") == "up"
    fn_sky("down", "-y", "fn-down", check=True)
    assert both.wait(30), lost  # the head's daemon is gone: every rank is lost at once
    session.close()
    marker = f"={_cluster_dir(fn_sky, 'fn-down')}".encode()
    assert not [pid for pid in cluster_processes(fn_sky.skyhop_home) if marker in Path(f"/proc/{pid}/environ").read_bytes()]
    assert not worker_processes(_cluster_dir(fn_sky, "fn-down"))
    assert "fn-down" not in fn_sky.clusters()
