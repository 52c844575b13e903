"""Helpers for the agent-channel tests on local and SSH heads: an installed agent, log reading, leak counts."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from skyhop.execution import channel as channels
from skyhop.execution.agent import AgentClient, LogStream
from skyhop.providers.base import ClusterInfo, NodeInfo
from skyhop.providers.runner import CommandRunner

#: Not UTF-8, a 200 KiB line without a newline, a `\r` progress bar, a last line without a newline.
AWKWARD_OUTPUT = r"""printf 'caf\351 \377\n'; head -c 204800 /dev/zero | tr '\0' x; printf '\n'
for i in 1 2 3; do printf '\r%s%%' $i; sleep 0.1; done; printf '\nend'"""


def installed_agent(runner: CommandRunner, base: str, ip: str = "127.0.0.1", python: str = sys.executable) -> AgentClient:
    """A one-node cluster with a fresh name (so a fresh channel) whose agent and daemon run at `base`."""
    name = f"ch-{uuid.uuid4().hex[:8]}"
    node = NodeInfo(0, ip, base)
    info = ClusterInfo("test", name, None, None, (node,), python=python)
    agent = AgentClient(info, runner)
    agent.install({
        "cluster_name": name, "provider": "test", "user": "alice", "nodes": [node.to_json()],
        "resources": {"cpus": 2, "memory_gib": 1, "gpus": {}, "gpu_ids": {}}, "remove_on_down": [], "autostop_hooks": None,
    })
    return agent


def without_channel(agent: AgentClient) -> AgentClient:
    """The same cluster through the process-per-verb path."""
    other = AgentClient(agent.cluster, agent.runner)
    other.channel = None
    return other


def read_all(stream: LogStream) -> tuple[bytes, list[int]]:
    """The whole log and the size of each chunk it came in; the stream is closed after."""
    chunks = []
    try:
        for chunk in iter(lambda: stream.read1(65536), b""):
            chunks.append(chunk)
    finally:
        stream.close()
    return b"".join(chunks), [len(c) for c in chunks]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def child_processes() -> list[str]:
    """This process's children, from every thread (subprocess children hang off the thread that made them)."""
    return [c for task in os.listdir("/proc/self/task") for c in Path(f"/proc/self/task/{task}/children").read_text().split()]


def shutdown(agent: AgentClient) -> None:
    agent._call_process("self-stop")
    channels.drop(agent.cluster.cluster_name)
