"""Request logs: capped in size, removed with their requests after the retention period, followed cheaply."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from skyhop.errors import ConfigError
from skyhop.execution.progress import Progress
from skyhop.server import settings
from skyhop.server.executor import Executor, Owner
from skyhop.server.services import request_events, retention


@pytest.fixture
def store(isolated_home):
    from skyhop.state.store import StateStore

    return StateStore()


def test_job_output_stops_at_the_log_cap_with_one_note(tmp_path: Path):
    path = tmp_path / "r.log"
    progress = Progress(path, max_bytes=10_000)
    progress.phase("running")
    for _ in range(100):
        progress.out("x" * 500)
    progress.info("still told")
    progress.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.stat().st_size < 11_000
    notes = [e for e in events if "size cap" in e.get("msg", "")]
    assert len(notes) == 1 and events[0] == {"phase": "running"} and events[-1] == {"msg": "still told"}


def _finished(store, tmp_path: Path, name: str) -> str:
    log = tmp_path / f"{name}.log"
    log.write_text("{}\n")
    record = store.create_request("down", {}, log_path=str(log))
    store.start_request(record.request_id, 1)
    store.finish_request(record.request_id, "SUCCEEDED")
    return record.request_id


def test_retention_removes_old_finished_requests_and_their_logs(store, tmp_path: Path):
    done = _finished(store, tmp_path, "done")
    running = store.create_request("launch", {}, log_path=str(tmp_path / "running.log"))
    day = 86400
    assert retention.sweep(store, retention_s=14 * day, now=time.time() + 13 * day) == 0  # not old enough yet
    assert store.get_request(done) is not None and (tmp_path / "done.log").exists()
    assert retention.sweep(store, retention_s=14 * day, now=time.time() + 15 * day) == 1
    assert store.get_request(done) is None and not (tmp_path / "done.log").exists()
    assert store.get_request(running.request_id) is not None  # never a request that has not ended


def test_retention_and_caps_come_from_config():
    chosen = settings.from_config({"request_retention_days": 2, "request_log_max_mb": 1, "max_body_mb": 0.5})
    assert (chosen.request_retention_s, chosen.request_log_max_bytes, chosen.max_body_bytes) == (2 * 86400, 1024 * 1024, 512 * 1024)
    assert settings.from_config(None) == settings.ServerSettings()
    for bad in ({"request_retention_days": "forever"}, {"request_retention_days": -1}, {"max_body_mb": True}, {"max_bodymb": 1}, ["x"]):
        with pytest.raises(ConfigError):
            settings.from_config(bad)


class CountingStore:
    """The real store, counting how often a follower reads the request record."""

    def __init__(self, store) -> None:
        self.store = store
        self.reads = 0

    def get_request(self, request_id: str):
        self.reads += 1
        return self.store.get_request(request_id)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def test_a_follower_reads_the_record_once_not_every_poll(store):
    counting = CountingStore(store)
    release = threading.Event()

    def slow(body: dict, progress: Progress, owner: Owner) -> str:
        for i in range(10):
            progress.out(f"tick {i}\n")
            time.sleep(0.1)
        release.wait(30)
        return "ok"

    executor = Executor(counting, {"launch": slow})
    request_id = executor.submit("launch", {}, stored_body={}, cluster=None, owner=Owner("me"))
    threading.Timer(1.5, release.set).start()

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in request_events.follow(counting, executor, store.get_request(request_id), True)])

    before = counting.reads
    out = asyncio.run(collect())
    executor.shutdown()
    assert b"tick 9" in out and json.loads(out.splitlines()[-1])["done"]["result"] == "ok"
    assert counting.reads - before <= 2, counting.reads - before  # ~2 s of following at 50 ms polls


def test_progress_listeners_hear_every_event_and_the_close(tmp_path: Path):
    progress = Progress(tmp_path / "r.log")
    heard: list[int] = []
    stop = progress.listen(lambda: heard.append(1))
    progress.phase("running")
    progress.out("x")
    stop()
    progress.info("unheard")
    progress.listen(lambda: heard.append(2))
    progress.close()
    assert heard == [1, 1, 2]


def test_a_follower_is_woken_by_the_request_not_by_a_timer(store, monkeypatch):
    """With the backstop an hour away, a follower still sees each event and the end at once."""
    monkeypatch.setattr(request_events, "WAKE_BACKSTOP_S", 3600)
    steps = [threading.Event() for _ in range(3)]

    def stepwise(body: dict, progress: Progress, owner: Owner) -> str:
        for i, step in enumerate(steps):
            assert step.wait(30)
            progress.out(f"step {i}\n")
        return "ok"

    executor = Executor(store, {"launch": stepwise})
    request_id = executor.submit("launch", {}, stored_body={}, cluster=None, owner=Owner("me"))
    assert executor.listen("no-such-request", lambda: None) is None

    async def collect() -> list[bytes]:
        chunks = []
        async for chunk in request_events.follow(store, executor, store.get_request(request_id), True):
            chunks.append(chunk)
            if len(chunks) <= len(steps) - 1:
                steps[len(chunks)].set()  # the next step only once this one arrived
        return chunks

    steps[0].set()
    chunks = asyncio.run(asyncio.wait_for(collect(), 60))
    text = b"".join(chunks).decode()
    assert [f"step {i}" in text for i in range(3)] == [True] * 3 and '"SUCCEEDED"' in text
    executor.shutdown()
