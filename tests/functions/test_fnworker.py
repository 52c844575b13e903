"""The functions worker as a real process on pipes, spoken to in frames as the relay does.

The functions here are pickled by value (this module is registered with
cloudpickle), so the worker runs them without being able to import this file,
as it would on a node.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import queue
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator, Iterator

import cloudpickle
import pytest
from fnworker_harness import WAIT_S, WorkerProcess

from skyhop_agent import fnwire, proctree
from skyhop_agent.fnworker import ObjectCache

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerProcess]:
    process = WorkerProcess(slots=2)
    try:
        yield process
        assert not process.foreign_ranks, "every frame carries the worker's --rank"
    finally:
        process.kill()


# -- functions the worker runs -------------------------------------------------------------


def add(a: int, b: int, *, c: int = 0) -> int:
    return a + b + c


def count_to(n: int) -> Iterator[int]:
    yield from range(n)


def forever() -> Iterator[int]:
    i = 0
    try:
        while True:
            yield i
            i += 1
    finally:
        print(f"finally ran after {i}")


def raise_value_error(x: int) -> None:
    if x > 0:
        raise ValueError(f"bad x: {x}")  # the raise


class BadInit(Exception):
    """An exception whose pickle cannot be loaded: its __init__ takes two arguments, its args hold one."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


class Custom(Exception):
    """Defined in the caller (pickled by value): it comes back as this very class."""


def raise_custom() -> None:
    raise Custom("mine")


def raise_bad_init() -> None:
    raise BadInit("left", "right")


def make_conn() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


def talk() -> str:
    print("hello from print")
    print("to stderr", file=sys.stderr)
    os.system("echo hi from a subprocess")
    return "done"


def inverse(x: int) -> float:
    return 1 / x


def meet(mine: str, theirs: str) -> bool:
    """Mark this call as started and wait for the other one: both return True only if they run at once."""
    Path(mine).touch()
    deadline = time.monotonic() + WAIT_S
    while not Path(theirs).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def node_facts() -> tuple[str, str | None]:
    return socket.gethostname(), os.environ.get("SKYHOP_TEST_MARK")


async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def async_count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def sleeper() -> None:
    time.sleep(60)


def start_sleep() -> int:
    return subprocess.Popen(["sleep", "60"]).pid


