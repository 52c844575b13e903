"""The agent channel over SSH: a forwarded socket through the ControlMaster, on real sshd hosts."""

from __future__ import annotations

import os
import subprocess
from typing import Iterator

import pytest
from channel_support import AWKWARD_OUTPUT, child_processes, installed_agent, open_fds, read_all, shutdown, without_channel

from skyhop.execution import channel as channels
from skyhop.execution.agent import AgentClient, SocketLogStream
from skyhop.providers.ssh.runner import SSHRunner, SSHTarget, control_dir


@pytest.fixture
def agent(ssh_hosts, tmp_path) -> Iterator[AgentClient]:
    host = ssh_hosts[0]
    runner = SSHRunner(SSHTarget(host.ip, user=host.user, port=host.port, identity_file=host.identity_file))
    client = installed_agent(runner, f"{host.base_dir}/channel-{tmp_path.name}"[:90], ip=host.ip, python="python3")
    try:
        yield client
    finally:
        shutdown(client)


def _agent_processes(base: str) -> list[int]:
    """Processes on the host (the namespaces share this machine's pid space) running a verb for `base`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"skyhop_agent" in argv and base.encode() in argv and b"daemon" not in argv:
            found.append(int(pid))
    return found


def test_calls_are_streams_in_the_master_not_processes_on_the_node(agent: AgentClient) -> None:
    assert agent.channel is not None
    job = agent.submit({"run": "echo over ssh; sleep 1"})
    stream = agent.logs(job["job_id"], follow=True, record=True)
    assert isinstance(stream, SocketLogStream)
    # While the follow runs, no agent process serves it (only the job's driver, a `run-job`).
    assert [pid for pid in _agent_processes(agent.base) if b"run-job" not in open(f"/proc/{pid}/cmdline", "rb").read()] == []
    assert read_all(stream)[0] == b"over ssh\n"
    assert stream.final_record()["status"] == "SUCCEEDED"
    assert agent.jobs() == without_channel(agent).jobs()
    assert agent.health()["channel"] is True
    assert agent.channel.fell_back == 0
    forwarded = agent.channel._local
    assert forwarded is not None and os.path.dirname(forwarded) == str(control_dir())


def test_logs_over_ssh_are_byte_identical(agent: AgentClient) -> None:
    job_id = agent.submit({"run": AWKWARD_OUTPUT})["job_id"]
    data, sizes = read_all(agent.logs(job_id, follow=True))
    assert max(sizes) <= 65536 and len(data) > 204800
    assert read_all(without_channel(agent).logs(job_id, follow=True))[0] == data


def test_a_restarted_master_and_daemon_are_found_again(agent: AgentClient, monkeypatch) -> None:
    assert agent.channel is not None and isinstance(agent.runner, SSHRunner)
    monkeypatch.setattr(channels, "RETRY_S", 0.0)
    agent.jobs()
    agent.runner.close()  # the ControlMaster exits, and its forward with it
    assert agent.jobs() == []
    agent.call("daemon-stop")
    assert agent.health()["daemon_alive"] is False  # the process path, the socket being gone
    fell_back = agent.channel.fell_back
    assert fell_back >= 1
    agent.call("daemon-start")
    served = agent.channel.served
    assert agent.health()["channel"] is True
    assert agent.channel.served == served + 1 and agent.channel.fell_back == fell_back


def test_a_hundred_calls_start_nothing_here(agent: AgentClient) -> None:
    agent.jobs()  # the master and the forward exist from here on
    fds, children = open_fds(), child_processes()
    for i in range(100):
        (agent.jobs if i % 2 else agent.health)()
    assert open_fds() == fds
    assert child_processes() == children
    assert agent.channel is not None and agent.channel.fell_back == 0


def test_dropping_the_channel_removes_the_forward(agent: AgentClient) -> None:
    agent.jobs()
    assert agent.channel is not None
    forwarded = agent.channel._local
    assert forwarded is not None and os.path.exists(forwarded)
    channels.drop(agent.cluster.cluster_name)
    assert not os.path.exists(forwarded)
    done = subprocess.run(["ssh", *agent.runner.ssh_options(), "-O", "check", agent.runner.target.destination], capture_output=True)  # type: ignore[attr-defined]
    assert done.returncode == 0  # the shared connection itself stays for other commands
