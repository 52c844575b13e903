"""The client library against real `fnworker` processes (tests/fn_pipe_session.py): no cluster, real pickles.

The workers run in an empty directory and cannot import this module: what they
run of it arrives by value, as on a node.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Iterator

import pytest
from fn_pipe_session import PipeSession

import skyhop
from skyhop import shard
from skyhop.functions import pool as pool_module
from skyhop.functions.errors import FunctionTimeout, RemoteTraceback
from skyhop.functions.pool import Pool


class Mine(Exception):
    """Defined in the caller's module: comes back as this class."""


@skyhop.function
def rank_and_part(data: list[int]) -> tuple[int, list[int]]:
    return int(os.environ["SKYPILOT_NODE_RANK"]), shard(data)


@skyhop.function
def double(x: int) -> int:
    return 2 * x


@skyhop.function
def numbers(n: int) -> Iterator[tuple[int, float]]:
    for i in range(n):
        yield i, time.monotonic()
        time.sleep(0.002)


@skyhop.function
def shout(text: str) -> None:
    print(text)
    print("to stderr", file=sys.stderr)


@skyhop.function
def broken(x: int) -> None:
    if x < 0:
        raise Mine(f"negative: {x}")
    int("not a number")


@skyhop.function
def connection() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipeSession]:
    session = PipeSession(2, slots=2, cwd=tmp_path_factory.mktemp("node"))
    yield session
    session.close()


@pytest.fixture(scope="module")
def pool(session: PipeSession) -> Iterator[Pool]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool_module, "connect", lambda cluster, **options: session)
        with Pool(cluster="pipes", by_value=[__name__]) as pool:
            yield pool


def test_one_node_every_node_and_the_shards(pool: Pool) -> None:
    assert (double(21) >> pool) == 42
    data = list(range(10))
    assert rank_and_part(data) @ pool == [(0, [0, 2, 4, 6, 8]), (1, [1, 3, 5, 7, 9])]
    assert pool.run(rank_and_part, data, node=1)[0] == 1


def test_map_of_a_thousand_items(pool: Pool) -> None:
    run = pool.map_run(double, range(1000))
    assert list(run) == [2 * x for x in range(1000)]
    assert sorted(pool.map(double, range(100), ordered=False)) == [2 * x for x in range(100)]
    windowed = pool.map_run(double, iter(range(200)), window=4)
    assert list(windowed) == [2 * x for x in range(200)] and windowed.high_water <= 4


def test_a_generator_streams_values_while_it_runs(pool: Pool) -> None:
    arrived = []
    stream = pool.run(numbers, 100)
    for i, produced in stream:
        arrived.append((i, produced, time.monotonic()))
    assert [i for i, _, _ in arrived] == list(range(100))
    # The first value was here before the last was produced: they stream, not arrive at the end.
    assert arrived[0][2] < arrived[-1][1]


def test_closing_a_stream_early_stops_it(pool: Pool) -> None:
    stream = pool.run(numbers, 10_000)
    assert [next(stream)[0] for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert (double(1) >> pool) == 2  # the session goes on


def test_a_remote_value_error_with_its_traceback_and_node(pool: Pool) -> None:
    with pytest.raises(ValueError, match="invalid literal for int") as caught:
        pool.run(broken, 1, node=1)
    cause = caught.value.__cause__
    assert isinstance(cause, RemoteTraceback) and cause.rank == 1 and cause.node
    assert f'"{__file__}"' in str(cause) and 'int("not a number")' in str(cause)
    assert caught.value.__notes__[-1] == f"raised on rank 1 ({cause.node}) in broken"


def test_an_exception_class_of_the_callers_module_round_trips(pool: Pool) -> None:
    with pytest.raises(Mine, match="negative: -1"):
        pool.run(broken, -1)
    results = pool.map(broken, [-5])
    with pytest.raises(Mine, match="negative: -5"):
        next(results)


def test_an_unpicklable_return_value_names_the_function(pool: Pool) -> None:
    with pytest.raises(pickle.PicklingError, match="connection"):
        pool.run(connection)


def test_print_on_the_nodes_shows_here_prefixed(pool: Pool, capfd: pytest.CaptureFixture[str]) -> None:
    shout("hello") @ pool
    deadline = time.monotonic() + 10
    out = err = ""
    while time.monotonic() < deadline and not ("(node-1) hello" in out and "(node-0) to stderr" in err):
        time.sleep(0.02)
        captured = capfd.readouterr()
        out, err = out + captured.out, err + captured.err
    assert "(node-0) hello\n" in out and "(node-1) hello\n" in out
    assert "(node-0) to stderr\n" in err


def test_a_timeout_cancels_a_stream(pool: Pool) -> None:
    slow = skyhop.function(timeout=0.3)(numbers.__wrapped__)
    with pytest.raises(FunctionTimeout):
        for _ in pool.run(slow, 1_000_000):
            time.sleep(0.01)


def test_async_against_real_workers(pool: Pool) -> None:
    import asyncio

    async def main() -> tuple:
        return await pool.run_async(double, 5), [v async for v in pool.map_async(double, range(5))]

    assert asyncio.run(main()) == (10, [0, 2, 4, 6, 8])


def test_a_killed_worker_hands_its_items_to_the_other_exactly_once(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = PipeSession(2, slots=1, cwd=tmp_path)
    monkeypatch.setattr(pool_module, "connect", lambda cluster, **options: session)
    with Pool(cluster="pipes", retries=2, by_value=[__name__]) as pool:
        slow = skyhop.function(lambda x: (time.sleep(0.005), x)[1])
        results = []
        for value in pool.map(slow, range(60), batch=1):
            results.append(value)
            if len(results) == 10:
                session.kill(1)  # with two of its items in flight
        assert results == list(range(60))
        assert pool.nodes == 1


@skyhop.function
def lazy_squares(n: int) -> Iterator[int]:
    """A plain function (no `yield` of its own) returning a generator: the node streams it, the call collects it."""
    return (x * x for x in range(n))


def test_a_returned_generator_past_the_first_credit_comes_back_whole(pool: Pool) -> None:
    # 200 values: the node stops at each grant's end (64, then 32 at a time) unless credit keeps coming.
    assert pool.run(lazy_squares, 200, node=1) == [x * x for x in range(200)]


@skyhop.function
def blob(size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


def test_a_large_result_comes_back_whole(pool: Pool) -> None:
    # Over the worker's copy threshold: written after its header, not copied behind it.
    assert pool.run(blob, 3 << 20, node=1) == bytes(range(256)) * ((3 << 20) // 256)