class _Unloadable:
    """Pickles as a reference to a module no node has (an installed package the node lacks)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (__import__, ("not_installed_anywhere",))


# -- tests ---------------------------------------------------------------------------------


def test_hello_describes_the_worker(worker: WorkerProcess) -> None:
    assert worker.hello == {
        "python": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "cloudpickle": cloudpickle.__version__,
        "pid": worker.proc.pid,
        "cpus": len(os.sched_getaffinity(0)),
        "slots": 2,
        "host": socket.gethostname(),
    }


def test_calls_get_their_values(worker: WorkerProcess) -> None:
    assert worker.run(lambda: None) is None
    assert worker.run(add, 1, 2, c=3) == 6
    assert worker.run(lambda xs: sorted(xs), [3, 1, 2]) == [1, 2, 3]
    assert worker.run(async_double, 21) == 42


def test_ping_is_answered_with_the_same_call_id(worker: WorkerProcess) -> None:
    worker.send(fnwire.PING, 77777)
    assert worker.next_frame(77777).kind == fnwire.PONG


def test_cached_arguments_are_the_put_objects(worker: WorkerProcess) -> None:
    big = list(range(10_000))
    digest = worker.put(big)
    assert worker.run(lambda xs, *, ys: (len(xs), sum(ys)), fnwire.Cached(digest), ys=fnwire.Cached(digest)) == (10_000, sum(big))
    record = worker.error(worker.call(len, fnwire.Cached("00" * fnwire.DIGEST_SIZE)))
    assert record["type"] == "LookupError" and "never PUT" in record["message"]


def test_a_function_that_will_not_unpickle_fails_each_call_that_uses_it(worker: WorkerProcess) -> None:
    digest = worker.put(_Unloadable())
    opts = {"name": "ghost", "timeout": None}
    for call_id in (880001, 880002):
        worker.send(fnwire.CALL, call_id, cloudpickle.dumps((digest, fnwire.MODE_CALL, (), {}, opts)))
        record = worker.error(call_id)
        assert (record["type"], record["function"], type(pickle.loads(record["exception"]))) == ("ModuleNotFoundError", "ghost", ModuleNotFoundError)
        assert "No module named 'not_installed_anywhere'" in record["message"]
        assert record["traceback"].startswith("ModuleNotFoundError: ")  # no frame of the user's ran; none of the worker's is shown
        if sys.version_info >= (3, 11):
            assert record["traceback"].count("must be installed on the node too") == 1


def test_a_generator_streams_in_order_within_its_credit(worker: WorkerProcess) -> None:
    call_id = worker.call(count_to, 100)
    got = [cloudpickle.loads(worker.next_frame(call_id).payload) for _ in range(fnwire.INITIAL_CREDIT)]
    assert got == list(range(fnwire.INITIAL_CREDIT))
    with pytest.raises(queue.Empty):  # no 65th value without more credit
        worker.next_frame(call_id, timeout=0.3)
    worker.send(fnwire.CREDIT, call_id, fnwire.CREDIT_COUNT.pack(100))
    frames = [worker.next_frame(call_id) for _ in range(100 - fnwire.INITIAL_CREDIT + 1)]
    assert [f.kind for f in frames] == [fnwire.YIELD] * (100 - fnwire.INITIAL_CREDIT) + [fnwire.RESULT]
    assert [cloudpickle.loads(f.payload) for f in frames[:-1]] == list(range(fnwire.INITIAL_CREDIT, 100))
    assert cloudpickle.loads(frames[-1].payload) is None


def test_an_async_generator_streams_too(worker: WorkerProcess) -> None:
    call_id = worker.call(async_count, 3)
    frames = [worker.next_frame(call_id) for _ in range(4)]
    assert [f.kind for f in frames] == [fnwire.YIELD] * 3 + [fnwire.RESULT]
    assert [cloudpickle.loads(f.payload) for f in frames] == [0, 1, 2, None]


def test_a_yielded_value_that_will_not_pickle_ends_the_stream_with_an_error(worker: WorkerProcess) -> None:
    call_id = worker.call(lambda: (yield from (1, sqlite3.connect(":memory:"), 3)))
    assert cloudpickle.loads(worker.next_frame(call_id).payload) == 1
    record = worker.error(call_id)
    assert "a value yielded by" in record["message"] and "(a sqlite3.Connection) cannot be pickled" in record["message"]


def test_cancel_closes_a_generator_so_its_finally_runs_remotely(worker: WorkerProcess) -> None:
    call_id = worker.call(forever)
    for _ in range(fnwire.INITIAL_CREDIT):
        assert worker.next_frame(call_id).kind == fnwire.YIELD
    worker.send(fnwire.CANCEL, call_id)
    worker.wait_output(b"finally ran after 63\n")
    worker.send(fnwire.PING, call_id)  # the worker's answers are in order: nothing of the call came before it
    assert worker.next_frame(call_id).kind == fnwire.PONG


def test_a_value_error_arrives_with_its_type_and_the_users_frames(worker: WorkerProcess) -> None:
    record = worker.error(worker.call(raise_value_error, 5))
    exc = pickle.loads(record["exception"])
    assert type(exc) is ValueError and str(exc) == "bad x: 5"
    assert (record["type"], record["module"], record["message"], record["function"], record["host"]) == ("ValueError", "builtins", "bad x: 5", "raise_value_error", socket.gethostname())
    lines, first = inspect.getsourcelines(raise_value_error)
    raise_line = first + next(i for i, line in enumerate(lines) if "# the raise" in line)
    text = record["traceback"]
    assert text.startswith("Traceback (most recent call last):\n")
    frames = [line for line in text.splitlines() if line.startswith('  File "')]
    assert frames == [f'  File "{__file__}", line {raise_line}, in raise_value_error'], text  # the worker's own frames are cut
    assert text.endswith("ValueError: bad x: 5\n")


def test_an_exception_class_of_the_callers_own_comes_back_as_itself(worker: WorkerProcess) -> None:
    record = worker.error(worker.call(raise_custom))
    exc = pickle.loads(record["exception"])
    assert type(exc) is Custom and exc.args == ("mine",)
    assert (record["type"], record["module"]) == ("Custom", __name__)


def test_an_exception_that_will_not_unpickle_is_sent_as_text(worker: WorkerProcess) -> None:
    record = worker.error(worker.call(raise_bad_init))
    assert record["exception"] is None
    assert (record["type"], record["module"], record["message"]) == ("BadInit", __name__, "left/right")
    assert "in raise_bad_init" in record["traceback"] and "BadInit: left/right" in record["traceback"]


def test_an_unpicklable_return_value_names_the_function_and_the_type(worker: WorkerProcess) -> None:
    record = worker.error(worker.call(make_conn))
    exc = pickle.loads(record["exception"])
    assert isinstance(exc, pickle.PicklingError)
    assert str(exc).startswith("the return value of make_conn (a sqlite3.Connection) cannot be pickled: ")
    assert record["function"] == "make_conn" and record["type"] == "PicklingError"


def test_print_stderr_and_subprocess_output_arrive_as_out_frames(worker: WorkerProcess) -> None:
    assert worker.run(talk) == "done"
    worker.wait_output(b"hello from print\n")
    worker.wait_output(b"hi from a subprocess\n")
    worker.wait_output(b"to stderr\n", fnwire.STDERR)


def test_a_batch_answers_each_item(worker: WorkerProcess) -> None:
    results = worker.run(inverse, [1, 0, 4], mode=fnwire.MODE_BATCH)
    assert [ok for ok, _ in results] == [True, False, True]
    assert (results[0][1], results[2][1]) == (1.0, 0.25)
    error = results[1][1]
    assert error["type"] == "ZeroDivisionError" and type(pickle.loads(error["exception"])) is ZeroDivisionError
    assert "in inverse" in error["traceback"] and "skyhop_agent" not in error["traceback"]


def test_a_batch_item_that_will_not_pickle_is_that_items_error(worker: WorkerProcess) -> None:
    results = worker.run(lambda x: sqlite3.connect(":memory:") if x else x, [0, 1], mode=fnwire.MODE_BATCH)
    assert results[0] == (True, 0)
    assert results[1][0] is False
    assert results[1][1]["message"].startswith(f"the return value for item 1 of {test_a_batch_item_that_will_not_pickle_is_that_items_error.__name__}.<locals>.<lambda> (a sqlite3.Connection) cannot be pickled: ")


def test_slots_run_calls_at_once(worker: WorkerProcess, tmp_path: Path) -> None:
    first = worker.call(meet, str(tmp_path / "a"), str(tmp_path / "b"))
    second = worker.call(meet, str(tmp_path / "b"), str(tmp_path / "a"))
    assert (worker.result(first), worker.result(second)) == (True, True)


def test_the_environment_is_the_callers() -> None:
    process = WorkerProcess(rank=0, slots=1, env={"SKYHOP_TEST_MARK": "from-the-relay"})
    try:
        assert process.run(node_facts) == (socket.gethostname(), "from-the-relay")
        assert process.hello["slots"] == 1
    finally:
        process.kill()


def test_eof_closes_generators_and_exits_zero_past_running_calls_and_their_processes() -> None:
    process = WorkerProcess("--grace", "0.5", slots=3)
    try:
        child = process.run(start_sleep)
        generator = process.call(forever)
        for _ in range(fnwire.INITIAL_CREDIT):
            assert process.next_frame(generator).kind == fnwire.YIELD
        process.call(sleeper)  # runs for a minute: the grace period ends it
        assert process.close() == 0
        process.wait_output(b"finally ran after 63\n")
        deadline = time.monotonic() + WAIT_S
        while proctree.pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not proctree.pid_alive(child), "the worker ends the processes its calls started"
    finally:
        process.kill()


def test_a_malformed_frame_is_reported_and_ends_the_worker_with_2() -> None:
    process = WorkerProcess()
    try:
        process.send_bytes(b"\xff" * fnwire.HEADER.size)
        assert process.proc.wait(WAIT_S) == 2
        assert b"malformed frame" in process.wait_output(b"malformed", fnwire.STDERR)
    finally:
        process.kill()


def test_without_cloudpickle_hello_says_so_and_calls_say_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "cloudpickle.py").write_text("raise ImportError('hidden by the test')\n")
    process = WorkerProcess(pythonpath=(tmp_path,))
    try:
        assert process.hello["cloudpickle"] is None
        process.send(fnwire.CALL, 5, b"not even a pickle")
        record = process.error(5)
        assert record["type"] == "ModuleNotFoundError" and "pip install cloudpickle" in record["message"]
        assert isinstance(pickle.loads(record["exception"]), ModuleNotFoundError)
        assert process.close() == 0
    finally:
        process.kill()


def test_the_object_cache_drops_the_least_recently_used_past_its_bytes() -> None:
    cache = ObjectCache(limit=100)
    cache.put("a", "A", 40)
    cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # now b is the oldest
    cache.put("c", "C", 40)
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.put("huge", "H", 500)  # over the limit alone: kept, everything else dropped
    assert len(cache) == 1 and cache.get("huge") == "H"
