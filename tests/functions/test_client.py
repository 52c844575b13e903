"""The functions client library (`skyhop.function`, `skyhop.Pool`) against a fake session (tests/fn_session_fake.py).

No cluster, no processes: the fake plays the worker in this process, so these
check the client's own rules: what is sent (PUT once per rank, CALL payloads),
how results, errors, losses, streams and output come back.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import sqlite3
import sys
import threading

import cloudpickle
import pytest
from fn_session_fake import FakeSession, error_record

import skyhop
from skyhop.functions import pool as pool_module
from skyhop.functions.errors import FunctionTimeout, NodeLost, NotPicklable, PickleMismatch, RemoteError, RemoteTraceback
from skyhop.functions.output import Output
from skyhop.functions.pool import Pool, check_workers
from skyhop_agent import fnwire


class Oops(Exception):
    """Defined here: it must come back as itself."""


@skyhop.function
def square(x: int) -> int:
    return x * x


@skyhop.function
def where(tag: str) -> tuple[str, int]:
    return tag, threading.get_ident()


@skyhop.function
def fail(message: str) -> None:
    raise ValueError(message)


@skyhop.function
def count(n: int):
    yield from range(n)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    session = FakeSession(ranks=2, slots=2)
    monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: session)
    return session


@pytest.fixture
def pool(fake: FakeSession):
    with Pool(cluster="fake") as pool:
        yield pool
    assert fake.closed


def test_decorating_keeps_the_function_and_calling_it_makes_a_pending_call() -> None:
    assert square.__wrapped__(3) == 9
    assert square.__name__ == "square" and square.__qualname__ == "square"
    assert square.local(4) == 16
    pending = square(5)
    assert isinstance(pending, skyhop.functions.PendingCall) and pending.local() == 25
    options = skyhop.function(timeout=3, retries=1)(lambda: None)
    assert (options.timeout, options.retries) == (3, 1)


def test_run_shift_and_broadcast_matmul(pool: Pool, fake: FakeSession) -> None:
    assert (square(7) >> pool) == 49
    assert pool.run(square, 3) == 9
    assert [pool.run(square, 2, node=1) for _ in range(3)] == [4, 4, 4]
    assert square(6) @ pool == [36, 36]
    ranks = [frame.rank for frame in fake.calls()]
    assert {0, 1} <= set(ranks[:2])  # round robin over both ranks
    assert ranks[2:5] == [1, 1, 1] and sorted(ranks[5:]) == [0, 1]


def test_a_function_goes_once_per_rank(pool: Pool, fake: FakeSession) -> None:
    for _ in range(6):
        pool.run(square, 2)
    puts = fake.kinds(fnwire.PUT)
    assert sorted(frame.rank for frame in puts) == [0, 1]
    assert len({frame.payload[: fnwire.DIGEST_SIZE] for frame in puts}) == 1


def test_a_large_argument_goes_once_per_rank_by_digest(pool: Pool, fake: FakeSession) -> None:
    big = bytes(200_000)
    for _ in range(4):
        assert pool.run(len, big) == 200_000
    puts = fake.kinds(fnwire.PUT)
    assert len([frame for frame in puts if len(frame.payload) > 200_000]) == 2  # one per rank
    assert all(len(frame.payload) < 10_000 for frame in fake.calls())  # the CALLs carry the digest only


def test_a_remote_exception_comes_back_as_itself_with_the_remote_traceback(pool: Pool) -> None:
    with pytest.raises(ValueError, match="bad input") as caught:
        pool.run(fail, "bad input", node=1)
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert (cause.rank, cause.node, cause.function) == (1, "host1", "fail")
    assert "Traceback" in str(cause) and "raise ValueError(message)" in str(cause)
    assert caught.value.__notes__ == ["raised on rank 1 (host1) in fail"]


def test_an_exception_class_of_the_caller_round_trips(pool: Pool) -> None:
    def raises() -> None:
        raise Oops("mine")

    with pytest.raises(Oops, match="mine"):
        pool.run(raises)


def test_an_exception_that_would_not_pickle_is_a_remote_error() -> None:
    record = error_record(ValueError("x"), "f", "h")
    record.update(exception=None, module="theirs", type="Custom", message="went wrong")
    from skyhop.functions.remote import rebuild

    error = rebuild(record, 3)
    assert isinstance(error, RemoteError) and isinstance(error, skyhop.SkyhopError)
    assert "theirs.Custom: went wrong" in str(error) and "could not be pickled" in str(error)
    assert isinstance(error.__cause__, RemoteTraceback) and error.__cause__.rank == 3


def test_an_unpicklable_argument_fails_here_naming_it(pool: Pool, fake: FakeSession) -> None:
    connection = sqlite3.connect(":memory:")
    with pytest.raises(NotPicklable, match=r"Argument 1 of square \(a sqlite3.Connection\)"):
        pool.run(square, 1, connection)
    with pytest.raises(NotPicklable, match=r"Argument db= of square"):
        pool.run(square, 1, db=connection)
    assert fake.calls() == []


def test_an_unpicklable_return_value_names_the_function(pool: Pool) -> None:
    def connect() -> sqlite3.Connection:
        return sqlite3.connect(":memory:")

    with pytest.raises(pickle.PicklingError, match="return value of .*connect"):
        pool.run(connect)


def test_map_returns_every_value_in_order_and_batches_tiny_items(pool: Pool, fake: FakeSession) -> None:
    run = pool.map_run(square, range(1000))
    assert list(run) == [x * x for x in range(1000)]
    calls = fake.calls()
    assert len(calls) < 1000  # tiny items travel in batches
    assert any(pickle.loads(frame.payload)[1] == fnwire.MODE_BATCH for frame in calls)
    unordered = pool.map(square, range(100), ordered=False)
    assert sorted(unordered) == [x * x for x in range(100)]


def test_map_never_has_more_than_the_window_in_flight_and_reads_items_lazily(pool: Pool) -> None:
    taken = []

    def items():
        for x in itertools.count():
            taken.append(x)
            yield x

    run = pool.map_run(square, items(), window=5)
    results = list(itertools.islice(run, 50))
    assert results == [x * x for x in range(50)]
    assert run.high_water <= 5
    assert len(taken) <= 55


def test_map_batch_one_sends_one_item_per_call(pool: Pool, fake: FakeSession) -> None:
    assert list(pool.map(square, range(20), batch=1)) == [x * x for x in range(20)]
    assert len(fake.calls()) == 20


def test_a_failing_item_raises_at_its_place(pool: Pool) -> None:
    def picky(x: int) -> int:
        if x == 7:
            raise KeyError(x)
        return x

    results = pool.map(picky, range(20))
    assert [next(results) for _ in range(7)] == list(range(7))
    with pytest.raises(KeyError):
        next(results)


def test_generators_stream_in_order_with_credit(pool: Pool, fake: FakeSession) -> None:
    stream = pool.run(count, 200)
    assert list(stream) == list(range(200))
    assert stream.delivered == 200
    assert fake.kinds(fnwire.CREDIT)  # the caller topped up the initial grant


def test_closing_a_stream_cancels_it_on_the_node(pool: Pool, fake: FakeSession) -> None:
    stream = pool.run(count, 10_000)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert [frame.call_id for frame in fake.kinds(fnwire.CANCEL)] == [stream.call_id]


def test_a_timeout_cancels_the_call() -> None:
    session = FakeSession(auto=False)
    calls_module = __import__("skyhop.functions.calls", fromlist=["Calls"])
    calls = calls_module.Calls(session)
    slow = skyhop.function(timeout=0.05)(lambda: None)
    call = calls_module.Call(calls, slow, (), {}, retries=0)
    future = call.start(0)
    with pytest.raises(FunctionTimeout, match="timeout of 0.05 s on node 0"):
        future.result(timeout=10)
    assert [frame.call_id for frame in session.kinds(fnwire.CANCEL)] == [call.call_id]


def test_a_lost_node_fails_a_call_without_retries_and_retries_on_another_with_them() -> None:
    from skyhop.functions.calls import Call, Calls

    session = FakeSession(ranks=2, auto=False)
    calls = Calls(session)
    future = Call(calls, square, (3,), {}, retries=0).start(1)
    session.lose(1, "preempted")
    with pytest.raises(NodeLost, match="Node 1 .host1. of the pool is lost: preempted"):
        future.result(timeout=10)

    session = FakeSession(ranks=2, auto=False)
    calls = Calls(session)
    call = Call(calls, square, (3,), {}, retries=1)
    future = call.start(1)
    session.lose(1)
    for _ in range(1000):
        if session.calls(0):
            break
        threading.Event().wait(0.01)
    (again,) = session.calls(0)
    session.reply(fnwire.RESULT, 0, again.call_id, pickle.dumps(9))
    assert future.result(timeout=10) == 9


def test_async_forms(pool: Pool) -> None:
    async def main() -> tuple:
        one = await pool.run_async(square, 4)
        every = await pool.broadcast_async(square, 2)
        mapped = [value async for value in pool.map_async(square, range(10))]
        streamed = [value async for value in pool.stream_async(count, 5)]
        return one, every, mapped, streamed

    assert asyncio.run(main()) == (16, [4, 4], [x * x for x in range(10)], list(range(5)))


def test_broadcast_raises_the_first_failure_after_every_node(pool: Pool) -> None:
    with pytest.raises(ValueError, match="each") as caught:
        pool.broadcast(fail, "each")
    assert any(note.startswith("node 1 also failed: ValueError") for note in caught.value.__notes__)


def test_output_is_prefixed_by_node_on_whole_lines_when_there_are_several(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output(prefixed=True)
    output(1, fnwire.STDOUT, b"hel")
    output(0, fnwire.STDOUT, b"a\n")
    output(1, fnwire.STDOUT, b"lo\nwor")
    output(1, fnwire.STDERR, "é\n".encode())
    output.flush()
    captured = capsys.readouterr()
    assert captured.out == "(node-0) a\n(node-1) hello\n(node-1) wor\n"
    assert captured.err == "(node-1) é\n"
    single = Output(prefixed=False)
    single(0, fnwire.STDOUT, b"raw")
    quiet = Output(prefixed=True, quiet=True)
    quiet(0, fnwire.STDOUT, b"dropped\n")
    assert capsys.readouterr().out == "raw"


def test_output_of_the_nodes_reaches_this_process(pool: Pool, fake: FakeSession, capsys: pytest.CaptureFixture[str]) -> None:
    fake.output(1, fnwire.STDOUT, b"from one\n")
    fake.drain()
    assert capsys.readouterr().out == "(node-1) from one\n"


def test_shard_slices_by_rank_and_leaves_the_callers_data_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    data = list(range(10))
    assert skyhop.shard(data) is data
    monkeypatch.setenv("SKYPILOT_NUM_NODES", "3")
    monkeypatch.setenv("SKYPILOT_NODE_RANK", "1")
    assert skyhop.shard(data) == [1, 4, 7]
    assert skyhop.shard(data, by="block") == [4, 5, 6]
    assert list(skyhop.shard(iter(data))) == [1, 4, 7]
    monkeypatch.setenv("SKYPILOT_NODE_RANK", "0")
    assert skyhop.shard(data, by="block") == [0, 1, 2, 3]


def test_the_version_check_names_the_node_and_the_fix() -> None:
    import sys

    other = (sys.version_info[0], sys.version_info[1] - 1, 0)
    with pytest.raises(PickleMismatch, match=r"Node 0 \(host0\) runs Python 3\.\d+\.0 .*minor versions"):
        check_workers(FakeSession(python=other).workers)
    with pytest.raises(PickleMismatch, match="has no cloudpickle .*`skyhop stop dev` then `skyhop start dev`"):
        check_workers(FakeSession(pickle_version=None).workers, "dev")
    with pytest.raises(PickleMismatch, match="cloudpickle 2.1.0"):
        check_workers(FakeSession(pickle_version="2.1.0").workers)
    check_workers(FakeSession(python=(*sys.version_info[:2], 99)).workers)  # a patch difference is fine


class Lifecycle:
    """launch/down of the API client, recorded instead of done."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, session: FakeSession) -> None:
        from skyhop.client import api

        self.launched: list[tuple] = []
        self.downed: list[str] = []
        monkeypatch.setattr(api, "launch", lambda task, name, **options: self.launched.append((task, name, options)))
        monkeypatch.setattr(api, "down", lambda name: self.downed.append(name))
        monkeypatch.setattr(api, "status", lambda names=None, **options: [])
        monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: session)


