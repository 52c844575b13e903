"""`pool.map`'s scheduler, frame by frame: the test plays the nodes (a manual FakeSession).

Exactly-once under losses, duplicates dropped, input order kept, the window
never exceeded. The map runs on a thread; the test answers its CALLs.
"""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any, Callable

import pytest
from fn_session_fake import FakeSession

import skyhop
from skyhop.functions.calls import Calls
from skyhop.functions.errors import FunctionTimeout, NodeLost
from skyhop.functions.scheduler import MapRun
from skyhop_agent import fnwire


@skyhop.function
def square(x: int) -> int:
    return x * x


def item_of(frame: fnwire.Frame) -> Any:
    _, mode, args, _, _ = pickle.loads(frame.payload)
    assert mode == fnwire.MODE_CALL
    return args[0]


def answer(fake: FakeSession, frame: fnwire.Frame) -> None:
    fake.reply(fnwire.RESULT, frame.rank, frame.call_id, pickle.dumps(item_of(frame) ** 2))


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the map did not get there"
        time.sleep(0.002)


class Consumer:
    """`list(run)` on a thread; `.results` or `.error` when it ends."""

    def __init__(self, run: MapRun) -> None:
        self.results: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._consume, args=(run,), daemon=True)
        self.thread.start()

    def _consume(self, run: MapRun) -> None:
        try:
            for value in run:
                self.results.append(value)
        except BaseException as error:  # noqa: BLE001
            self.error = error

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()


def start(items: Any, *, ranks: int = 2, slots: int = 1, **options: Any) -> tuple[FakeSession, MapRun, Consumer]:
    fake = FakeSession(ranks=ranks, slots=slots, auto=False)
    run = MapRun(Calls(fake), square, items, batch=options.pop("batch", 1), **options)
    return fake, run, Consumer(run)


def test_a_lost_nodes_items_run_again_elsewhere_and_each_result_comes_once() -> None:
    fake, run, consumer = start(range(6), retries=1)
    wait_for(lambda: len(fake.calls()) == 4)  # two calls per slot, one slot per rank
    on_one = fake.calls(1)
    assert len(on_one) == 2
    answer(fake, fake.calls(0)[0])
    fake.lose(1)
    fake.drain()  # the LOST is queued to the map: what comes after it for that call is late
    # A late answer of a call that was lost (the relay would not send it; the scheduler must drop it anyway).
    run._frames.put(fnwire.Frame(fnwire.RESULT, 1, on_one[0].call_id, pickle.dumps(-1)))
    done: set[int] = {fake.calls(0)[0].call_id}
    while consumer.thread.is_alive() and len(done) < 10:
        for frame in fake.calls(0):
            if frame.call_id not in done:
                done.add(frame.call_id)
                answer(fake, frame)
        time.sleep(0.002)
    consumer.join()
    assert consumer.error is None
    assert consumer.results == [x * x for x in range(6)]
    # Every item ran on rank 0 in the end, the two lost with rank 1 once more.
    assert sorted(item_of(frame) for frame in fake.calls(0)) == [0, 1, 2, 3, 4, 5]


def test_past_its_retries_an_item_raises_node_lost_naming_it() -> None:
    fake, _, consumer = start(range(4), retries=0)
    wait_for(lambda: len(fake.calls(1)) == 2)
    fake.lose(1, "preempted")
    consumer.join()
    assert isinstance(consumer.error, NodeLost)
    assert "preempted; item 1 of the map over square was on it and the pool has no retries" in str(consumer.error)


def test_a_repeated_result_is_dropped() -> None:
    fake, run, consumer = start(range(3), ranks=1)
    wait_for(lambda: len(fake.calls()) == 2)
    first = fake.calls()[0]
    answer(fake, first)
    answer(fake, first)  # the same frame twice
    wait_for(lambda: len(fake.calls()) == 3)
    for frame in fake.calls()[1:]:
        answer(fake, frame)
    consumer.join()
    assert consumer.results == [0, 1, 4]


def test_answers_out_of_order_come_out_in_input_order_or_as_they_come() -> None:
    for ordered, expected in ((True, [0, 1, 4, 9]), (False, [9, 4, 1, 0])):
        fake, _, consumer = start(range(4), ranks=1, slots=2, ordered=ordered)
        wait_for(lambda fake=fake: len(fake.calls()) == 4)
        for frame in reversed(fake.calls()):
            answer(fake, frame)
            fake.drain()
        consumer.join()
        assert consumer.results == expected


def test_the_window_bounds_the_items_in_flight() -> None:
    fake, run, consumer = start(range(40), ranks=2, slots=4, window=3)
    seen = 0
    while consumer.thread.is_alive() and seen < 40:
        wait_for(lambda seen=seen: len(fake.calls()) > seen or not consumer.thread.is_alive())
        calls = fake.calls()
        in_flight = len(calls) - seen
        assert in_flight <= 3
        for frame in calls[seen:]:
            answer(fake, frame)
        seen = len(calls)
        fake.drain()
    consumer.join()
    assert consumer.results == [x * x for x in range(40)]
    assert run.high_water <= 3


def test_when_every_node_is_lost_the_map_says_so() -> None:
    fake, _, consumer = start(range(10), ranks=2, retries=5)
    wait_for(lambda: len(fake.calls()) == 4)
    fake.lose(0, "gone")
    fake.lose(1, "gone too")
    consumer.join()
    assert isinstance(consumer.error, NodeLost) and "no node of the pool is left" in str(consumer.error)


def test_a_batch_result_settles_each_of_its_items() -> None:
    fake = FakeSession(ranks=1, slots=1, auto=False)
    run = MapRun(Calls(fake), square, range(10), batch=5)
    consumer = Consumer(run)
    wait_for(lambda: len(fake.calls()) == 2)
    for frame in fake.calls():
        _, mode, (items,), _, _ = pickle.loads(frame.payload)
        assert mode == fnwire.MODE_BATCH and len(items) == 5
        fake.reply(fnwire.RESULT, 0, frame.call_id, pickle.dumps([(True, x * x) for x in items]))
    consumer.join()
    assert consumer.results == [x * x for x in range(10)]


def test_window_and_batch_are_checked() -> None:
    fake = FakeSession(auto=False)
    with pytest.raises(ValueError, match="window"):
        MapRun(Calls(fake), square, [], window=0)
    with pytest.raises(ValueError, match="batch"):
        MapRun(Calls(fake), square, [], batch=0)


def test_an_item_past_the_functions_timeout_ends_the_map() -> None:
    fake = FakeSession(ranks=1, slots=1, auto=False)
    hurried = skyhop.function(timeout=0.05)(square.__wrapped__)
    consumer = Consumer(MapRun(Calls(fake), hurried, range(3), batch=1))
    consumer.join()
    assert isinstance(consumer.error, FunctionTimeout) and "Item 0 of the map over square ran past its timeout of 0.05 s" in str(consumer.error)
    assert {frame.call_id for frame in fake.kinds(fnwire.CANCEL)} == {frame.call_id for frame in fake.calls()}  # every call out was cancelled
