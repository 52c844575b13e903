"""`SSHRunner`: the CommandRunner for remote nodes, over the OpenSSH client and rsync.

One TCP connection per host is opened by the first command and reused by all
later ones (ControlMaster), so a command costs one round trip, not a
handshake. Nothing ever prompts: BatchMode is on, and host keys follow an
explicit policy (default accept-new) recorded in skyhop's own known_hosts.
Commands are argv lists, quoted once with `shlex.join` for the remote shell.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop.providers.runner import RunResult

HOST_KEY_POLICIES = ("accept-new", "yes", "no")
#: Where a node's SSH target lives in `NodeInfo.extra` (pool hosts and cloud VMs alike).
TARGET_KEY = "ssh"
CONNECT_TIMEOUT_S = 10
SSH_FAILED = 255  # ssh's own exit code for "could not connect / authenticate"


# A host name, IPv4 or IPv6 address; a login name. Neither may start with '-' (ssh would
# read it as an option: `-oProxyCommand=...` runs a command on this machine) nor hold
# spaces, quotes or shell characters (they travel inside rsync's and ProxyCommand's lines).
_HOST = re.compile(r"[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]{0,252}")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_JUMP = re.compile(r"(?:(?P<user>[^@]+)@)?(?P<host>[^@]+?)(?::\d{1,5})?")


def check_target(host: str, user: str | None, jump: str | None) -> None:
    """Refuse addresses, users and jump hosts that ssh could take for options or that carry shell text."""
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise SkyhopError(f"Invalid SSH host {str(host)[:80]!r}: expected a host name or an IP address.")
    if user is not None and (not isinstance(user, str) or not _USER.fullmatch(user)):
        raise SkyhopError(f"Invalid SSH user {str(user)[:80]!r}: expected a login name (letters, digits, '.', '_', '-').")
    if jump is not None:
        match = _JUMP.fullmatch(jump) if isinstance(jump, str) else None
        if match is None or not _HOST.fullmatch(match["host"]) or (match["user"] is not None and not _USER.fullmatch(match["user"])):
            raise SkyhopError(f"Invalid SSH jump host {str(jump)[:80]!r}: expected [user@]host[:port].")


@dataclass(frozen=True)
class SSHTarget:
    """How to reach one host."""

    host: str
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    jump: str | None = None  # a bastion, "[user@]host[:port]", reached with the same key and policy
    host_key_policy: str = "accept-new"

    def __post_init__(self) -> None:
        check_target(self.host, self.user, self.jump)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def describe(self) -> str:
        return f"{self.destination}:{self.port}"

    @property
    def key(self) -> str:
        """Identity of a host within skyhop (for leases)."""
        return f"{self.user or ''}@{self.host}:{self.port}"


#: Room a socket path needs after its directory: "/" + ssh's %C (40 hex) + the
#: temporary suffix ssh adds while binding (".", 16 random characters), within
#: sun_path's 108 bytes (107 and the NUL). 45 (the suffix forgotten) let homes of
#: 42-55 characters pick a directory where ssh could not bind: "too long for Unix
#: domain socket", every connection refused.
_SOCKET_ROOM = 1 + 40 + 17
_SUN_PATH_MAX = 107


def control_dir() -> Path:
    """Where ControlMaster sockets live: a directory only this user can enter.

    Whoever controls that directory can put a fake master in it and read every
    command skyhop sends (job environments with their secrets) and forge the
    agent's answers, so it is never a directory another user could have made.
    The default is `SKYHOP_HOME/ssh/cm`. Unix socket paths are short (~100
    bytes), so a long SKYHOP_HOME uses a fresh directory instead, in
    `$XDG_RUNTIME_DIR` or else made by `mkdtemp`, never a predictable name in
    /tmp; its path is recorded in `SKYHOP_HOME/ssh/control_dir` so that every
    later call (the CLI, the API server, after restarts) shares the same
    connections.
    """
    preferred = paths.home() / "ssh" / "cm"
    if len(str(preferred)) + _SOCKET_ROOM < _SUN_PATH_MAX:
        paths.private_dir(preferred)
        if not _is_private_dir(preferred):
            raise SkyhopError(f"{preferred} (for SSH connection sockets) is not a directory of this user's with mode 0700; remove it and try again.")
        return preferred
    record = ssh_dir() / "control_dir"
    for _ in range(3):
        recorded = _read_record(record)
        if recorded is not None and _is_private_dir(recorded):
            return recorded
        record.unlink(missing_ok=True)  # gone (a reboot cleared /tmp) or not trustworthy: choose again
        chosen = Path(tempfile.mkdtemp(prefix="skyhop-cm-", dir=_short_private_parent()))  # 0700, a name nobody could predict
        try:
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            chosen.rmdir()  # another process chose first: use its directory
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(chosen))
        return chosen
    raise SkyhopError(f"Could not settle on a directory for SSH connection sockets (see {record}).")


def _is_private_dir(path: Path) -> bool:
    """A real directory (not a symlink), owned by this user, that nobody else can enter."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def _read_record(record: Path) -> Path | None:
    try:
        return Path(record.read_text(encoding="utf-8").strip())
    except OSError:
        return None