def test_a_pool_launches_its_task_and_downs_it_on_the_way_out_even_after_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    life = Lifecycle(monkeypatch, FakeSession())
    with pytest.raises(KeyError), Pool(accelerators="H100:1", nodes=2, use_spot=True, cpus="4+", setup="echo hi", envs={"A": "1"}) as pool:
        assert pool.retries == 3  # spot: retries by default
        raise KeyError("body")
    ((task, name, options),) = life.launched
    assert name.startswith("pool-") and len(name) == len("pool-") + 8 and life.downed == [name]
    assert options == {"idle_minutes": 10.0, "down": True, "stream": True}
    assert task.num_nodes == 2 and task.resources.use_spot and str(task.resources.accelerator) == "H100:1"
    assert task.run is None and task.envs == {"A": "1"}
    assert task.setup == "echo hi"  # nothing added: the agent brings cloudpickle


def test_a_kept_pool_stays_and_an_attached_one_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    life = Lifecycle(monkeypatch, FakeSession())
    with Pool(name="mine", keep=True) as pool:
        assert pool.retries == 0
    assert life.launched[0][2] == {"idle_minutes": None, "down": False, "stream": True} and life.launched[0][0].setup is None
    with Pool(cluster="mine"):
        pass
    assert len(life.launched) == 1 and life.downed == []
    with pytest.raises(skyhop.SkyhopError, match="attaches to that cluster as it is"):
        Pool(cluster="mine", accelerators="H100:1")


