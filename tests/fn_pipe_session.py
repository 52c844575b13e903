"""A functions session over real `fnworker` processes on pipes, one per rank: the relay's part played by this process.

§11's Session interface (as skyhop/functions/session.py implements it over the
head's socket) with the workers started here, so the client library runs
against the real worker without a cluster: by-value pickles into a process
that cannot import the test modules (it runs in an empty directory), real
output capture, generators, losses (`kill(rank)` ends a worker as a
preemption would: its pipe hits EOF and the rank is LOST).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from skyhop.functions.errors import NodeLost
from skyhop.functions.session import WorkerInfo
from skyhop_agent import fnwire

SRC = Path(__file__).resolve().parents[1] / "src"


class PipeSession:
    def __init__(self, ranks: int, *, slots: int, cwd: Path) -> None:
        self.cluster = "pipes"
        self.on_output: Callable[[int, int, bytes], None] = lambda rank, stream, data: None
        self.on_lost: Callable[[int, str], None] = lambda rank, reason: None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._handlers: dict[int, Callable[[fnwire.Frame], None]] = {}
        self._lost: dict[int, str] = {}
        self._closed = False
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._writes = {rank: threading.Lock() for rank in range(ranks)}
        workers = []
        for rank in range(ranks):
            env = {**os.environ, "PYTHONPATH": str(SRC), "SKYPILOT_NODE_RANK": str(rank), "SKYPILOT_NUM_NODES": str(ranks)}
            proc = subprocess.Popen([sys.executable, "-u", "-m", "skyhop_agent.fnworker", "--rank", str(rank), "--slots", str(slots)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, env=env)
            self.procs[rank] = proc
            assert proc.stdout is not None
            hello = fnwire.read_frame(proc.stdout)  # type: ignore[arg-type]
            assert hello is not None and hello.kind == fnwire.HELLO, hello
            workers.append(WorkerInfo.from_hello({**json.loads(hello.payload), "rank": rank, "host": f"pipe{rank}"}))
        self.workers = tuple(workers)
        self._readers = [threading.Thread(target=self._read, args=(rank,), daemon=True) for rank in self.procs]
        for reader in self._readers:
            reader.start()

    def next_call_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def send(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        if rank in self._lost:
            raise NodeLost(rank, f"pipe{rank}", self._lost[rank])
        stdin = self.procs[rank].stdin
        assert stdin is not None
        try:
            with self._writes[rank]:
                stdin.write(fnwire.encode(fnwire.Frame(kind, rank, call_id, payload)))
                stdin.flush()
        except (BrokenPipeError, ValueError):
            raise NodeLost(rank, f"pipe{rank}", "its pipe broke") from None

    def register(self, call_id: int, handler: Callable[[fnwire.Frame], None]) -> None:
        with self._lock:
            self._handlers[call_id] = handler

    def unregister(self, call_id: int) -> None:
        with self._lock:
            self._handlers.pop(call_id, None)

    def kill(self, rank: int) -> None:
        """End a worker as a preemption would (its pipe hits EOF; the rank becomes LOST)."""
        self.procs[rank].kill()

    def close(self) -> None:
        self._closed = True
        for proc in self.procs.values():
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for reader in self._readers:
            reader.join(10)
        for proc in self.procs.values():
            if proc.stdout is not None:
                proc.stdout.close()

    def _read(self, rank: int) -> None:
        stdout = self.procs[rank].stdout
        assert stdout is not None
        while True:
            try:
                frame = fnwire.read_frame(stdout)  # type: ignore[arg-type]
            except (fnwire.FrameError, OSError, ValueError):
                frame = None
            if frame is None:
                break
            if frame.kind == fnwire.OUT:
                self.on_output(frame.rank, frame.payload[0], frame.payload[1:])
                continue
            with self._lock:
                handler = self._handlers.get(frame.call_id)
            if handler is not None:
                handler(frame)
        if not self._closed:
            self._lost[rank] = f"its worker exited ({self.procs[rank].wait()})"
            self.workers = tuple(worker for worker in self.workers if worker.rank != rank)
            self.on_lost(rank, self._lost[rank])