def _short_private_parent() -> str:
    """$XDG_RUNTIME_DIR when it is this user's own (as systemd makes it), else the temp directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and _is_private_dir(Path(runtime)) and len(runtime) + 20 + _SOCKET_ROOM < _SUN_PATH_MAX:
        return runtime
    temp = tempfile.gettempdir()
    return temp if len(temp) + 20 + _SOCKET_ROOM < _SUN_PATH_MAX else "/tmp"


def ssh_dir() -> Path:
    """`SKYHOP_HOME/ssh` (0700): skyhop's own known_hosts, key pair and connection sockets."""
    return paths.private_dir(paths.home() / "ssh")


def known_hosts_file() -> Path:
    return ssh_dir() / "known_hosts"


def batch_options(*, port: int, policy: str, known_hosts: str, identity_file: str | None) -> list[str]:
    """What every ssh skyhop starts has (from this machine, or a head to its workers).

    Nothing ever prompts; host keys follow an explicit policy against a
    known_hosts file of skyhop's own (unhashed: readable beats hidden); only
    the given key is offered; keep-alives turn a vanished host into an error
    within a minute instead of a hang.
    """
    options = [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
        "-o", f"StrictHostKeyChecking={policy}",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "HashKnownHosts=no",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
        "-o", "LogLevel=ERROR",
        "-p", str(port),
    ]
    if identity_file:
        options += ["-i", identity_file, "-o", "IdentitiesOnly=yes"]
    return options


