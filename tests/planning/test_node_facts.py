"""Typed node facts: what execution reads is typed, and handles stored by older versions still load."""

from __future__ import annotations

from skyhop.providers.base import ClusterInfo, MeasuredSize, NodeInfo

# A handle as skyhop stored it before the facts were typed (an SSH pool cluster of 2 nodes).
OLD_HANDLE = {
    "provider": "ssh",
    "cluster_name": "old",
    "region": "pool",
    "zone": None,
    "nodes": [
        {"rank": 0, "ip": "10.0.0.2", "base": "/b/old", "workdir": "/b/old/workdir", "ssh": {"host": "10.0.0.2"}, "home": "/root"},
        {"rank": 1, "ip": "10.0.0.3", "base": "/b/old", "workdir": "/b/old/workdir", "ssh": {"host": "10.0.0.3"}, "home": "/root",
         "exec_prefix": ["ssh", "-p", "22", "root@10.0.0.3"]},
    ],
    "data": {
        "python": "python3", "hosts": ["root@10.0.0.2:22", "root@10.0.0.3:22"], "created_at": 1.5,
        "remove_on_down": ["/b/old"], "measured": {"cpus": 2, "memory_gib": 3.5}, "gpu_ids": {"H100": [2, 3]},
        "key_comment": "skyhop-old",
    },
}


def test_an_old_handle_loads_into_typed_facts():
    info = ClusterInfo.from_json(OLD_HANDLE)
    assert info.python == "python3"
    assert info.measured == MeasuredSize(2.0, 3.5)
    assert info.remove_on_down == ("/b/old",)
    assert info.gpu_ids == {"H100": (2, 3)}
    assert info.data == {"hosts": ["root@10.0.0.2:22", "root@10.0.0.3:22"], "created_at": 1.5, "key_comment": "skyhop-old"}
    head, worker = info.nodes
    assert (head.home, head.exec_prefix, dict(head.extra)) == ("/root", None, {"ssh": {"host": "10.0.0.2"}})
    assert worker.exec_prefix == ("ssh", "-p", "22", "root@10.0.0.3")


def test_the_json_form_is_what_older_versions_wrote():
    """Same keys in the same places: a handle written now loads in an older skyhop, and the agent reads the nodes."""
    assert ClusterInfo.from_json(OLD_HANDLE).to_json() == {**OLD_HANDLE, "data": {**OLD_HANDLE["data"], "measured": {"cpus": 2.0, "memory_gib": 3.5}}}


def test_defaults_for_a_handle_without_facts():
    info = ClusterInfo.from_json({"provider": "p", "cluster_name": "c", "region": None, "zone": None, "nodes": [{"rank": 0, "ip": "1.2.3.4", "base": "/b"}]})
    assert (info.python, info.measured, info.remove_on_down, dict(info.gpu_ids)) == ("python3", None, (), {})
    assert info.head == NodeInfo(0, "1.2.3.4", "/b")
    assert ClusterInfo.from_json(info.to_json()) == info
