"""One channel per cluster from this process to its agent daemon's socket.

The daemon answers the frequent verbs (status, queue, submit, health, cancel,
log following) on `BASE/agent.sock` (see skyhop_agent/channel.py for the
protocol), so a call is a connection, not a Python start on the head. Local
clusters connect to the socket itself; SSH runners (pools and clouds) forward
it over their existing ControlMaster connection, so each call is one more
channel in the open SSH connection. Every caller in the process shares one
`Channel` per cluster; a call opens its own connection, so nothing is held
between calls (no fd, no process) and a restarted daemon or SSH master is
simply found again on the next call.

A channel that does not answer with the daemon's greeting raised `ChannelDown`
before anything was sent, and the caller falls back to the process path (an
agent installed by an older skyhop, a daemon that is down). After such a
failure the channel is not tried again for `RETRY_S`, so a cluster without a
socket costs one failed connect per period, not one per call.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from skyhop.errors import SkyhopError
from skyhop.providers.base import ClusterInfo
from skyhop.providers.runner import CommandRunner, SocketForwarding
from skyhop_agent import channel as protocol

log = logging.getLogger(__name__)

DISABLE_VAR = "SKYHOP_AGENT_CHANNEL"
SOCKET_NAME = "agent.sock"  # skyhop_agent.paths.Layout.channel_socket
CONNECT_TIMEOUT_S = 10.0
RETRY_S = 5.0
#: The longest reply line (a queue of many jobs).
MAX_REPLY = 256 * 1024 * 1024
_GREETING_MAX = 4096


class ChannelDown(Exception):
    """The channel is not there (nothing was sent): use the process path."""


class ChannelLost(SkyhopError):
    """The connection broke after the request went out: whether it took effect is unknown."""


class Channel:
    def __init__(self, name: str, runner: SocketForwarding, remote_path: str) -> None:
        self.name = name
        self.runner = runner
        self.remote_path = remote_path
        self._lock = threading.Lock()
        self._local: str | None = None
        self._generation = 0
        self._down_until = 0.0
        #: Calls answered on the channel and calls that had to fall back (for tests and benchmarks).
        self.served = 0
        self.fell_back = 0

    def call(self, verb: str, args: list[str], input: str | None, timeout: float) -> Any:
        """The verb's result; AgentError for a refusal, ChannelDown when nothing was sent."""
        sock = self._open(verb, args, input, timeout)
        try:
            data = _read_all(sock, MAX_REPLY)
        except OSError as error:
            raise ChannelLost(f"The connection to the node agent on '{self.name}' broke during {verb}: {error}.") from None
        finally:
            sock.close()
        return _answer(self.name, verb, data.partition(b"\n")[0])

    def stream(self, verb: str, args: list[str]) -> tuple[socket.socket, Any]:
        """A connection positioned after the reply line (the log bytes follow), and the reply's result."""
        sock = self._open(verb, args, None, CONNECT_TIMEOUT_S * 3)
        try:
            header = _read_line(sock, _GREETING_MAX)
            result = _answer(self.name, verb, header)
        except OSError as error:
            sock.close()
            raise ChannelLost(f"The connection to the node agent on '{self.name}' broke during {verb}: {error}.") from None
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return sock, result

    def close(self) -> None:
        """Drop the forward (the cluster is gone)."""
        with self._lock:
            self._local = None
        try:
            self.runner.close_forward(self.remote_path)
        except (SkyhopError, OSError):
            pass

    def _open(self, verb: str, args: list[str], input: str | None, timeout: float) -> socket.socket:
        """Connected, greeted, request sent; ChannelDown if the daemon did not greet us."""
        if time.monotonic() < self._down_until:
            self.fell_back += 1
            raise ChannelDown(f"{self.name}: channel down")
        request = json.dumps({"verb": verb, "args": args, "input": input}).encode() + b"\n"
        generation = -1
        for renew in (False, True):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(CONNECT_TIMEOUT_S)
                path, generation = self._path(renew, generation)
                protocol.connect(sock, path)
                hello = json.loads(_read_line(sock, _GREETING_MAX))
                if not isinstance(hello, dict) or hello.get("protocol") != protocol.PROTOCOL:
                    raise ValueError(f"unknown greeting {hello!r}")
            except (OSError, ValueError, SkyhopError):
                sock.close()
                continue
            try:
                sock.settimeout(timeout)
                sock.sendall(request)
            except OSError as error:
                sock.close()
                raise ChannelLost(f"The connection to the node agent on '{self.name}' broke while sending {verb}: {error}.") from None
            self.served += 1
            return sock
        self._down_until = time.monotonic() + RETRY_S
        self.fell_back += 1
        log.info("the agent of %s did not answer on its socket; agent verbs run as processes for %g s", self.name, RETRY_S)
        raise ChannelDown(f"{self.name}: the agent did not answer on its socket")

    def local_path(self, *, renew: bool = False) -> str:
        """The path on this machine whose connections reach the daemon's socket (for a functions
        session, which connects itself); `renew` sets the forward up again first."""
        with self._lock:
            failed = self._generation
        return self._path(renew, failed)[0]

    def _path(self, renew: bool, failed: int) -> tuple[str, int]:
        """The local socket path and its generation; `renew` sets it up again unless another
        caller did since generation `failed` (a burst of failures renews once, not once each)."""
        with self._lock:
            if self._local is None or (renew and self._generation == failed):
                self._local = None
                self._local = self.runner.forward_socket(self.remote_path, renew=renew)
                self._generation += 1
            return self._local, self._generation


