"""Talking to the node agent on a cluster's head: install it, then call its verbs.

The agent prints one JSON object per verb (`logs` streams text) and reports
bad input as `{"error": ...}` on stderr with exit code 2; this module turns
those into records and `AgentError`s. The frequent verbs go to the agent's
daemon over the cluster's channel (execution/channel.py) when it answers
there, and run as a process on the head otherwise (an older agent, a daemon
that is down); both give the same records and errors.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from skyhop.errors import SkyhopError
from skyhop.execution import channel as channels
from skyhop.providers.base import ClusterInfo
from skyhop.providers.runner import CommandRunner
from skyhop_agent.nodeexec import NODE_MARKER

AGENT_DIR = "agent"  # under the head's base directory
#: Verbs safe to repeat on the process path when the channel broke after sending them.
_IDEMPOTENT = frozenset({"health", "queue", "status", "autostop"})
#: The agent's stderr after a log is one JSON record: more than this is not one.
STDERR_MAX = 4 * 1024 * 1024


class AgentError(SkyhopError):
    """The agent refused a request (unknown job, a job that can never fit, ...)."""


def agent_package() -> Path:
    import skyhop_agent

    return Path(skyhop_agent.__file__).resolve().parent


class AgentClient:
    def __init__(self, cluster: ClusterInfo, runner: CommandRunner) -> None:
        self.cluster = cluster
        self.runner = runner
        self.base = cluster.head.base
        self.python = cluster.python
        self.channel = channels.for_cluster(cluster, runner)

    def _argv(self, verb: str, *args: str) -> list[str]:
        root = f"{self.base}/{AGENT_DIR}"
        # The marker lets a provider find every process of this cluster on the node, detached ones too.
        # -S: the agent is standard library only and found through PYTHONPATH, so the node's
        # site-packages and .pth files (a fifth of a short verb's CPU) are skipped.
        return ["env", f"PYTHONPATH={root}", f"{NODE_MARKER}={self.base}", self.python, "-S", "-m", "skyhop_agent", "--base", self.base, verb, *args]

    def call(self, verb: str, *args: str, input: str | None = None, timeout: float = 60) -> dict[str, Any]:
        if self.channel is not None and verb in channels.protocol.VERBS:
            try:
                return self.channel.call(verb, list(args), input, timeout)
            except channels.ChannelDown:
                pass
            except channels.ChannelLost:
                if verb not in _IDEMPOTENT:
                    raise
        return self._call_process(verb, *args, input=input, timeout=timeout)

    def _call_process(self, verb: str, *args: str, input: str | None = None, timeout: float = 60) -> dict[str, Any]:
        try:
            result = self.runner.run(self._argv(verb, *args), input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SkyhopError(f"The node agent on '{self.cluster.cluster_name}' did not answer {verb} within {timeout:g} s.") from None
        except OSError as error:
            raise SkyhopError(f"Could not reach the node agent on '{self.cluster.cluster_name}' ({verb}): {error}.") from None
        if result.returncode == 0:
            try:
                return json.loads(result.stdout)
            except ValueError:
                raise SkyhopError(f"The node agent on '{self.cluster.cluster_name}' answered {verb} with something that is not JSON: {result.stdout[:200]!r}") from None
        refusal = _last_json_line(result.stderr, "error")
        message = str(refusal) if refusal is not None else f"exit code {result.returncode}: {_last_words(result.stderr or result.stdout) or 'no output (was the node lost?)'}"
        if result.returncode == 2:
            raise AgentError(message)
        raise SkyhopError(f"The node agent on '{self.cluster.cluster_name}' failed ({verb}): {message}")

    def install(self, config: Mapping[str, Any]) -> None:
        """Copy the agent to the head, byte-compile it, give it its cluster config and start its daemon.

        All but the copy in one agent process (its config on stdin): each step used to be a
        process of its own on the head (compileall, a shell writing the config, init,
        daemon-start), each a Python start and, over SSH, a round trip, on every launch and start.
        """
        # With its bytecode where there is some: `--compile` then only checks it (0.05 CPU s instead of 0.12).
        self.runner.sync_up(str(agent_package()), f"{self.base}/{AGENT_DIR}/skyhop_agent", delete=True, bytecode=True)
        self.call("init", "--config", "-", "--compile", "--start-daemon", input=json.dumps(dict(config)))

    def ship_cloudpickle(self) -> str | None:
        """Put this process's cloudpickle beside the agent on the head; its version, or None without one here.

        Function calls (skyhop/functions) pickle with cloudpickle on both ends, and pickles of
        functions do not cross its major versions: the nodes' own (if any) may be another, and a
        node may have no network to install one. The worker finds this copy first on its path
        (the relay hands it to the other nodes with the agent). At every session's open, not
        once per cluster: a relaunch under the same name and address is a new machine, which no
        memo here could tell from the old one (an rsync of unchanged files is one round trip).
        """
        try:
            import cloudpickle
        except ImportError:
            return None
        source = str(Path(cloudpickle.__file__).resolve().parent)
        self.runner.sync_up(source, f"{self.base}/{AGENT_DIR}/cloudpickle", delete=True)
        return str(cloudpickle.__version__)

    def submit(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a job; its record as the agent stored it (job id, status, times)."""
        reply = self.call("submit", "--spec", "-", input=json.dumps(dict(spec)))
        if "job" not in reply:  # an agent installed by an older skyhop answers with the id only
            return self.jobs([int(reply["job_id"])])[0]
        return reply["job"]

    def jobs(self, job_ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        if job_ids:
            return self.call("status", *map(str, job_ids))["jobs"]
        return self.call("queue")["jobs"]

    def cancel(self, job_ids: Sequence[int] = (), *, all_jobs: bool = False) -> dict[str, Any]:
        return self.call("cancel", *(["--all"] if all_jobs else [str(j) for j in job_ids]))

    def stop_jobs(self, timeout: float = 60) -> None:
        self.call("stop-jobs", timeout=timeout)

    def autostop(self, idle_minutes: float | None, down: bool) -> None:
        if idle_minutes is None:
            self.call("autostop", "--cancel")
        else:
            self.call("autostop", "--idle-minutes", f"{idle_minutes:g}", *(["--down"] if down else []))

    def health(self) -> dict[str, Any]:
        return self.call("health", timeout=20)

    def logs(self, job_id: int, *, follow: bool, tail: int | None = None, record: bool = False, node: int | None = None) -> "LogStream":
        """The job's log (or one node's), as it is written; with `record`, its final record afterwards."""
        args = [str(job_id)] + (["--follow"] if follow else []) + (["--tail", str(tail)] if tail is not None else [])
        args += ["--node", str(node)] if node is not None else []
        if self.channel is not None:
            try:
                sock, _ = self.channel.stream("logs", args)
            except (channels.ChannelDown, channels.ChannelLost):
                pass  # reading a log twice is harmless: the process path starts it afresh
            else:
                return SocketLogStream(sock, (lambda: self.jobs([job_id])[0]) if record else None)
        return ProcessLogStream(self.runner.popen(self._argv("logs", *args, *(["--record"] if record else []))))


class LogStream(Protocol):
    """A job's log as it comes: raw bytes on `fileno()` (end of file when the log ends)."""

    def fileno(self) -> int:
        """Readable; set it non-blocking to poll it."""

    def read1(self, size: int) -> bytes:
        """What has arrived, at most `size` bytes, waiting for some; b"" at the end."""

    def final_record(self) -> dict[str, Any] | None:
        """After the end: the job's record, when it was asked for and could be had."""

    def stop(self) -> None:
        """Stop following (from any thread): the reader sees the end soon."""

    def close(self) -> None:
        """Stop and release the stream's process or connection."""


class ProcessLogStream:
    """`logs` run as a process on the head: the log on its stdout, the record on its stderr."""

    def __init__(self, process: "subprocess.Popen[bytes]") -> None:
        assert process.stdout is not None and process.stderr is not None
        self.process = process
        self.stdout = process.stdout

    def fileno(self) -> int:
        return self.stdout.fileno()

    def read1(self, size: int) -> bytes:
        return self.stdout.read1(size)  # type: ignore[attr-defined]  # a BufferedReader

    def final_record(self) -> dict[str, Any] | None:
        assert self.process.stderr is not None
        return final_record(self.process.stderr.read(STDERR_MAX))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()

    def close(self) -> None:
        self.stop()
        self.process.wait()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


class SocketLogStream:
    """`logs` answered by the daemon on the channel: the bytes after the reply line; the record by a `status` call."""

    def __init__(self, sock: socket.socket, record: "Callable[[], dict[str, Any]] | None") -> None:
        self.sock = sock
        self._record = record

    def fileno(self) -> int:
        return self.sock.fileno()

    def read1(self, size: int) -> bytes:
        try:
            return self.sock.recv(size)
        except OSError:
            return b""  # stopped from another thread, or the connection broke: the end either way

    def final_record(self) -> dict[str, Any] | None:
        if self._record is None:
            return None
        try:
            return self._record()
        except SkyhopError:
            return None

    def stop(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.stop()
        self.sock.close()


def _last_words(output: str) -> str:
    """What a crashed agent said, for a user: a traceback's last line (the error), not the traceback."""
    text = output.strip()
    if "Traceback (most recent call last)" in text:
        return text.splitlines()[-1][-500:]
    return text[-500:]


def final_record(stderr: bytes) -> dict[str, Any] | None:
    """The `{"job": record}` line `logs --record` ends with, if it got that far."""
    record = _last_json_line(stderr.decode(errors="replace"), "job")
    return record if isinstance(record, dict) else None


def _last_json_line(stderr: str, key: str) -> Any:
    """`value` of the last stderr line that is a JSON object `{key: value}` (the agent's side channel)."""
    for line in reversed(stderr.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and key in data:
            return data[key]
    return None