def test_a_pool_whose_nodes_cannot_take_pickles_is_downed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    session = FakeSession(pickle_version=None)
    life = Lifecycle(monkeypatch, session)
    with pytest.raises(PickleMismatch), Pool(name="p"):
        raise AssertionError("not reached")
    assert life.downed == ["p"] and session.closed


def test_a_pool_must_be_open_to_take_calls() -> None:
    with pytest.raises(skyhop.SkyhopError, match="is not open"):
        Pool(cluster="c").run(square, 1)


def test_the_callers_own_modules_go_by_value_and_installed_ones_by_reference(tmp_path) -> None:
    import types

    from skyhop.functions.pickling import _library_roots, is_own_module

    root = str(tmp_path) + "/"
    def module(name: str, path: str) -> types.ModuleType:
        made = types.ModuleType(name)
        made.__file__ = path
        return made

    libraries = _library_roots()
    assert is_own_module(module("mine.util", f"{tmp_path}/mine/util.py"), [root], libraries)
    assert not is_own_module(module("theirs", f"{tmp_path}/venv/lib/python3.11/site-packages/theirs.py"), [root], libraries)
    assert not is_own_module(module("elsewhere", "/opt/code/elsewhere.py"), [root], libraries)
    assert not is_own_module(module("skyhop.spec", f"{tmp_path}/src/skyhop/spec.py"), [root], libraries)
    assert not is_own_module(module("json", f"{libraries[0]}json/__init__.py"), [libraries[0]], libraries)


