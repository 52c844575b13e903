"""SSH node pools end to end: the real CLI and server launching on namespace hosts.

Pool `a` is host 0 alone (cheaper); pool `b` is hosts 1 and 2. Everything on
the hosts is checked over SSH, as a user would check their own machines.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from e2e_support import Sky, serve_directory, wait_for

RENDEZVOUS = '''
import os, socket, sys, time
rank, world = int(os.environ["SKYPILOT_NODE_RANK"]), int(os.environ["SKYPILOT_NUM_NODES"])
head = os.environ["SKYPILOT_NODE_IPS"].split()[0]
if rank == 0:
    server = socket.create_server(("0.0.0.0", 29511))
    peers = [server.accept()[0] for _ in range(world - 1)]
    ranks = sorted(int(p.recv(16)) for p in peers)
    for p in peers:
        p.sendall(b"go")
    print("rendezvous ok: head saw ranks", ranks)
else:
    deadline = time.time() + 60
    while True:
        try:
            conn = socket.create_connection((head, 29511), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    conn.sendall(str(rank).encode())
    print("rendezvous ok: rank", rank, "got", conn.recv(16).decode())
'''


# Counts processes (on the whole machine: test hosts share one process table) whose argv shows the secret.
SCAN_ARGV = '''
import os
secret = os.environ["API_TOKEN"].encode()
seen = 0
for pid in os.listdir("/proc"):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            seen += secret in f.read()
    except OSError:
        pass
print("argv showing the secret:", seen, "| secret arrived:", secret == b"hunter2-gang")
'''


def pools_config(hosts, *, extra: str = "") -> str:
    a, b1, b2 = hosts[0], hosts[1], hosts[2]
    return f"""ssh_node_pools:
  a:
    price: 0.1
    cpus: 2
    memory_gib: 4
    user: {a.user}
    identity_file: {a.identity_file}
    hosts: [{a.ip}]
  b:
    price: 0.2
    cpus: 2
    memory_gib: 4
    user: {b1.user}
    identity_file: {b1.identity_file}
    hosts: [{b1.ip}, {b2.ip}]
{extra}"""


@pytest.fixture
def pools_sky(ssh_hosts, isolated_home, tmp_path, migrated_state_db):
    work = tmp_path / "work"
    work.mkdir()
    sky = Sky(isolated_home, work)
    sky.seed_state(migrated_state_db)
    (sky.skyhop_home / "config.yaml").write_text(pools_config(ssh_hosts))
    yield sky
    sky.teardown()


def on_host(host, script: str) -> subprocess.CompletedProcess:
    """Run a shell script on a test host over SSH, as its owner would."""
    argv = ["ssh", "-i", host.identity_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"{host.user}@{host.ip}", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


# Test hosts share one process table; a host's own processes are those in its mount namespace.
SKYHOP_PROCESSES = """python3 -c '
import os
mine = os.readlink("/proc/self/ns/mnt")
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit() and os.readlink(f"/proc/{pid}/ns/mnt") == mine and b"SKYHOP_NODE_BASE=" in open(f"/proc/{pid}/environ", "rb").read():
            print(pid, open(f"/proc/{pid}/cmdline", "rb").read().replace(bytes(1), b" ").decode())
    except OSError:
        pass
'"""


def processes(host) -> str:
    """`PID COMMAND` lines of the skyhop processes on the host."""
    return on_host(host, SKYHOP_PROCESSES).stdout


def assert_clean(host) -> None:
    """No skyhop process, file or key left on the host."""
    done = on_host(host, SKYHOP_PROCESSES + '; ls -d ~/.skyhop-node 2>/dev/null; grep -c skyhop-cluster ~/.ssh/authorized_keys 2>/dev/null; true')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("", "0"), f"left on {host.ip}:\n{done.stdout}"


def leases(sky) -> dict:
    """The host leases as the server's state store holds them."""
    from sqlalchemy import select

    from skyhop.state.models import HostLease
    from skyhop.state.store import StateStore

    with StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}") as store, store._read() as session:
        return {"hosts": dict(session.execute(select(HostLease.host, HostLease.cluster)).all())}


