"""Real SSH hosts on this machine: one Linux network namespace per host, each with its
own IP on a veth pair to the root namespace (whose ends share one bridge, so
hosts reach each other as machines on one LAN do) and its own `sshd`, started in a
private mount namespace where `/root` is the host's own home directory (so
`~/.ssh/authorized_keys` and `~/.skyhop-node` differ per host, as on real machines).

Used by the SSH tests through the `ssh_hosts` fixture, and by hand:

    python3 tests/netns_hosts.py up 2 --dir /tmp/skyhop-hosts     # prints the hosts as JSON
    ssh -i /tmp/skyhop-hosts/id_ed25519 root@10.213.X.2 true
    python3 tests/netns_hosts.py down --dir /tmp/skyhop-hosts

Only addresses created here are ever used (10.213.T.0/24, T a free octet
derived from the pid; .1 is the bridge, hosts from .2 to .31); everything is removed by `down`, which is also safe to run twice.
Needs root, `ip` (iproute2) and `sshd` (openssh-server): `tests/setup_system.sh`.

A host can also *adopt* a further address of the farm's /24 (`adopt`, `release`):
the cloud tests give each instance that an emulated cloud API reports (moto, the
replay servers) to a waiting host, so skyhop's unchanged SSH path reaches "the
instance" at the private IP the API answered. Addresses from .32 up are never
given to hosts by `up`, so the emulated clouds' subnets live there
(docs/architecture.md, "Cloud test boundary"). Each sshd listens on every address
of its own namespace, so an address added later is served at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SUBNET = "10.213"
FIRST_HOST = 2  # .1 is the bridge
LAST_HOST = 31  # .32 and up stay free for addresses hosts adopt (cloud subnets)


@dataclass(frozen=True)
class Host:
    name: str
    namespace: str
    ip: str
    port: int
    user: str
    identity_file: str
    base_dir: str  # a directory for skyhop's files outside the homes (visible from this namespace)
    home: str  # this host's home directory, as seen from the root namespace


def node_pool_config(hosts: list[Host], pool: str, extra: str = "") -> str:
    """`~/.skyhop/config.yaml` text with `hosts` as the SSH node pool `pool` (`extra`: more of its keys, indented lines).

    Each host gets a base directory of its own: the test hosts share one process table, and what ends a
    node's processes (`chaos preempt`, `down`) finds them by their node marker (the base directory), which
    would otherwise be the same on every host.
    """
    listed = ", ".join(f"{{ip: {h.ip}, base_dir: {h.base_dir}}}" for h in hosts)
    return f"ssh_node_pools:\n  {pool}:\n    user: {hosts[0].user}\n    identity_file: {hosts[0].identity_file}\n{extra}    hosts: [{listed}]\n"


def missing_requirements() -> str | None:
    """Why hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces); CI runs as root"
    if not shutil.which("ip"):
        return "needs iproute2 (`ip`); run tests/setup_system.sh"
    if not os.path.exists(SSHD):
        return "needs openssh-server (`sshd`); run tests/setup_system.sh"
    if not shutil.which("unshare"):
        return "needs util-linux (`unshare`)"
    if not shutil.which("ssh"):
        return "needs openssh-client (`ssh`); run tests/setup_system.sh"
    return None


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def _used_third_octets() -> set[int]:
    out = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    return {int(part.split(".")[2]) for part in out.split() if part.startswith(SUBNET + ".")}


