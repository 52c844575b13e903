"""`--retry-until-up` waits between passes with a visible countdown, and each pass tries every offer anew."""

from __future__ import annotations

import json
import threading

import pytest

from skyhop.errors import InfeasibleError, SkyhopError
from skyhop.execution import retry
from skyhop.execution.progress import Progress, RequestCancelled


def _events(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_pause_between_passes_is_a_countdown_that_doubles(tmp_path, monkeypatch):
    monkeypatch.setattr(retry, "COUNTDOWN_STEP_S", 0.02)
    log = tmp_path / "request.log"
    progress = Progress(log)
    calls = []

    def attempt():
        calls.append(len(calls))
        if len(calls) < 3:
            raise SkyhopError(f"no capacity anywhere (pass {len(calls)}).")
        return "up"

    assert retry.until_up(attempt, progress, retry=True, first_pause_s=0.05) == "up"
    progress.close()
    events = _events(log)
    kinds = [next(iter(e)) for e in events]
    # pass 1 fails, a countdown, pass 2 fails, a longer countdown, pass 3 succeeds
    first, second = kinds.index("msg"), len(kinds) - 1 - kinds[::-1].index("msg")
    waits = [[e["countdown"] for e in events[a + 1:b]] for a, b in ((first, second), (second, len(events)))]
    assert all(kinds[i] == "countdown" for i in range(first + 1, second))
    assert [w[0]["what"] for w in waits] == ["retrying (--retry-until-up)"] * 2
    # Whole seconds left, counting down: 0.05 s and then 0.1 s both show as 1 s left at the start.
    assert len(waits[0]) == 3 and len(waits[1]) == 5  # one event per step: the countdown moves
    assert all(w["left"] == 1 for w in waits[0] + waits[1])
    assert "Retrying in 0.05s" in events[first]["msg"] and "Retrying in 0.1s" in events[second]["msg"]


def test_the_countdown_shows_whole_seconds_left(tmp_path, monkeypatch):
    monkeypatch.setattr(retry, "COUNTDOWN_STEP_S", 5.0)
    progress = Progress(tmp_path / "log")
    waited = []
    monkeypatch.setattr(progress.cancel_event, "wait", lambda seconds: waited.append(seconds) or False)
    retry._wait(progress, 12.0)
    progress.close()
    assert [e["countdown"]["left"] for e in _events(tmp_path / "log")] == [12, 7, 2]
    assert waited == [5.0, 5.0, 2.0]


def test_a_cancel_during_the_countdown_ends_the_request(tmp_path):
    progress = Progress(tmp_path / "log")
    threading.Timer(0.05, progress.cancel_event.set).start()
    with pytest.raises(RequestCancelled):
        retry.until_up(lambda: (_ for _ in ()).throw(SkyhopError("full.")), progress, retry=True, first_pause_s=3600)
    progress.close()


def test_errors_a_retry_cannot_fix_end_at_once_without_a_countdown(tmp_path):
    progress = Progress(tmp_path / "log")
    with pytest.raises(InfeasibleError):
        retry.until_up(lambda: (_ for _ in ()).throw(InfeasibleError("no such GPU.")), progress, retry=True, first_pause_s=0.01)
    progress.close()
    assert (tmp_path / "log").read_text() == ""
