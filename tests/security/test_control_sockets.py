"""SSH connection-sharing sockets never live in a directory another user could have made.

The old fallback for a long SKYHOP_HOME was `/tmp/skyhop-<uid>-<sha1(home)[:10]>`:
a name any local user can compute and create first (a directory, or a symlink
to one of theirs), then plant a fake master in it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from ssh.conftest import ssh_hosts  # noqa: F401  (the namespace SSH hosts fixture)

from skyhop.providers.ssh.runner import control_dir


@pytest.fixture
def long_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / ("a-long-directory-name-" * 4) / ".skyhop"
    monkeypatch.setenv("SKYHOP_HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return home


def predictable_dir(home: Path) -> Path:
    """Where the sockets used to go: computable by anyone who knows the path of SKYHOP_HOME."""
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"skyhop-{os.getuid()}-{digest}"


def assert_private(path: Path) -> None:
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o777 == 0o700, (path, oct(st.st_mode), st.st_uid)


@pytest.mark.parametrize("planted", ["directory", "symlink"])
def test_a_directory_planted_by_another_user_is_never_used(second_user, long_home, planted):
    trap = predictable_dir(long_home)
    target = second_user.home / "catch"
    second_user.run(["mkdir", "-m", "0777", str(target)]).check_returncode()
    if planted == "directory":
        second_user.run(["mkdir", "-m", "0777", str(trap)]).check_returncode()
    else:
        second_user.run(["ln", "-s", str(target), str(trap)]).check_returncode()
    try:
        chosen = control_dir()
        assert chosen.resolve() not in (trap.resolve(), target.resolve())
        assert_private(chosen)
        assert len(f"{chosen}/{'0' * 40}") < 100  # still a usable socket path
        # The planted directory is left as its owner made it: not adopted, not chmod-ed.
        assert os.lstat(target).st_uid == second_user.uid and os.stat(target).st_mode & 0o777 == 0o777
        assert os.lstat(trap).st_uid == second_user.uid
    finally:
        subprocess.run(["rm", "-rf", str(trap)])


def test_the_chosen_directory_is_recorded_and_reused(long_home):
    first = control_dir()
    assert control_dir() == first
    env = dict(os.environ, SKYHOP_HOME=str(long_home))
    again = subprocess.run([sys.executable, "-c", "from skyhop.providers.ssh.runner import control_dir; print(control_dir())"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert again == str(first)  # another process (the API server, the CLI) shares the same sockets
    first.rmdir()  # e.g. a reboot emptied /tmp
    second = control_dir()
    assert second != first and control_dir() == second
    assert_private(second)


def test_a_record_pointing_at_someone_elses_directory_is_replaced(second_user, long_home):
    theirs = second_user.home / "cm"
    second_user.run(["mkdir", "-m", "0700", str(theirs)]).check_returncode()
    record = long_home / "ssh" / "control_dir"
    record.parent.mkdir(parents=True)
    record.write_text(str(theirs))
    chosen = control_dir()
    assert chosen != theirs
    assert_private(chosen)
    assert record.read_text() == str(chosen)


def test_xdg_runtime_dir_is_used_only_when_it_is_ours(second_user, long_home, tmp_path, monkeypatch):
    theirs = second_user.home / "run"
    second_user.run(["mkdir", "-m", "0700", str(theirs)]).check_returncode()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(theirs))
    assert not str(control_dir()).startswith(str(theirs))
    (long_home / "ssh" / "control_dir").unlink()
    ours = Path(tempfile.mkdtemp(prefix="xdg-", dir="/tmp"))
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(ours))
        chosen = control_dir()
        assert chosen.parent == ours
        assert_private(chosen)
    finally:
        subprocess.run(["rm", "-rf", str(ours)])


def test_a_short_home_keeps_its_sockets_inside_it(monkeypatch):
    short = Path(tempfile.mkdtemp(prefix="sh-", dir="/tmp"))
    try:
        monkeypatch.setenv("SKYHOP_HOME", str(short / ".skyhop"))
        assert control_dir() == short / ".skyhop" / "ssh" / "cm"
        assert_private(control_dir())
    finally:
        subprocess.run(["rm", "-rf", str(short)])


FAKE_MASTER = """
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(8)
print("listening", flush=True)
conn, _ = server.accept()
open(sys.argv[2], "w").write("a skyhop ssh client connected to the fake master")
"""


def test_ssh_still_works_and_never_meets_a_planted_master(second_user, long_home, ssh_hosts):  # noqa: F811
    """End to end: another user plants the old predictable directory with a listening fake master in it."""
    from skyhop.providers.ssh.runner import SSHRunner, SSHTarget

    host = ssh_hosts[0]
    target = SSHTarget(host.ip, host.user, host.port, host.identity_file)
    trap = predictable_dir(long_home)
    second_user.run(["mkdir", "-m", "0777", str(trap)]).check_returncode()
    shown = subprocess.run(["ssh", "-G", "-p", str(host.port), "-o", f"ControlPath={trap}/%C", target.destination],
                           capture_output=True, text=True, check=True).stdout
    socket_path = next(line.split(None, 1)[1] for line in shown.splitlines() if line.startswith("controlpath "))
    report = second_user.home / "report"
    # The system's python: the user cannot enter this checkout's virtual environment.
    fake = subprocess.Popen(["/usr/bin/python3", "-c", FAKE_MASTER, socket_path, str(report)], user=second_user.uid,
                            group=second_user.gid, extra_groups=[], cwd=second_user.home, stdout=subprocess.PIPE, text=True)
    runner = SSHRunner(target)
    try:
        assert fake.stdout is not None and fake.stdout.readline().strip() == "listening"
        assert runner.run(["echo", "through ssh"], timeout=60).stdout == "through ssh\n"
        assert runner.run(["echo", "again"], timeout=60).stdout == "again\n"
        assert any(p.is_socket() for p in control_dir().iterdir())  # the real master, in our own directory
        assert not report.exists(), report.read_text()
    finally:
        runner.close()
        fake.kill()
        fake.wait()
        subprocess.run(["rm", "-rf", str(trap)])


@pytest.mark.parametrize("length", range(30, 80, 3))
def test_the_socket_ssh_binds_fits_for_every_home_length(length, monkeypatch):
    """ssh binds `DIR/<40 hex>.<16 random>` before renaming it to `DIR/<40 hex>`: that longer name must fit
    in sun_path too. Homes of 42-55 characters used to pick a directory where it did not, so every SSH
    connection failed with "too long for Unix domain socket"."""
    import socket

    base = Path(tempfile.mkdtemp(prefix="h", dir="/tmp"))
    try:
        home = base / ("x" * max(1, length - len(str(base)) - 1))
        monkeypatch.setenv("SKYHOP_HOME", str(home))
        binding = control_dir() / f"{'a' * 40}.{'b' * 16}"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(binding))  # OSError "AF_UNIX path too long" without the room for the suffix
        binding.unlink()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