def _sshd_config(workdir: Path, index: int) -> Path:
    config = workdir / f"sshd-{index}.conf"
    config.write_text(
        "\n".join(
            [
                # Every address of this host's own namespace (it has no other), including ones adopted later.
                "ListenAddress 0.0.0.0",
                "Port 22",
                f"HostKey {workdir / 'host_ed25519'}",
                f"PidFile {workdir / f'sshd-{index}.pid'}",
                f"AuthorizedKeysFile {workdir / 'authorized_keys'} .ssh/authorized_keys",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PrintMotd no",
                "MaxSessions 64",
                "MaxStartups 64:30:128",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    return config


def _wait_for_port(ip: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd on {ip}:{port} did not come up within {timeout} s")


def up(count: int, workdir: Path, without_python: tuple[int, ...] = ()) -> list[Host]:
    """Create `count` hosts; their state lives in `workdir` (for `down`).

    Hosts whose index is in `without_python` cannot run `python3` (its binary
    is covered by /dev/null in their mount namespace), like a minimal image.
    """
    if count > LAST_HOST - FIRST_HOST + 1:
        raise ValueError(f"at most {LAST_HOST - FIRST_HOST + 1} hosts per farm (.{FIRST_HOST}-.{LAST_HOST}); .{LAST_HOST + 1} and up are for adopted addresses")
    workdir.mkdir(parents=True, exist_ok=True)
    used = _used_third_octets()
    # Start from the pid so parallel test workers (different pids) pick different subnets.
    start = os.getpid() % 254
    third = next(t for t in [(start + k) % 254 + 1 for k in range(254)] if t not in used)
    tag = f"{third:02x}{os.getpid() % 4096:03x}"
    key = workdir / "id_ed25519"
    if not key.exists():
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "skyhop-test", "-f", str(key))
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / "host_ed25519"))
        shutil.copy(workdir / "id_ed25519.pub", workdir / "authorized_keys")
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation dir
    hosts: list[Host] = []
    state: dict = {"namespaces": [], "links": [], "processes": [], "devices": [], "prefix": f"{SUBNET}.{third}"}
    pid_files: list[Path] = []
    bridge = f"skb{tag}"
    try:
        _run("ip", "link", "add", bridge, "type", "bridge")
        state["links"].append(bridge)
        _run("ip", "addr", "add", f"{SUBNET}.{third}.1/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        for index in range(count):
            namespace, link = f"skh{tag}{index}", f"skv{tag}{index}"
            node_ip = f"{SUBNET}.{third}.{index + FIRST_HOST}"
            _run("ip", "netns", "add", namespace)
            state["namespaces"].append(namespace)
            _run("ip", "link", "add", link, "type", "veth", "peer", "name", f"{link}n")
            state["links"].append(link)
            _run("ip", "link", "set", f"{link}n", "netns", namespace)
            _run("ip", "link", "set", link, "master", bridge)
            _run("ip", "link", "set", link, "up")
            _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{node_ip}/24", "dev", f"{link}n")
            _run("ip", "netns", "exec", namespace, "ip", "link", "set", f"{link}n", "up")
            _run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
            state["devices"].append(f"{link}n")
            config = _sshd_config(workdir, index)
            log = workdir / f"sshd-{index}.log"
            base = workdir / f"host-{index}"
            home = workdir / f"home-{index}"
            base.mkdir(exist_ok=True)
            home.mkdir(mode=0o700, exist_ok=True)
            # sshd and every session it starts see `home` as /root.
            own_home = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
            if index in without_python:
                hide = 'for p in /usr/local/bin/python3 /usr/bin/python3; do [ -e "$p" ] && mount --bind /dev/null "$(readlink -f "$p")"; done; '
                own_home = hide + own_home
            _run("ip", "netns", "exec", namespace, "unshare", "--mount", "--propagation", "private",
                 "sh", "-c", own_home, "sh", str(home), os.path.expanduser("~root"), SSHD, "-f", str(config), "-E", str(log))
            pid_files.append(workdir / f"sshd-{index}.pid")
            hosts.append(Host(f"host-{index}", namespace, node_ip, 22, "root", str(key), str(base), str(home)))
        for host in hosts:
            _wait_for_port(host.ip, host.port)
    finally:
        state["processes"] = _started_sshds(pid_files)
        (workdir / "state.json").write_text(json.dumps(state))
    (workdir / "hosts.json").write_text(json.dumps([asdict(h) for h in hosts], indent=1))
    return hosts


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat): a pid plus this names one process, even after pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _started_sshds(pid_files: list[Path]) -> list[list]:
    """`[pid, start time]` of each sshd `up` started, from the pid files sshd writes once it has detached."""
    started = []
    for pid_file in pid_files:
        deadline, pid = time.monotonic() + 10, None
        while pid is None and time.monotonic() < deadline:
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        since = _start_time(pid) if pid is not None else None
        if since is not None:
            started.append([pid, since])
    return started


def down(workdir: Path) -> None:
    """Remove everything `up` made in `workdir`; idempotent.

    Only what `up` started is ended: the sshd processes it recorded (pid and
    start time, so a reused pid is left alone) and whatever runs inside the
    namespaces it created. Processes elsewhere on the machine are never
    touched, even when their command line mentions `workdir` (an ssh client
    of the user's that uses the farm's key keeps running until its connection
    to the vanished host times out).
    """
    try:
        state = json.loads((workdir / "state.json").read_text())
    except (OSError, ValueError):
        return
    for pid, since in state.get("processes", []):
        if _start_time(pid) == since:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    for namespace in state.get("namespaces", []):
        # Anything still running inside (jobs started over ssh) is part of the host and goes with it.
        pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
    for link in state.get("links", []):
        subprocess.run(["ip", "link", "del", link], capture_output=True)
    (workdir / "state.json").unlink(missing_ok=True)


def _adoptable(workdir: Path, ip: str) -> dict:
    """The farm's state, after checking that `ip` is an adoptable address of it."""
    state = json.loads((workdir / "state.json").read_text())
    prefix, _, last = ip.rpartition(".")
    if prefix != state["prefix"] or not last.isdigit() or not LAST_HOST < int(last) < 255:
        raise ValueError(f"{ip} is not an adoptable address of this farm ({state['prefix']}.{LAST_HOST + 1}-254)")
    return state


def _forget_neighbour(state: dict, ip: str) -> None:
    """Drop what the root namespace and every host cached about `ip`'s link address: a failed lookup
    (someone tried it before it was adopted) or the previous holder's MAC would otherwise
    stick for a while, where a new cloud instance is reachable at once."""
    subprocess.run(["ip", "neigh", "flush", "to", ip], capture_output=True)
    for namespace in state["namespaces"]:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "neigh", "flush", "to", ip], capture_output=True)


