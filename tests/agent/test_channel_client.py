"""AgentClient over a local head's channel: the same answers as the process path, fallback, restarts, no leaks."""

from __future__ import annotations

import json
import os
import threading
from typing import Iterator

import pytest
from channel_support import AWKWARD_OUTPUT, child_processes, installed_agent, open_fds, read_all, shutdown, without_channel

from skyhop.execution import channel as channels
from skyhop.execution.agent import AgentClient, AgentError, ProcessLogStream, SocketLogStream
from skyhop.providers.runner import LocalRunner


@pytest.fixture
def agent(tmp_path) -> Iterator[AgentClient]:
    # A long base on purpose: the socket path is beyond sun_path's 108 bytes, reached through the directory.
    base = tmp_path / ("b" * 80) / "node-0"
    base.mkdir(parents=True)
    client = installed_agent(LocalRunner(), str(base))
    try:
        yield client
    finally:
        shutdown(client)


def test_verbs_go_over_the_channel_and_answer_as_processes_do(agent: AgentClient) -> None:
    assert agent.channel is not None
    job = agent.submit({"name": "one", "run": "echo hi"})
    assert job["name"] == "one" and agent.channel.served == 1
    plain = without_channel(agent)
    stream = agent.logs(job["job_id"], follow=True, record=True)
    assert isinstance(stream, SocketLogStream)
    assert read_all(stream)[0] == b"hi\n"
    assert agent.jobs([job["job_id"]]) == plain.jobs([job["job_id"]])
    assert agent.jobs() == plain.jobs()
    assert agent.health()["channel"] is True and "channel" not in plain.health()
    with pytest.raises(AgentError) as refused:
        agent.jobs([999])
    with pytest.raises(AgentError) as refused_by_process:
        plain.jobs([999])
    assert str(refused.value) == str(refused_by_process.value)
    assert agent.cancel([job["job_id"]]) == plain.cancel([job["job_id"]])
    assert agent.channel.fell_back == 0


def test_logs_are_byte_identical_to_the_process_path(agent: AgentClient) -> None:
    job_id = agent.submit({"run": AWKWARD_OUTPUT})["job_id"]
    followed = agent.logs(job_id, follow=True, record=True)
    assert isinstance(followed, SocketLogStream)
    data, sizes = read_all(followed)
    assert max(sizes) <= 65536
    old = without_channel(agent).logs(job_id, follow=True, record=True)
    assert isinstance(old, ProcessLogStream)
    assert read_all(old)[0] == data and data.endswith(b"\r3%\nend") and len(data) > 204800
    for kwargs in ({"tail": 1}, {"node": 0}, {"tail": 0}):
        assert read_all(agent.logs(job_id, follow=False, **kwargs))[0] == read_all(without_channel(agent).logs(job_id, follow=False, **kwargs))[0]


def test_final_record_comes_with_the_follow(agent: AgentClient) -> None:
    job_id = agent.submit({"run": "exit 3"})["job_id"]
    stream = agent.logs(job_id, follow=True, record=True)
    read_all(stream)
    record = stream.final_record()
    assert record is not None and (record["status"], record["exit_code"]) == ("FAILED", 3)


def test_stopping_a_follow_from_another_thread_ends_the_read(agent: AgentClient) -> None:
    job_id = agent.submit({"run": "echo start; sleep 300"})["job_id"]
    stream = agent.logs(job_id, follow=True)
    assert stream.read1(65536) == b"start\n"
    threading.Thread(target=stream.stop).start()
    assert stream.read1(65536) == b""  # returns once stopped, although the job prints nothing more
    stream.close()
    agent.cancel([job_id])


def test_a_daemon_without_a_socket_falls_back_and_a_restarted_one_is_found_again(agent: AgentClient, monkeypatch) -> None:
    assert agent.channel is not None
    monkeypatch.setattr(channels, "RETRY_S", 0.0)
    agent.call("daemon-stop")  # not a socket verb: always a process
    assert agent.jobs() == []  # no daemon: the process path answers
    assert agent.channel.fell_back == 1
    assert agent.health()["daemon_alive"] is False
    agent.call("daemon-start")
    served = agent.channel.served
    assert agent.health()["daemon_alive"] is True
    assert agent.channel.served == served + 1
    # An agent from before the channel has a daemon but no socket: the same fallback.
    os.unlink(os.path.join(agent.cluster.head.base, "agent.sock"))
    job = agent.submit({"run": "true"})
    assert job["job_id"] == 1 and agent.channel.fell_back == 3


def test_a_hundred_calls_leak_no_fd_and_no_process(agent: AgentClient) -> None:
    job_id = agent.submit({"run": "echo x"})["job_id"]
    read_all(agent.logs(job_id, follow=True))
    fds, children = open_fds(), child_processes()
    for i in range(100):
        [agent.jobs, agent.health, lambda: agent.jobs([job_id]), lambda: read_all(agent.logs(job_id, follow=False))][i % 4]()
    assert open_fds() == fds
    assert child_processes() == children
    assert agent.channel is not None and agent.channel.fell_back == 0


def test_channels_are_shared_per_cluster_and_dropped_with_it(agent: AgentClient) -> None:
    again = AgentClient(agent.cluster, LocalRunner())
    assert again.channel is agent.channel
    channels.drop(agent.cluster.cluster_name)
    assert AgentClient(agent.cluster, LocalRunner()).channel is not agent.channel


def test_the_channel_can_be_turned_off(agent: AgentClient, monkeypatch) -> None:
    monkeypatch.setenv(channels.DISABLE_VAR, "off")
    plain = AgentClient(agent.cluster, LocalRunner())
    assert plain.channel is None
    assert json.dumps(plain.jobs()) == "[]"
