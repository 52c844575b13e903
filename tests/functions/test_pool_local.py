"""`skyhop.Pool` end to end on the local provider: a real 2-node cluster, its daemon's relay, real workers.

One pool serves the module (a launch takes seconds); its teardown is checked
when the module ends: the cluster is gone and no process of it is left.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Sky, cluster_processes
from helpers import reachable_for_others

import skyhop
from skyhop.functions.errors import RemoteTraceback

pytestmark = pytest.mark.slow

NAME = "fnpool"


class Theirs(Exception):
    """Defined in the caller's module: comes back as this class."""


@skyhop.function
def whoami() -> tuple[int, int]:
    return int(os.environ["SKYPILOT_NODE_RANK"]), int(os.environ["SKYPILOT_NUM_NODES"])


@skyhop.function
def node_base() -> str:
    return os.environ["SKYHOP_NODE_BASE"]


@skyhop.function
def inc(x: int) -> int:
    return x + 1


@skyhop.function
def ticks(n: int) -> Iterator[tuple[int, float]]:
    for i in range(n):
        yield i, time.time()
        time.sleep(0.005)


@skyhop.function
def fails(kind: str) -> None:
    if kind == "theirs":
        raise Theirs("raised on the node")
    raise ValueError("bad value on the node")


@skyhop.function
def unpicklable() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, migrated_state_db) -> Iterator[skyhop.Pool]:
    home = tmp_path_factory.mktemp("fn-pool")
    (home / "work").mkdir()
    sky = Sky(home, home / "work")
    sky.seed_state(migrated_state_db)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", str(home))
            patch.setenv("SKYHOP_HOME", str(sky.skyhop_home))
            with skyhop.Pool(name=NAME, nodes=2, cpus=0.5, quiet=True, by_value=[__name__]) as pool:
                yield pool
            assert NAME not in sky.clusters()
            assert cluster_processes(sky.skyhop_home) == []
    finally:
        sky.teardown_leaving_nothing()


def test_shift_and_matmul(pool: skyhop.Pool) -> None:
    assert (inc(41) >> pool) == 42
    assert whoami() @ pool == [(0, 2), (1, 2)]
    assert pool.run(whoami, node=1) == (1, 2)


def test_map_of_a_thousand_ints(pool: skyhop.Pool) -> None:
    run = pool.map_run(inc, range(1000))
    assert list(run) == list(range(1, 1001))


def test_a_generator_of_a_hundred_values_streams(pool: skyhop.Pool) -> None:
    arrived = [(i, produced, time.time()) for i, produced in pool.run(ticks, 100, node=1)]
    assert [i for i, _, _ in arrived] == list(range(100))
    assert arrived[0][2] < arrived[-1][1]  # the first was here before the last was produced


def test_a_value_error_with_the_remote_traceback_and_node(pool: skyhop.Pool) -> None:
    with pytest.raises(ValueError, match="bad value on the node") as caught:
        pool.run(fails, "value", node=1)
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback) and cause.rank == 1
    assert 'raise ValueError("bad value on the node")' in str(cause)
    assert f"raised on rank 1 ({cause.node}) in fails" in caught.value.__notes__


def test_an_exception_class_of_the_test_module_round_trips(pool: skyhop.Pool) -> None:
    with pytest.raises(Theirs, match="raised on the node"):
        pool.run(fails, "theirs")


def test_an_unpicklable_return_value_names_the_function(pool: skyhop.Pool) -> None:
    import pickle

    with pytest.raises(pickle.PicklingError, match="unpicklable"):
        pool.run(unpicklable)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser") or not os.access("/usr/bin/python3", os.X_OK),
                    reason="needs root (to act as user nobody), runuser and the system python3")
def test_another_unix_user_reaches_neither_the_socket_nor_the_shipped_files(pool: skyhop.Pool) -> None:
    """What a session uses on the head (the agent socket, the agent and the cloudpickle shipped beside it) is the
    owner's alone: with every directory above the head's base opened to others, the base's own mode still stops them."""
    base = pool.run(node_base, node=0)
    socket_path = os.path.join(base, "agent.sock")
    shipped = os.path.join(base, "agent", "cloudpickle", "__init__.py")
    assert os.path.isfile(shipped), "the session's open shipped cloudpickle next to the agent"
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n    s.connect(sys.argv[1]); print('connected')\n"
        "except OSError as e:\n    print('refused', e.errno)\n"
        "for path in sys.argv[2:]:\n"
        "    try:\n        open(path).read(1); print('read', path)\n"
        "    except OSError as e:\n        print('denied', e.errno)\n"
    )
    with reachable_for_others(Path(base)):
        done = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-S", "-c", probe, socket_path, shipped,
                               os.path.join(base, "agent", "skyhop_agent", "fnworker.py")], capture_output=True, text=True, timeout=60)
    lines = done.stdout.split("\n")
    assert lines[0].startswith("refused") and all(line.startswith("denied") for line in lines[1:3]), done.stdout + done.stderr
    assert os.stat(base).st_mode & 0o077 == 0 and os.stat(socket_path).st_mode & 0o077 == 0