def adopt(workdir: Path, index: int, ip: str) -> None:
    """Give host `index` the further address `ip` (one `ip addr add`): its sshd serves it at once.

    /32, on the host's own interface: the bridge's /24 route in the root
    namespace already leads there, and Linux answers ARP for any local address,
    so the root namespace and the other hosts reach it with no route change
    (their neighbour caches are flushed for it). The address goes when the
    host's namespace does (`down`).
    """
    state = _adoptable(workdir, ip)
    _run("ip", "netns", "exec", state["namespaces"][index], "ip", "addr", "add", f"{ip}/32", "dev", state["devices"][index])
    _forget_neighbour(state, ip)


def release(workdir: Path, index: int, ip: str) -> None:
    """Take `ip` back from host `index`: the host drops what is sent to it, so connections to it fail."""
    state = _adoptable(workdir, ip)
    _run("ip", "netns", "exec", state["namespaces"][index], "ip", "addr", "del", f"{ip}/32", "dev", state["devices"][index])
    _forget_neighbour(state, ip)


def install_key(home: Path, public_key: str) -> None:
    """Let `public_key` log in as root on the host whose home directory is `home` (Host.home), as a
    cloud does with the key pair named at launch. Appended to that home's own authorized_keys."""
    if not public_key.startswith(("ssh-", "ecdsa-")) or "\n" in public_key.strip():
        raise ValueError("expected one OpenSSH public key line")
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    with keys.open("a") as handle:
        handle.write(public_key.strip() + "\n")
    keys.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SSH test hosts in network namespaces")
    sub = parser.add_subparsers(dest="verb", required=True)
    start = sub.add_parser("up")
    start.add_argument("count", type=int)
    start.add_argument("--dir", type=Path, required=True)
    start.add_argument("--without-python", type=int, nargs="*", default=[], metavar="INDEX", help="hosts that cannot run python3")
    stop = sub.add_parser("down")
    stop.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    problem = missing_requirements()
    if problem:
        print(f"Cannot make test hosts: {problem}", file=sys.stderr)
        return 2
    if args.verb == "up":
        print(json.dumps([asdict(h) for h in up(args.count, args.dir, tuple(args.without_python))], indent=1))
    else:
        down(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
