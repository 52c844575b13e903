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