class SSHRunner:
    def __init__(self, target: SSHTarget) -> None:
        if target.host_key_policy not in HOST_KEY_POLICIES:
            raise SkyhopError(f"host_key_policy must be one of {', '.join(HOST_KEY_POLICIES)}, got {target.host_key_policy!r}.")
        self.target = target

    def ssh_options(self) -> list[str]:
        t = self.target
        options = self._batch_options(t.port) + [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control_dir()}/%C",
            "-o", "ControlPersist=300",
        ]
        if t.jump:
            options += ["-o", f"ProxyCommand={self._proxy_command()}"]
        return options

    def _proxy_command(self) -> str:
        """The hop through the jump host as an explicit ssh command.

        Not `-J`: options on the command line (the key, BatchMode, the host-key
        policy and known_hosts) would apply to the destination only, and the
        bastion would be tried with whatever ~/.ssh/config says.
        """
        t = self.target
        assert t.jump is not None
        login, _, port = t.jump.rpartition(":") if re.fullmatch(r".+:\d+", t.jump) else (t.jump, "", "22")
        # ssh expands %h/%p itself and runs the line with the user's shell: quote the rest.
        return shlex.join(["ssh", *self._batch_options(int(port)), login]).replace("%", "%%") + " -W %h:%p"

    def _batch_options(self, port: int) -> list[str]:
        t = self.target
        key = os.path.expanduser(t.identity_file) if t.identity_file else None
        return batch_options(port=port, policy=t.host_key_policy, known_hosts=str(known_hosts_file()), identity_file=key)

    def _ssh_argv(self, argv: Sequence[str], *, tty: bool = False) -> list[str]:
        return ["ssh", *self.ssh_options(), *(["-tt"] if tty else ["-T"]), "--", self.target.destination, shlex.join(argv)]

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None) -> RunResult:
        try:
            done = subprocess.run(
                self._ssh_argv(argv), input=input, capture_output=True, text=True, timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise HostUnreachable(f"{self.target.describe()} did not answer within {timeout:g} s (host down or network gone?).") from None
        if done.returncode == SSH_FAILED and _looks_like_ssh_failure(done.stderr):
            raise unreachable(self.target, done.stderr)
        return RunResult(done.returncode, done.stdout, done.stderr)

    def popen(self, argv: Sequence[str]) -> "subprocess.Popen[bytes]":
        return subprocess.Popen(self._ssh_argv(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def sync_up(self, source: str, dest: str, *, delete: bool = False, exclude_from: str | None = None, bytecode: bool = False) -> None:
        """rsync: only changed files travel; a directory's contents land in `dest`."""
        src = source.rstrip("/") + "/" if os.path.isdir(source) else source
        parent = dest.rstrip("/") if os.path.isdir(source) else os.path.dirname(dest) or "."
        self.run(["mkdir", "-p", parent])
        shell = shlex.join(["ssh", *self.ssh_options()])
        # -s (protect args): paths travel verbatim, never re-split by the remote shell.
        argv = ["rsync", "-a", "-s", *([] if bytecode else ["--exclude", "__pycache__"]), "--exclude", ".git", "-e", shell]
        if delete:
            argv.append("--delete")
        if exclude_from:
            argv += ["--exclude-from", exclude_from]
        argv += [src, f"{self.target.destination}:{dest}"]
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            if _looks_like_ssh_failure(done.stderr):
                raise unreachable(self.target, done.stderr)
            raise SkyhopError(f"Copying {source} to {self.target.describe()}:{dest} failed (rsync exit {done.returncode}): {done.stderr.strip()[-400:]}")

    def forward_socket(self, remote_path: str, *, renew: bool = False) -> str:
        """Forward a local socket to `remote_path` through the shared connection (`ssh -O forward`).

        Each connection to the local path is one more channel in the already
        open SSH connection: no process starts, here or on the node. The local
        path is in the private control directory, named after the host and the
        remote path, so every caller in this installation shares it. `renew`
        sets the forward up again (the master was restarted and forgot it),
        opening the master first when there is none.
        """
        local = self._forward_path(remote_path)
        if os.path.exists(local) and not renew:
            return local
        if ":" in remote_path or ":" in local:
            raise SkyhopError(f"Cannot forward {remote_path!r}: a socket path with ':' cannot be named to ssh -L.")
        if len(remote_path.encode()) > _SUN_PATH_MAX:
            raise SkyhopError(f"Cannot forward {remote_path!r}: sshd cannot connect to a socket path that long.")
        spec = f"{local}:{remote_path}"
        if renew:
            self._control("cancel", spec)  # a master that still has it would refuse to forward it twice
        Path(local).unlink(missing_ok=True)  # the master binds it afresh; a stale one would refuse
        done = self._control("forward", spec)
        if done.returncode != 0:
            self.run(["true"], timeout=CONNECT_TIMEOUT_S * 3)  # no master yet: this opens one (ControlMaster=auto)
            done = self._control("forward", spec)
        if done.returncode != 0:
            raise SkyhopError(f"Could not forward the agent socket over SSH to {self.target.describe()}: {done.stderr.strip()[-300:]}")
        return local

    def close_forward(self, remote_path: str) -> None:
        local = self._forward_path(remote_path)
        if os.path.exists(local):
            self._control("cancel", f"{local}:{remote_path}")
            Path(local).unlink(missing_ok=True)

    def _forward_path(self, remote_path: str) -> str:
        digest = hashlib.sha1(f"{self.target.key}\0{remote_path}".encode()).hexdigest()
        return f"{control_dir()}/{digest}.s"  # 43 characters: within the room kept for ssh's own sockets

    def _control(self, command: str, spec: str) -> subprocess.CompletedProcess[str]:
        """`ssh -O COMMAND -L SPEC`: a request to the master, which does the work."""
        argv = ["ssh", *self.ssh_options(), "-O", command, "-L", spec, self.target.destination]
        try:
            return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=CONNECT_TIMEOUT_S * 3)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, SSH_FAILED, "", f"ssh -O {command} did not answer")

    def close(self) -> None:
        """End the shared connection (the next command opens a new one)."""
        subprocess.run(["ssh", *self.ssh_options(), "-O", "exit", self.target.destination], capture_output=True, stdin=subprocess.DEVNULL)


class HostUnreachable(SkyhopError):
    """ssh itself failed: network, authentication or host key, not the remote command."""


_SSH_ERRORS = (
    "Permission denied", "Connection refused", "Connection timed out", "No route to host", "Could not resolve hostname",
    "Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED", "Connection closed by", "Network is unreachable",
    "kex_exchange_identification", "connect to host", "Operation timed out",
)


def _looks_like_ssh_failure(stderr: str) -> bool:
    return any(marker in stderr for marker in _SSH_ERRORS)


def unreachable(target: SSHTarget, stderr: str) -> HostUnreachable:
    line = next((ln.strip() for ln in stderr.splitlines() if any(m in ln for m in _SSH_ERRORS)), stderr.strip()[-300:])
    hint = ""
    if "Permission denied" in line:
        hint = " Check the user and identity_file (skyhop never types passwords: BatchMode)."
    elif "Host key" in line or "IDENTIFICATION HAS CHANGED" in line:
        hint = f" The host's key does not match {known_hosts_file()}; if the host was rebuilt, remove its line there."
    return HostUnreachable(f"Cannot reach {target.describe()} over SSH: {line}.{hint}")
