"""Issue 14's acceptance on SSH namespace hosts: a user's plain script runs `>>`, `@`, `map` over 1,000 items,
a streaming generator and remote exceptions on a 2-node pool, and the pool leaves nothing on the hosts;
`skyhop chaos preempt` of a node during `map` on a pool with retries still gives every item exactly once, and a
third host takes the lost node's place.

The hosts' own python has no cloudpickle (as a bare machine would not): the broker ships the caller's to the
head with the agent, and the relay hands it to the other node, so nothing here installs anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from e2e_support import Sky, wait_for
from netns_hosts import node_pool_config
from ssh.conftest import namespace_hosts
from ssh.test_ssh_pools import assert_clean, on_host

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("pool_script.py")


@pytest.fixture(scope="module")
def fn_hosts(tmp_path_factory):
    # Three hosts for two-node pools: the third takes a preempted node's place.
    yield from namespace_hosts(tmp_path_factory, 3)


@pytest.fixture(scope="module")
def lab(fn_hosts, tmp_path_factory, migrated_state_db) -> Iterator[Sky]:
    """A home whose config has the hosts as the SSH node pool `lab`."""
    home = tmp_path_factory.mktemp("fn-accept")
    (home / "work").mkdir()
    sky = Sky(home, home / "work")
    sky.seed_state(migrated_state_db)
    (sky.skyhop_home / "config.yaml").write_text(node_pool_config(fn_hosts, "lab"))
    yield sky
    sky.teardown()


def _nothing_left(sky: Sky, hosts) -> None:
    assert sky.json("status") == []
    for host in hosts:
        assert_clean(host)
        left = on_host(host, f"ls -A {host.base_dir}").stdout.strip()
        assert left == "", f"left in {host.base_dir} on {host.ip}: {left}"


def test_a_plain_script_runs_every_kind_of_call_on_two_hosts_and_leaves_nothing(lab: Sky, fn_hosts) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "ssh/lab", "2"], capture_output=True, text=True, env=lab.env, cwd=lab.cwd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["double"] in (["0", 42], ["1", 42])
    assert seen["ranks"] == [[0, 2], [1, 2]], "broadcast: every node, in rank order, with the job variables"
    assert "(node-0) hello from rank 0" in done.stdout and "(node-1) hello from rank 1" in done.stdout, "prints come back, prefixed"
    assert seen["map"] is True
    assert seen["ticks_in_order"] and seen["first_before_last_made"], "the generator's values arrive in order as they are made"
    value = seen["value"]
    assert value["type"] == "builtins.ValueError" and value["message"] == "bad value 42"
    assert 'pool_script.py", line' in value["cause"] and 'raise ValueError("bad value 42")' in value["cause"], "the remote traceback, with source"
    assert any(note.startswith("raised on rank") and note.endswith("in fail") for note in value["notes"]), value["notes"]
    assert seen["mine"]["type"] == "__main__.Mine", "an exception class of the script's own comes back as itself"
    assert "connection" in seen["unpicklable"] and "sqlite3.Connection" in seen["unpicklable"], "the unpicklable result names the function"
    _nothing_left(lab, fn_hosts)


def test_a_node_preempted_during_map_loses_no_item_and_repeats_none(lab: Sky, fn_hosts, monkeypatch) -> None:
    import skyhop
    from skyhop.client import api

    monkeypatch.setenv("HOME", str(lab.home))
    monkeypatch.setenv("SKYHOP_HOME", str(lab.skyhop_home))

    @skyhop.function
    def where():
        import os

        return os.environ["SKYPILOT_NODE_RANK"], os.environ["SKYHOP_NODE_BASE"]

    @skyhop.function
    def slow_identity(x):
        time.sleep(0.02)
        return x

    results: list[int] = []
    preempted = threading.Event()
    with skyhop.Pool(infra="ssh/lab", nodes=2, retries=3, quiet=True) as pool:
        assert pool.nodes == 2

        def preempt() -> None:
            api.chaos_preempt(pool.name, node=1)
            preempted.set()

        for value in pool.map(slow_identity, range(400)):
            results.append(value)
            if len(results) == 40:
                threading.Thread(target=preempt, daemon=True).start()
        assert preempted.wait(60), "the preemption was made during the map"
        assert results == list(range(400)), "every item exactly once, in order"
        # The third host replaces the lost one, under its rank.
        wait_for(lambda: pool.nodes == 2, timeout=120, what="the replacement node")
        assert [rank for rank, _ in where() @ pool] == ["0", "1"]
        assert sorted(c["name"] for c in lab.json("status")) == [pool.name, f"{pool.name}-r1"]
    _nothing_left(lab, fn_hosts)


NOTEBOOK = [
    "import json, os, time\nimport skyhop",
    "class Mine(Exception):\n    pass\n\n"
    "@skyhop.function\ndef rank():\n    print('hello from rank', os.environ['SKYPILOT_NODE_RANK'])\n    return int(os.environ['SKYPILOT_NODE_RANK'])\n\n"
    "@skyhop.function\ndef double(x):\n    return x * 2\n\n"
    "@skyhop.function\ndef ticks(n):\n    for i in range(n):\n        yield i\n\n"
    "@skyhop.function\ndef fail():\n    raise Mine('from a cell')",
    "pool = skyhop.Pool(infra='ssh/lab', nodes=2).open()",
    "print(json.dumps({'double': double(21) >> pool}))",
    "print(json.dumps({'ranks': rank() @ pool}))",
    "print(json.dumps({'map': list(pool.map(double, range(1000))) == [2 * x for x in range(1000)]}))",
    "print(json.dumps({'ticks': list(ticks(100) >> pool) == list(range(100))}))",
    "try:\n    fail() >> pool\nexcept Mine as error:\n    print(json.dumps({'mine': type(error).__module__ + '.' + type(error).__name__, 'cause': str(error.__cause__)}))",
    "pool.close()",
]


def test_a_jupyter_kernel_drives_the_same_pool(lab: Sky, fn_hosts, monkeypatch) -> None:
    """Functions and an exception class defined in cells (the kernel's `__main__`) cross to the nodes and back;
    the nodes' prints land in the cell that made the call."""
    nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the test extra")
    monkeypatch.setenv("HOME", str(lab.home))
    monkeypatch.setenv("SKYHOP_HOME", str(lab.skyhop_home))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=240, resources={"metadata": {"path": str(lab.cwd)}}).execute()

    def printed(index: int) -> str:
        return "".join(o.get("text", "") for o in notebook.cells[index].outputs if o.get("output_type") == "stream")

    seen: dict = {}
    for index in range(3, 9):
        for line in printed(index).splitlines():
            if line.startswith("{"):
                seen.update(json.loads(line))
    assert seen["double"] == 42 and seen["ranks"] == [0, 1] and seen["map"] is True and seen["ticks"] is True
    assert seen["mine"] == "__main__.Mine" and "raise Mine('from a cell')" in seen["cause"]
    assert "(node-1) hello from rank 1" in printed(4), "a node's print shows in the calling cell"
    _nothing_left(lab, fn_hosts)