def test_two_node_gang_on_the_pool_that_fits(pools_sky, ssh_hosts, tmp_path):
    sky = pools_sky
    workdir = tmp_path / "project"
    workdir.mkdir()
    (workdir / "marker.txt").write_text("from-workdir")
    (workdir / "rendezvous.py").write_text(RENDEZVOUS)
    (workdir / "scan_argv.py").write_text(SCAN_ARGV)
    data = tmp_path / "config.txt"
    data.write_text("from-mount")
    task = sky.task("gang.yaml", f"""
name: gang
num_nodes: 2
resources:
  infra: ssh
workdir: {workdir}
file_mounts:
  ~/data/config.txt: {data}
secrets:
  API_TOKEN: hunter2-gang
run: |
  python3 scan_argv.py
  echo "rank=$SKYPILOT_NODE_RANK twin=$SKYHOP_NODE_RANK n=$SKYPILOT_NUM_NODES ips=$(echo $SKYPILOT_NODE_IPS | tr ' ' ,)"
  echo "rank=$SKYPILOT_NODE_RANK files=$(cat marker.txt),$(cat ~/data/config.txt)"
  python3 rendezvous.py
""")
    # The workers' owner has a key of their own, on a last line without a newline.
    own_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwnersOwnKeyOwnersOwnKeyOwnersOwnKey1234 owner@laptop"
    for host in ssh_hosts[1:3]:
        on_host(host, f"mkdir -p ~/.ssh && printf %s '{own_key}' > ~/.ssh/authorized_keys")
    launched = sky("launch", "-y", "-c", "gang", task, "--output", "json", check=True)
    assert "skyhop-cluster:gang:" in on_host(ssh_hosts[2], "cat ~/.ssh/authorized_keys").stdout
    result = json.loads(launched.out)
    ips = f"{ssh_hosts[1].ip},{ssh_hosts[2].ip}"  # pool b, head first
    for rank in (0, 1):
        assert f"(node-{rank}) rank={rank} twin={rank} n=2 ips={ips}" in launched.err
        assert f"(node-{rank}) rank={rank} files=from-workdir,from-mount" in launched.err
    for rank in (0, 1):
        assert f"(node-{rank}) argv showing the secret: 0 | secret arrived: True" in launched.err
    assert "hunter2" not in launched.out
    assert "(node-0) rendezvous ok: head saw ranks [1]" in launched.err and "(node-1) rendezvous ok: rank 1 got go" in launched.err
    # Why `a` was skipped: in the progress output and in the JSON plan.
    assert "pool 'a' has 1 free host(s) of 1; 2 needed" in launched.err
    plan = result["plan"]
    assert result["job_status"] == "SUCCEEDED" and plan["chosen"] == "ssh/b"
    skipped = {c["infra"]: c for c in plan["candidates"]}["ssh/a"]
    assert skipped["outcome"] == "skipped" and "1 free host(s) of 1; 2 needed" in skipped["reason"]
    assert f"\nrank=1 twin=1 n=2 ips={ips}\n" in sky("logs", "gang", "1", "--node", "1", "--no-follow", check=True).out  # unprefixed
    bad_node = sky("logs", "gang", "1", "--node", "2", "--no-follow")
    assert bad_node.code != 0 and "no node 2" in bad_node.err

    # One rank dies: the job fails and the other rank is stopped.
    sky("exec", "gang", "--num-nodes", "2", "-d", "sleep $((300 + SKYPILOT_NODE_RANK))", check=True)
    wait_for(lambda: "sleep 301" in processes(ssh_hosts[2]), 30, "rank 1 running on host 2")
    assert "sleep 300" in processes(ssh_hosts[1])
    pid = next(line.split()[0] for line in processes(ssh_hosts[2]).splitlines() if line.split(None, 1)[1].strip() == "sleep 301")
    on_host(ssh_hosts[2], f"kill {pid}")
    job = wait_for(lambda: (j := sky.jobs("gang")[2])["status"] == "FAILED" and j, 60, "the gang to fail")
    assert "node 1" in job["failure_reason"]
    wait_for(lambda: "sleep 300" not in processes(ssh_hosts[1]), 15, "rank 0 stopped")

    sky("down", "-y", "gang", check=True)
    for host in ssh_hosts[1:3]:
        assert_clean(host)
        assert on_host(host, "cat ~/.ssh/authorized_keys").stdout.strip() == own_key  # theirs untouched
        on_host(host, "rm -f ~/.ssh/authorized_keys")
    assert leases(sky)["hosts"] == {}


def test_every_pool_full_names_each_pool_and_its_reason(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "one", "--infra", "ssh/a", "echo one", check=True)
    sky("launch", "-y", "-c", "pair", "--infra", "ssh/b", "--num-nodes", "2", "-d", "sleep 1", check=True)
    none = sky("launch", "-y", "-c", "three", "--infra", "ssh", "echo never")
    assert none.code != 0
    assert "ssh/a" in none.err and "pool 'a' has 0 free host(s) of 1; 1 needed (in use by one)" in none.err
    assert "ssh/b" in none.err and "pool 'b' has 0 free host(s) of 2; 1 needed (in use by pair)" in none.err
    assert "three" not in sky.clusters()
    on_a = sky("exec", "one", 'echo "on $SKYPILOT_NODE_IPS"', check=True)
    assert f"on {ssh_hosts[0].ip}" in on_a.out


