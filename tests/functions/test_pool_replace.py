"""A pool with retries replaces a lost node: the map goes on on the survivor at once, a one-node cluster
`NAME-r1` takes the lost node's rank, and the pool's teardown takes every cluster it launched down."""

from __future__ import annotations

import os
import threading
import time
from typing import Iterator

import pytest
from e2e_support import Sky, cluster_processes, wait_for

import skyhop
from skyhop.client import api

pytestmark = pytest.mark.slow


@skyhop.function
def slow_identity(x: int) -> int:
    time.sleep(0.01)
    return x


@skyhop.function
def where() -> tuple[str, str, str]:
    return os.environ["SKYPILOT_NODE_RANK"], os.environ["SKYPILOT_NUM_NODES"], os.environ["SKYHOP_NODE_BASE"]


@pytest.fixture
def home(tmp_path, migrated_state_db, monkeypatch) -> Iterator[Sky]:
    (tmp_path / "work").mkdir()
    sky = Sky(tmp_path, tmp_path / "work")
    sky.seed_state(migrated_state_db)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SKYHOP_HOME", str(sky.skyhop_home))
    yield sky
    sky.teardown()


def test_a_lost_node_is_replaced_under_its_rank_and_the_map_loses_nothing(home: Sky, capfd) -> None:
    results: list[int] = []
    with skyhop.Pool(infra="local", nodes=2, retries=1, name="rp") as pool:
        for value in pool.map(slow_identity, range(200)):
            results.append(value)
            if len(results) == 30:
                threading.Thread(target=api.chaos_preempt, args=("rp",), kwargs={"node": 1}, daemon=True).start()
        assert results == list(range(200)), "every item exactly once, in order"
        wait_for(lambda: pool.nodes == 2 and "rp-r1" in str(pool.run(where, node=1)[2]), timeout=120, what="the replacement node")
        ranks = where() @ pool
        assert [(r[0], r[1]) for r in ranks] == [("0", "2"), ("1", "2")], "the replacement has the lost node's rank and the pool's size"
        assert "/rp/" in ranks[0][2] and "/rp-r1/" in ranks[1][2]
        assert {c["name"] for c in home.json("status")} == {"rp", "rp-r1"}
    err = capfd.readouterr().err
    assert "node 1 of pool rp was lost" in err and "node 1 of pool rp runs on rp-r1 now" in err
    assert home.json("status") == [], "the pool took down its cluster and the replacement"
    assert cluster_processes(home.skyhop_home) == []
