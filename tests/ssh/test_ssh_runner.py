"""SSHRunner against real sshd hosts in network namespaces."""

from __future__ import annotations

import subprocess

import pytest

from skyhop.execution.agent import AgentClient
from skyhop.providers.base import ClusterInfo, NodeInfo
from skyhop.providers.ssh.runner import HostUnreachable, SSHRunner, SSHTarget, control_dir, known_hosts_file


def target(host, **changes) -> SSHTarget:
    values = dict(host=host.ip, user=host.user, port=host.port, identity_file=host.identity_file)
    values.update(changes)
    return SSHTarget(**values)


def test_arguments_arrive_verbatim(ssh_hosts):
    runner = SSHRunner(target(ssh_hosts[0]))
    tricky = ["a b", "$HOME", "it's", "`touch /tmp/skyhop-pwned`", "semi;colon", "new\nline"]
    result = runner.run(["printf", "%s|", *tricky])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "|".join(tricky) + "|"


def test_exit_codes_stdin_and_streaming(ssh_hosts):
    runner = SSHRunner(target(ssh_hosts[1]))
    assert runner.run(["sh", "-c", "exit 7"]).returncode == 7
    assert runner.run(["cat"], input="piped\n").stdout == "piped\n"
    stream = runner.popen(["sh", "-c", "for i in 1 2 3; do echo line$i; done"])
    out, _ = stream.communicate(timeout=30)
    assert out.decode().split() == ["line1", "line2", "line3"] and stream.returncode == 0


def test_connection_is_shared_and_host_key_recorded(ssh_hosts):
    runner = SSHRunner(target(ssh_hosts[0]))
    runner.run(["true"])
    assert list(control_dir().iterdir()), "no ControlMaster socket"
    assert ssh_hosts[0].ip in known_hosts_file().read_text()
    runner.close()


def test_sync_up_directories_and_files(ssh_hosts, tmp_path):
    host = ssh_hosts[1]
    runner = SSHRunner(target(host))
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("a")
    (src / "gone.txt").write_text("x")
    (src / "pkg" / "__pycache__").mkdir()
    (src / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_text("bytecode")
    dest = f"{host.base_dir}/workdir with space"
    runner.sync_up(str(src), dest, delete=True)
    (src / "gone.txt").unlink()
    (src / "new.txt").write_text("n")
    runner.sync_up(str(src), dest, delete=True)
    listing = runner.run(["sh", "-c", 'cd "$1" && find . -type f | sort', "sh", dest]).stdout.split()
    assert listing == ["./new.txt", "./pkg/a.py"]  # a user's bytecode stays behind
    runner.sync_up(str(src), dest, delete=True, bytecode=True)  # the agent's own travels
    listing = runner.run(["sh", "-c", 'cd "$1" && find . -type f | sort', "sh", dest]).stdout.split()
    assert listing == ["./new.txt", "./pkg/__pycache__/a.cpython-311.pyc", "./pkg/a.py"]
    runner.sync_up(str(src / "new.txt"), f"{host.base_dir}/deep/dir/copy.txt")
    assert runner.run(["cat", f"{host.base_dir}/deep/dir/copy.txt"]).stdout == "n"


def test_unreachable_port_is_a_clear_error(ssh_hosts):
    with pytest.raises(HostUnreachable, match="Connection refused"):
        SSHRunner(target(ssh_hosts[0], port=2299)).run(["true"])


def test_wrong_key_is_a_clear_error(ssh_hosts, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(HostUnreachable, match="Permission denied.*identity_file"):
        SSHRunner(target(ssh_hosts[0], identity_file=str(other))).run(["true"])


def test_changed_host_key_is_refused(ssh_hosts, tmp_path):
    host = ssh_hosts[1]
    fake = tmp_path / "fake_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    known_hosts_file().write_text(f"{host.ip} {fake.with_suffix('.pub').read_text().split(' ', 2)[0]} {fake.with_suffix('.pub').read_text().split()[1]}\n")
    with pytest.raises(HostUnreachable, match="known_hosts"):
        SSHRunner(target(host, host_key_policy="yes")).run(["true"])


def test_the_node_agent_runs_a_job_over_ssh(ssh_hosts):
    """The remote path every provider reuses: install the agent over rsync, submit, follow, read status."""
    host = ssh_hosts[0]
    base = f"{host.base_dir}/agent-node"
    node = NodeInfo(0, host.ip, base)
    info = ClusterInfo("ssh", "remote", "pool", None, (node,), {"python": "python3"})
    agent = AgentClient(info, SSHRunner(target(host)))
    config = {
        "cluster_name": "remote", "provider": "ssh", "user": "root", "nodes": [node.to_json()],
        "resources": {"cpus": 1, "memory_gib": 1, "gpus": {}, "gpu_ids": {}}, "remove_on_down": [], "autostop_hooks": None,
    }
    agent.install(config)
    try:
        job_id = agent.submit({"name": "hi", "run": 'echo "rank $SKYPILOT_NODE_RANK on $SKYPILOT_NODE_IPS"', "envs": {}, "num_nodes": 1})["job_id"]
        stream = agent.logs(job_id, follow=True, record=True)
        try:
            out = b"".join(iter(lambda: stream.read1(65536), b""))
            record = stream.final_record()
        finally:
            stream.close()
        assert out.decode().strip() == f"rank 0 on {host.ip}"
        assert record is not None and record["status"] == "SUCCEEDED"
        assert agent.health()["daemon_alive"]
    finally:
        agent.call("self-stop")


def test_sync_up_honours_skyignore_and_keeps_symlinked_dirs(ssh_hosts, tmp_path):
    from sync_cases import EXPECTED, make_workdir

    from skyhop.execution.sync import ignore_file

    host = ssh_hosts[1]
    runner = SSHRunner(target(host))
    src = make_workdir(tmp_path / "src")
    dest = f"{host.base_dir}/ignored-workdir"
    for _ in range(2):
        runner.sync_up(str(src), dest, delete=True, exclude_from=ignore_file(str(src)))
    found = runner.run(["sh", "-c", 'cd "$1" && find . \\( -type f -o -type l \\) | sort', "sh", dest]).stdout.split()
    assert found == sorted(f"./{rel}" for rel in EXPECTED + ["gitonly.tmp"])
    assert runner.run(["readlink", f"{dest}/data-link"]).stdout.strip() == "data"
