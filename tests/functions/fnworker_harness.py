"""A real `fnworker` process on pipes, spoken to in fnwire frames as the relay would (tests only)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import cloudpickle

from skyhop_agent import fnwire

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT_S = 10.0  # a bound for things that should happen at once: only reached when they never do

_call_ids = itertools.count(1)


class WorkerProcess:
    """`python -u -m skyhop_agent.fnworker` with its frames read by a thread: per-call queues plus the OUT bytes."""

    def __init__(self, *extra: str, rank: int = 3, slots: int = 2, pythonpath: tuple[Path, ...] = (), env: dict[str, str] | None = None) -> None:
        self.rank = rank
        path = os.pathsep.join(str(p) for p in (*pythonpath, SRC))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "skyhop_agent.fnworker", "--rank", str(rank), "--slots", str(slots), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {}), "PYTHONPATH": path},
        )
        self._calls: dict[int, queue.Queue[fnwire.Frame]] = {}
        self._lock = threading.Lock()
        self._out_cond = threading.Condition()
        self.out: dict[int, bytearray] = {fnwire.STDOUT: bytearray(), fnwire.STDERR: bytearray()}
        self.foreign_ranks: list[int] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            first = self.next_frame(0)
        except queue.Empty:
            self.proc.kill()
            self.proc.wait()
            stderr = self.proc.stderr.read() if self.proc.stderr else b""
            self.kill()
            raise AssertionError(f"the worker sent no HELLO; its stderr: {stderr!r}") from None
        assert first.kind == fnwire.HELLO, first
        self.hello: dict[str, Any] = json.loads(first.payload)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            frame = fnwire.read_frame(self.proc.stdout)  # type: ignore[arg-type]
            if frame is None:
                break
            if frame.rank != self.rank:
                self.foreign_ranks.append(frame.rank)
            if frame.kind == fnwire.OUT:
                with self._out_cond:
                    self.out[frame.payload[0]] += frame.payload[1:]
                    self._out_cond.notify_all()
            else:
                self.queue(frame.call_id).put(frame)
        with self._out_cond:
            self._out_cond.notify_all()

    def queue(self, call_id: int) -> queue.Queue[fnwire.Frame]:
        with self._lock:
            return self._calls.setdefault(call_id, queue.Queue())

    def send(self, kind: int, call_id: int = 0, payload: bytes = b"") -> None:
        self.send_bytes(fnwire.encode(fnwire.Frame(kind, self.rank, call_id, payload)))

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def put(self, obj: object) -> str:
        """PUT `obj` (cloudpickled); its digest in hex."""
        data = cloudpickle.dumps(obj, protocol=5)
        digest = hashlib.blake2b(data, digest_size=fnwire.DIGEST_SIZE).digest()
        self.send(fnwire.PUT, 0, digest + data)
        return digest.hex()

    def call(self, fn: Callable[..., Any], *args: Any, mode: str = fnwire.MODE_CALL, **kwargs: Any) -> int:
        """Send a CALL of `fn` (PUT once per function object); its call id."""
        digest = self.put(fn)  # again each time: the worker keeps it once by digest
        call_id = next(_call_ids)
        opts = {"name": getattr(fn, "__qualname__", "?"), "timeout": None}
        self.send(fnwire.CALL, call_id, cloudpickle.dumps((digest, mode, args, kwargs, opts), protocol=5))
        return call_id

    def next_frame(self, call_id: int, timeout: float = WAIT_S) -> fnwire.Frame:
        return self.queue(call_id).get(timeout=timeout)

    def result(self, call_id: int) -> Any:
        """The call's RESULT value; AssertionError with the remote traceback on ERROR."""
        frame = self.next_frame(call_id)
        if frame.kind == fnwire.ERROR:
            raise AssertionError(f"the call failed remotely:\n{self.error_of(frame)['traceback']}")
        assert frame.kind == fnwire.RESULT, frame
        return cloudpickle.loads(frame.payload)

    def error(self, call_id: int) -> dict[str, Any]:
        frame = self.next_frame(call_id)
        assert frame.kind == fnwire.ERROR, frame
        return self.error_of(frame)

    @staticmethod
    def error_of(frame: fnwire.Frame) -> dict[str, Any]:
        record: dict[str, Any] = cloudpickle.loads(frame.payload)
        return record

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.result(self.call(fn, *args, **kwargs))

    def wait_output(self, text: bytes, stream: int = fnwire.STDOUT, timeout: float = WAIT_S) -> bytes:
        """Everything the worker wrote on `stream` once it contains `text`."""
        with self._out_cond:
            self._out_cond.wait_for(lambda: text in self.out[stream] or not self._reader.is_alive(), timeout)
            got = bytes(self.out[stream])
        assert text in got, f"{text!r} not in the worker's output {got!r}"
        return got

    def close(self, timeout: float = WAIT_S) -> int:
        """Close stdin; the exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(WAIT_S)  # it ends at the EOF of stdout: its pipe must not close under it
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