def _read_line(sock: socket.socket, limit: int) -> bytes:
    """One line, without reading past it (the bytes after it belong to the caller).

    Peeks first, then takes exactly the line: the greeting and a log's header
    line are short, so this is a couple of syscalls.
    """
    while True:
        peeked = sock.recv(limit, socket.MSG_PEEK)
        if not peeked:
            raise ConnectionResetError("closed before a complete line")
        end = peeked.find(b"\n")
        if end >= 0:
            return _recv_exactly(sock, end + 1)[:-1]
        if len(peeked) >= limit:
            raise ValueError(f"a line longer than {limit} bytes")
        time.sleep(0.001)  # part of the line has come; wait for the rest


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("closed mid-line")
        data += chunk
    return bytes(data)


def _read_all(sock: socket.socket, limit: int) -> bytes:
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limit:
            raise ConnectionResetError(f"the reply is longer than {limit} bytes")


def _answer(name: str, verb: str, line: bytes) -> Any:
    from skyhop.execution.agent import AgentError

    try:
        reply = json.loads(line)
    except ValueError:
        raise ChannelLost(f"The node agent on '{name}' answered {verb} on its socket with something that is not JSON: {line[:200]!r}") from None
    if isinstance(reply, dict) and "ok" in reply:
        return reply["ok"]
    if isinstance(reply, dict) and isinstance(reply.get("error"), str):
        raise AgentError(reply["error"])
    raise ChannelLost(f"The node agent on '{name}' gave {verb} an answer of an unknown shape: {line[:200]!r}")


_channels: dict[tuple[str, str, str], Channel] = {}
_channels_lock = threading.Lock()


def for_cluster(cluster: ClusterInfo, runner: CommandRunner) -> Channel | None:
    """The cluster's shared channel, or None when its runner cannot reach a socket.

    `SKYHOP_AGENT_CHANNEL=off` turns channels off (every verb a process on the
    head, as before): an escape hatch, and the benchmarks' baseline.
    """
    if not isinstance(runner, SocketForwarding) or os.environ.get(DISABLE_VAR, "").lower() == "off":
        return None
    key = (cluster.cluster_name, cluster.head.ip, cluster.head.base)
    with _channels_lock:
        found = _channels.get(key)
        if found is None:
            found = _channels[key] = Channel(cluster.cluster_name, runner, f"{cluster.head.base}/{SOCKET_NAME}")
        return found


def drop(cluster_name: str) -> None:
    """Forget the channels of a cluster that was stopped or removed (a relaunch makes a new one)."""
    with _channels_lock:
        gone = [key for key in _channels if key[0] == cluster_name]
        channels = [_channels.pop(key) for key in gone]
    for found in channels:
        found.close()