def test_remote_frames_get_their_source_lines_from_the_callers_files() -> None:
    from skyhop.functions.remote import with_sources

    line = fail.__wrapped__.__code__.co_firstlineno + 2  # the decorator, the def, the raise
    text = (
        "Traceback (most recent call last):\n"
        f'  File "<dynamic-code>", line {line}, in fail\n'
        f'  File "{__file__}", line {line}, in fail\n'
        "ValueError: x\n"
    )
    assert with_sources(text, fail.__wrapped__) == (
        "Traceback (most recent call last):\n"
        f'  File "{__file__}", line {line}, in fail\n'
        "    raise ValueError(message)\n"
        f'  File "{__file__}", line {line}, in fail\n'
        "    raise ValueError(message)\n"
        "ValueError: x\n"
    )


def test_a_decorated_helper_is_a_plain_function_on_the_node(pool: Pool) -> None:
    def outer(x: int) -> int:
        return square(x) + 1  # `square` is decorated: pickled, it is the plain function

    assert pool.run(outer, 3) == 10
    assert pickle.loads(cloudpickle.dumps(square))(4) == 16


def test_the_pools_envs_and_secrets_reach_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[dict] = []
    Lifecycle(monkeypatch, FakeSession())
    monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: (opened.append(options), FakeSession())[1])
    with Pool(nodes=2, envs={"A": "1"}, secrets={"TOKEN": "s3cret"}, slots=3):
        pass
    assert opened == [{"slots": 3, "env": {0: {"A": "1", "TOKEN": "s3cret"}, 1: {"A": "1", "TOKEN": "s3cret"}}}]


def test_a_failed_launch_downs_what_it_may_have_left_and_raises_its_own_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from skyhop.client import api
    from skyhop.errors import InfeasibleError, NotFoundError

    downed: list[str] = []

    def launch(task, name, **options):
        raise InfeasibleError("no offer has 9 H100s")

    def down(name):
        downed.append(name)
        raise NotFoundError(f"no cluster {name}")

    monkeypatch.setattr(api, "launch", launch)
    monkeypatch.setattr(api, "down", down)
    with pytest.raises(InfeasibleError, match="no offer"), Pool(name="p9", accelerators="H100:9"):
        raise AssertionError("not reached")
    assert downed == ["p9"] and capsys.readouterr().err == ""


def test_output_goes_to_the_stdout_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Jupyter kernel swaps sys.stdout per cell: output must land in the one current when it arrives."""
    import io

    output = Output(prefixed=False)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    output(0, fnwire.STDOUT, b"one ")
    monkeypatch.setattr(sys, "stdout", second)
    output(0, fnwire.STDOUT, b"two")
    assert (first.getvalue(), second.getvalue()) == ("one ", "two")
