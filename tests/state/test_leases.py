"""Host leases and API-managed pools in the state store (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from test_processes import go, spawn, wait_ready

from skyhop.state.leases import HostLeases
from skyhop.state.pools import HostPools


@pytest.fixture
def leases(store) -> HostLeases:
    return HostLeases(store)


def test_acquire_takes_free_hosts_and_release_gives_them_back(leases):
    assert leases.acquire("a", ["h1", "h2", "h3"], 2) == ["h1", "h2"]
    assert leases.acquire("b", ["h1", "h2", "h3"], 2) is None, "only one host is free"
    assert leases.acquire("b", ["h1", "h2", "h3"], 1) == ["h3"]
    assert leases.holders(["h1", "h2", "h3", "h4"]) == {"h1": "a", "h2": "a", "h3": "b"}
    assert sorted(leases.held_by("a")) == ["h1", "h2"]
    assert leases.acquire("a", ["h1", "h2", "h3"], 2) == ["h1", "h2"], "a cluster's own hosts count as its own"
    leases.release("a")
    assert leases.holders(["h1", "h2", "h3"]) == {"h3": "b"}
    assert leases.acquire("c", ["h1", "h2"], 1, prefer=["h2"]) == ["h2"]


def test_preempted_hosts_and_holder_data_go_with_the_release(leases):
    leases.acquire("a", ["h1"], 1)
    leases.update_holder_data("a", {"key": "k1"})
    leases.update_holder_data("a", {"head": {"base": "/b"}})
    assert leases.holder_data("a") == {"key": "k1", "head": {"base": "/b"}}
    assert not leases.is_preempted("h1")
    leases.mark_preempted("a", "h1")
    assert leases.is_preempted("h1")
    leases.release("a")
    assert not leases.is_preempted("h1") and leases.holder_data("a") is None and leases.holders(["h1"]) == {}


def test_pools_edit_is_read_modify_write(store):
    pools = HostPools(store)
    assert pools.specs("ssh") == {}
    pools.edit("ssh", "lab", lambda spec: {"hosts": ["10.0.0.1"]})
    pools.edit("ssh", "lab", lambda spec: {**spec, "hosts": spec["hosts"] + ["10.0.0.2"]})
    assert pools.specs("ssh") == {"lab": {"hosts": ["10.0.0.1", "10.0.0.2"]}}
    assert pools.specs("other") == {}

    def refuse(spec):
        raise ValueError("no")

    with pytest.raises(ValueError):
        pools.edit("ssh", "lab", refuse)
    assert pools.specs("ssh")["lab"]["hosts"] == ["10.0.0.1", "10.0.0.2"]
    pools.edit("ssh", "lab", lambda spec: None)
    assert pools.specs("ssh") == {}


def test_two_processes_racing_for_the_last_host_never_both_get_it(db_url, isolated_home):
    rounds = 40
    children = [spawn(isolated_home, db_url, "race", tag, rounds) for tag in ("a", "b")]
    for child in children:
        wait_ready(child)
    go(*children)
    won: dict[str, list[bool]] = {}
    for tag, child in zip("ab", children):
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        won[tag] = [line.split()[1] == "True" for line in out.splitlines()]
    assert [a + b for a, b in zip(won["a"], won["b"])] == [1] * rounds, "each host went to exactly one cluster"
