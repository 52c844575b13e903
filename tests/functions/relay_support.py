"""Helpers of the relay and session tests: a two-node cluster description and a stand-in daemon.

Rank 0 is a local node; rank 1 a "remote" one, reached through an exec prefix (`sh -c`, which
runs its last argument as ssh does), so its worker gets the agent shipped in its script and its
stdin over the prefix, as on a real worker node.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

from skyhop_agent import channel
from skyhop_agent.config import Cluster, validate
from skyhop_agent.errors import AgentError
from skyhop_agent.fnrelay import Relay, parse_input
from skyhop_agent.marked import marked_pids
from skyhop_agent.nodeexec import NODE_MARKER
from skyhop_agent.paths import Layout

HERE = str(Path(__file__).resolve().parent)  # where echo_worker lives
STAND_IN = "echo_worker"


def two_node_cluster(tmp_path: Path) -> Cluster:
    nodes = []
    for rank in range(2):
        base = tmp_path / f"node-{rank}"
        base.mkdir(exist_ok=True)
        nodes.append({"rank": rank, "ip": f"10.0.0.{rank + 1}", "base": str(base), "home": str(base),
                      "exec_prefix": ["sh", "-c"] if rank else None})
    (tmp_path / "node-0" / ".bashrc").write_text("echo a chatty bashrc on stdout\n")
    (tmp_path / "head").mkdir(exist_ok=True)
    raw = {"cluster_name": "c", "provider": "local", "user": "alice", "nodes": nodes,
           "resources": {"cpus": 2, "gpu_ids": {}}, "remove_on_down": [], "autostop_hooks": None}
    return Cluster(validate(raw))


def with_this_python(env: dict[int, dict[str, str]] | None = None, ranks: range = range(2)) -> dict[int, dict[str, str]]:
    """Per-rank variables that make `python` on the nodes this test run's (with its cloudpickle), as a pool's
    setup would install it."""
    import os
    import sys

    path = f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
    return {rank: {"PATH": path, **(env or {}).get(rank, {})} for rank in ranks}


def stand_in_env(ranks: range = range(2), **extra: str) -> dict[int, dict[str, str]]:
    """Per-rank variables that let each node's python find the stand-in worker."""
    return {rank: {"PYTHONPATH": HERE, **extra} for rank in ranks}


def marked(tmp_path: Path) -> list[int]:
    """Processes of the two nodes (they carry the node marker)."""
    return [pid for rank in range(2) for pid in marked_pids(NODE_MARKER, str(tmp_path / f"node-{rank}"))]


class StandInDaemon:
    """The daemon's side of a `functions` connection on a real Unix socket, running the stand-in worker.

    `answer` replaces the relay with a fixed error line (an agent that does not know the verb).
    """

    def __init__(self, tmp_path: Path, answer: str | None = None) -> None:
        self.cluster = two_node_cluster(tmp_path)
        self.layout = Layout(str(tmp_path / "head"))
        self.path = str(tmp_path / "agent.sock")
        self.answer = answer
        self.relays: list[Relay] = []
        self.connections: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.path)
        return sock

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.sendall(channel.greeting())
        request = json.loads(conn.makefile("rb").readline())
        if self.answer is not None:
            conn.sendall(json.dumps({"error": self.answer}).encode() + b"\n")
            conn.close()
            return
        slots, env = parse_input(request["input"])
        relay = Relay(self.layout, self.cluster, slots, env, worker_module=STAND_IN)
        self.relays.append(relay)
        try:
            workers = relay.start(timeout=60)
        except AgentError as error:
            conn.sendall(json.dumps({"error": str(error)}).encode() + b"\n")
            conn.close()
            return
        conn.sendall(json.dumps({"ok": {"workers": workers}}).encode() + b"\n")
        try:
            relay.serve(conn)
        finally:
            relay.close()
            conn.close()

    def drop_connections(self) -> None:
        """The head goes away under its sessions (its end of every connection closes)."""
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.drop_connections()
        for relay in self.relays:
            relay.close()


def remote_call(session, rank: int, fn, *args, timeout: float = 60):
    """`fn(*args)` on the worker of `rank`, as the pool's client sends it (a PUT of the function, a CALL); its value."""
    import hashlib
    import pickle
    import queue

    import cloudpickle

    from skyhop_agent import fnwire

    data = cloudpickle.dumps(fn)
    digest = hashlib.blake2b(data, digest_size=fnwire.DIGEST_SIZE).digest()
    answers: queue.Queue = queue.Queue()
    call_id = session.next_call_id()
    session.register(call_id, answers.put)
    on_lost = session.on_lost
    session.on_lost = lambda lost, reason: (on_lost(lost, reason), lost == rank and answers.put(fnwire.Frame(fnwire.LOST, lost, 0, reason.encode())))
    try:
        session.send(fnwire.PUT, rank, call_id, digest + data)
        session.send(fnwire.CALL, rank, call_id, pickle.dumps((digest.hex(), fnwire.MODE_CALL, args, {}, {"name": "f", "timeout": None})))
        frame = answers.get(timeout=timeout)
    finally:
        session.unregister(call_id)
        session.on_lost = on_lost
    assert frame.kind == fnwire.RESULT, (frame, frame.payload[:2000])
    return pickle.loads(frame.payload)


def worker_processes(marker_value_prefix: str) -> list[int]:
    """Live function workers (and the shells that start them) whose node marker starts with `marker_value_prefix`."""
    import os

    found = []
    needle = f"{NODE_MARKER}={marker_value_prefix}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if any(item.startswith(needle) for item in environ) and (b"fnworker" in cmdline or b"skyhop-node" in cmdline):
            found.append(int(entry))
    return found
