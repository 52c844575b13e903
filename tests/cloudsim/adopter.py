"""Machines behind an emulated cloud API: namespace hosts that take on the instances' addresses.

No emulator here creates machines (moto, the replay servers). When one reports a
new instance, it hands the instance's private address and the public key the
launch named to `Adopter.adopt`: a waiting namespace host (tests/netns_hosts.py)
adds the address to its interface and accepts the key, so skyhop's unchanged
SSH path reaches "the instance" there. `pause`/`resume` model stop and start (the
address goes away and comes back on the same host, whose disk kept its files,
while its processes are ended as a stopped VM's are); `release` models
termination (the host goes back to the pool with nothing of the cluster left
running).

The addresses emulated clouds hand out come from `allocate`: the farm's /24 from
.32 up, which no host holds (netns_hosts.LAST_HOST).
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from netns_hosts import LAST_HOST, Host, adopt, install_key, release


class NoFreeHost(RuntimeError):
    """More instances than the farm has hosts: the test asked for too many machines."""


class Adopter:
    def __init__(self, workdir: Path, hosts: list[Host]) -> None:
        self.workdir = workdir
        self.hosts = hosts
        self.prefix = hosts[0].ip.rpartition(".")[0]
        self._lock = threading.Lock()
        self._free = list(range(len(hosts)))
        self._held: dict[str, int] = {}  # address -> host index
        self._paused: set[str] = set()
        self._next = LAST_HOST + 1

    def allocate(self) -> str:
        """A fresh instance address in the farm's /24 (never a host's own, never given twice)."""
        with self._lock:
            if self._next > 254:
                raise NoFreeHost("the farm's /24 has no instance addresses left")
            ip = f"{self.prefix}.{self._next}"
            self._next += 1
            return ip

    def adopt(self, ip: str, public_key: str | None) -> Host:
        """Give `ip` to a free host that accepts `public_key`; the host it went to."""
        with self._lock:
            if not self._free:
                raise NoFreeHost(f"no free namespace host for {ip}: all {len(self.hosts)} hold instances")
            index = self._free.pop(0)
            self._held[ip] = index
        host = self.hosts[index]
        if public_key:
            install_key(Path(host.home), public_key)
        adopt(self.workdir, index, ip)
        return host

    def host_of(self, ip: str) -> Host | None:
        with self._lock:
            index = self._held.get(ip)
        return None if index is None else self.hosts[index]

    def pause(self, ip: str) -> None:
        """A stopped instance: unreachable, its processes gone, its files kept."""
        with self._lock:
            index = self._held.get(ip)
            if index is None or ip in self._paused:
                return
            self._paused.add(ip)
        self._end_processes(index)
        release(self.workdir, index, ip)

    def resume(self, ip: str) -> None:
        """A started instance: the same host answers at the same address again."""
        with self._lock:
            index = self._held.get(ip)
            if index is None or ip not in self._paused:
                return
            self._paused.discard(ip)
        adopt(self.workdir, index, ip)

    def release(self, ip: str) -> None:
        """A terminated instance: its host ends what ran there and waits for the next instance."""
        with self._lock:
            index = self._held.pop(ip, None)
            paused = ip in self._paused
            self._paused.discard(ip)
        if index is None:
            return
        self._end_processes(index)
        if not paused:
            release(self.workdir, index, ip)
        with self._lock:
            self._free.append(index)

    def held(self) -> dict[str, str]:
        """Addresses in use and the host names holding them (for assertions that nothing is left)."""
        with self._lock:
            return {ip: self.hosts[index].name for ip, index in self._held.items()}

    def _end_processes(self, index: int) -> None:
        """Every process in the host's namespace but its sshd (a VM that stops or goes runs nothing)."""
        host = self.hosts[index]
        listed = subprocess.run(["ip", "netns", "pids", host.namespace], capture_output=True, text=True)
        sshd = _sshd_pid(self.workdir, index)
        for pid in listed.stdout.split():
            if int(pid) != sshd:
                subprocess.run(["kill", "-9", pid], capture_output=True)


def _sshd_pid(workdir: Path, index: int) -> int | None:
    """The host's listening sshd (netns_hosts writes its pid file); sessions it forked are a machine's work."""
    try:
        return int((workdir / f"sshd-{index}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
