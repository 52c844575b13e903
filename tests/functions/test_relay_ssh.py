"""Functions sessions on SSH namespace hosts: a two-node pool cluster, the relay on its head reaching rank 1
over the head's own ssh, chaos, and nothing left on the hosts after `down`.

The hosts' python (/usr/bin/python3) has no cloudpickle, as a bare machine would not: the workers use the one
the session's opening shipped to the head with the agent, which the relay hands on to rank 1.
"""

from __future__ import annotations

import queue
from pathlib import Path
from typing import Iterator

import pytest
from e2e_support import Sky, wait_for
from netns_hosts import node_pool_config
from relay_support import remote_call
from ssh.conftest import namespace_hosts
from ssh.test_ssh_pools import assert_clean, processes

from skyhop.functions.errors import NodeLost
from skyhop.functions.session import open_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fn_hosts(tmp_path_factory):
    yield from namespace_hosts(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def pool_sky(fn_hosts, tmp_path_factory, migrated_state_db) -> Iterator[Sky]:
    home = tmp_path_factory.mktemp("fn-ssh")
    (home / "work").mkdir()
    sky = Sky(home, home / "work")
    sky.seed_state(migrated_state_db)
    (sky.skyhop_home / "config.yaml").write_text(node_pool_config(fn_hosts, "fn"))
    sky("launch", "-y", "-c", "fnssh", "--infra", "ssh/fn", "--num-nodes", "2", "echo up", check=True)
    yield sky
    try:
        sky.teardown()
    finally:
        for host in fn_hosts:
            assert_clean(host)


@pytest.fixture(autouse=True)
def _as_that_user(pool_sky: Sky, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(pool_sky.home))
    monkeypatch.setenv("SKYHOP_HOME", str(pool_sky.skyhop_home))


def _workers_on(host) -> bool:
    return "fnworker" in processes(host)


def test_a_pool_session_reaches_both_hosts_with_their_ranks(pool_sky: Sky, fn_hosts) -> None:
    import os

    with open_session("fnssh") as session:
        assert [w.rank for w in session.workers] == [0, 1]
        for rank, host in enumerate(fn_hosts):
            facts = remote_call(session, rank, lambda: (os.environ["SKYPILOT_NODE_RANK"], os.environ["SKYPILOT_NODE_IPS"].split()))
            assert facts == (str(rank), [h.ip for h in fn_hosts])
            assert session.ping(rank) > 0
            assert _workers_on(host)
            assert (Path(host.base_dir) / "fnssh").is_dir()
    for host in fn_hosts:
        wait_for(lambda host=host: not _workers_on(host), 30, f"the worker on {host.ip} to end")


def test_preempting_rank_1_loses_it_and_down_leaves_nothing(pool_sky: Sky, fn_hosts) -> None:
    lost: queue.Queue[tuple[int, str]] = queue.Queue()
    session = open_session("fnssh")
    session.on_lost = lambda rank, reason: lost.put((rank, reason))
    try:
        pool_sky("chaos", "preempt", "fnssh", "--node", "1", check=True)
        rank, reason = lost.get(timeout=60)
        assert rank == 1 and "signal 15" in reason, reason
        with pytest.raises(NodeLost):
            remote_call(session, 1, lambda: 1)
        assert remote_call(session, 0, lambda: "head still here") == "head still here"
        pool_sky("down", "-y", "fnssh", check=True)
        assert lost.get(timeout=60)[0] == 0  # the head went with the cluster
    finally:
        session.close()
    for host in fn_hosts:
        assert_clean(host)
        assert not (Path(host.base_dir) / "fnssh").exists(), "the cluster's files are gone"