def test_stop_start_keeps_history_and_down_leaves_nothing(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "keep", "--infra", "ssh/a", "echo first", check=True)
    sky("stop", "-y", "keep", check=True)
    assert sky.clusters()["keep"]["status"] == "STOPPED"
    assert leases(sky)["hosts"] == {}  # a stopped cluster gives its host back
    assert processes(ssh_hosts[0]).strip() == ""
    sky("launch", "-y", "-c", "borrow", "--infra", "ssh/a", "echo borrowed", check=True)
    refused = sky("start", "keep")
    assert refused.code != 0 and "in use" in refused.err and "borrow" in refused.err
    sky("down", "-y", "borrow", check=True)
    sky("start", "keep", check=True)
    sky("exec", "keep", "echo second", check=True)
    assert sorted(sky.jobs("keep")) == [1, 2]
    sky("down", "-y", "keep", check=True)
    assert_clean(ssh_hosts[0])


def test_autostop_releases_hosts_with_no_client_running(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "idle", "--infra", "ssh/a", "-i", "0.02", "echo done", check=True)
    sky("api", "stop", check=True)  # nobody is watching from here on
    def stopped():
        return on_host(ssh_hosts[0], "test -e ~/.skyhop-node/idle/stopped").returncode == 0
    wait_for(stopped, 60, "the head agent to stop the cluster by itself")
    assert processes(ssh_hosts[0]).strip() == ""
    # The host is free for the next launch, and status catches up.
    sky("launch", "-y", "-c", "next", "--infra", "ssh/a", "echo next", check=True)
    rows = sky.json("status", "--refresh")
    assert {r["name"]: r["status"] for r in rows} == {"idle": "STOPPED", "next": "UP"}


def test_chaos_preempt_is_seen_by_refresh(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "spot", "--infra", "ssh/b", "--num-nodes", "2", "-d", "sleep $((400 + SKYPILOT_NODE_RANK))", check=True)
    wait_for(lambda: "sleep 401" in processes(ssh_hosts[2]), 30, "rank 1 running")
    preempted_at = time.monotonic()
    sky("chaos", "preempt", "spot", "--node", "1", check=True)
    assert "sleep 401" not in processes(ssh_hosts[2])
    row = sky.json("status", "spot", "--refresh")[0]
    assert time.monotonic() - preempted_at < 15
    assert row["status"] == "INIT" and "node 1" in row["status_reason"] and "preempted" in row["status_reason"]
    shown = sky("status", "--refresh", check=True).out
    assert "spot: INIT because node 1" in shown
    # The gang lost a member: rank 0 is stopped too, as on a real preemption.
    wait_for(lambda: "sleep 400" not in processes(ssh_hosts[1]), 30, "rank 0 stopped")
    refused = sky("exec", "spot", "echo")
    assert refused.code != 0 and "INIT" in refused.err
    sky("down", "-y", "spot", check=True)
    for host in ssh_hosts[1:3]:
        assert_clean(host)


def test_bad_input_is_a_clear_message_and_leaves_nothing(pools_sky, ssh_hosts, tmp_path):
    sky = pools_sky
    bare, good = ssh_hosts[3], ssh_hosts[0]
    wrong_key = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True)
    extra = f"""  nopython:
    user: root
    identity_file: {bare.identity_file}
    hosts: [{bare.ip}]
  badkey:
    user: root
    identity_file: {wrong_key}
    hosts: [{good.ip}]
  closed:
    user: root
    identity_file: {good.identity_file}
    hosts: [{{ip: {good.ip}, port: 2299}}]
"""
    (sky.skyhop_home / "config.yaml").write_text(pools_config(ssh_hosts, extra=extra))
    cases = {
        "ssh/nope": "ssh/nope",
        "ssh/nopython": "has no Python 3.8+",
        "ssh/badkey": "Permission denied",
        "ssh/closed": "Connection refused",
    }
    for infra, expected in cases.items():
        result = sky("launch", "-y", "-c", "bad", "--infra", infra, "echo never")
        assert result.code != 0 and expected in result.err, (infra, result.err)
    gpus = sky("launch", "-y", "-c", "bad", "--infra", "ssh/a", "--gpus", "H100:1", "echo never")
    assert gpus.code != 0 and "H100" in gpus.err
    assert sky.clusters() == {}
    assert leases(sky)["hosts"] == {}
    assert_clean(bare)
    assert_clean(good)


def test_url_mounts_are_fetched_by_the_host_itself(pools_sky, ssh_hosts, tmp_path):
    sky = pools_sky
    served = tmp_path / "served"
    served.mkdir()
    (served / "w.bin").write_bytes(b"w" * 1234)
    bridge = ssh_hosts[0].ip.rsplit(".", 1)[0] + ".1"  # this machine, as the hosts see it
    with serve_directory(served, bridge) as url:
        task = sky.task("fetch.yaml", f"file_mounts:\n  ~/w.bin: {url}/w.bin\nrun: wc -c < ~/w.bin\n")
        out = sky("launch", "-y", "-c", "fetch", "--infra", "ssh/a", task, check=True).out
        assert "1234" in out
    # A pool host is a machine of its own (`own_filesystem`): an absolute destination is its path,
    # unlike on local. /root is each namespace host's own home, so this lands on that host only.
    payload = tmp_path / "abs.txt"
    payload.write_text("absolute-ok")
    absolute = sky.task("abs.yaml", f"file_mounts:\n  /root/skyhop-abs-mount/x.txt: {payload}\nrun: cat /root/skyhop-abs-mount/x.txt\n")
    assert "absolute-ok" in sky("exec", "fetch", absolute, check=True).out
    assert on_host(ssh_hosts[0], "cat /root/skyhop-abs-mount/x.txt").stdout == "absolute-ok"
    assert not Path("/root/skyhop-abs-mount").exists()  # not this machine's own /root
    # The hosts have no AWS CLI: the message says what to install, and the new cluster is gone.
    task = sky.task("s3.yaml", "file_mounts:\n  /data: s3://some-bucket/dir/\nrun: echo never\n")
    result = sky("launch", "-y", "-c", "s3", "--infra", "ssh/b", task)
    assert result.code != 0 and "file_mounts./data: fetching s3://some-bucket/dir/ on node 0" in result.err
    assert "needs the AWS CLI (`aws`) there" in result.err
    assert "s3" not in sky.clusters() and leases(sky)["hosts"] == {"root@%s:22" % ssh_hosts[0].ip: "fetch"}


@pytest.mark.slow
def test_a_host_that_drops_off_the_network_is_seen_and_comes_back(pools_sky, ssh_hosts):
    sky = pools_sky
    sky("launch", "-y", "-c", "net", "--infra", "ssh/a", "echo hi", check=True)
    link = "skv" + ssh_hosts[0].namespace[3:]  # the root-side end of the host's veth (netns_hosts naming)
    subprocess.run(["ip", "link", "set", link, "down"], check=True)
    try:
        started = time.monotonic()
        row = sky.json("status", "net", "--refresh")[0]
        assert time.monotonic() - started < 15
        assert row["status"] == "INIT" and row["status_reason"].startswith(f"node 0 ({ssh_hosts[0].ip}): ")
        assert "did not answer" in row["status_reason"] or "Cannot reach" in row["status_reason"]
    finally:
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
    back = wait_for(lambda: (r := sky.json("status", "net", "--refresh")[0])["status"] == "UP" and r, 60, "the host to be back")
    assert back["status_reason"] is None
    assert "again" in sky("exec", "net", "echo again", check=True).out


def test_a_host_behind_a_jump_host(pools_sky, ssh_hosts):
    """Host 1 is unreachable from here (a blackhole route) but reachable from host 0, the bastion."""
    sky = pools_sky
    bastion, hidden = ssh_hosts[0], ssh_hosts[1]
    extra = f"""  behind:
    user: root
    identity_file: {hidden.identity_file}
    jump: root@{bastion.ip}:22
    hosts: [{hidden.ip}]
"""
    (sky.skyhop_home / "config.yaml").write_text(pools_config(ssh_hosts, extra=extra))
    subprocess.run(["ip", "route", "add", "blackhole", f"{hidden.ip}/32"], check=True)
    try:
        assert on_host(hidden, "true").returncode != 0  # really hidden from this machine
        out = sky("launch", "-y", "-c", "hop", "--infra", "ssh/behind", 'echo "on $(hostname -I)"', check=True).out
        assert hidden.ip in out
        sky("down", "-y", "hop", check=True)
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", f"{hidden.ip}/32"], check=True)
    assert_clean(hidden)
