"""Processes: liveness, identity, descendants, and killing whole trees.

A job can start background processes, and some of them (`setsid`, daemons)
leave the job's process group, so killing the group alone is not enough; we
also walk the parent links to find every descendant. Zombies count as gone:
they hold no resources and their parent may never reap them.
"""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import Callable, Iterable

# How long a process tree gets to exit after SIGTERM before it gets SIGKILL.
GRACE_S = 2.0
_POLL_S = 0.02
# How long a live process may show an empty command line (an execve still loading the
# new program: microseconds, tens of milliseconds on a loaded machine) before it counts as not ours.
EXEC_WAIT_S = 5.0
_EXEC_POLL_S = 0.001
# /proc/PID/stat flags of a process whose empty command line is no exec in progress: one that is
# exiting (its memory already released; it may hang there on a stuck file system) and a kernel thread.
_PF_EXITING = 0x00000004
_PF_KTHREAD = 0x00200000


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return not os.path.isdir("/proc")  # without /proc, kill(0) is all we know
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")


def is_agent_process(pid: int | None, base: str, verb: str, *args: str) -> bool:
    """Whether `pid` is (still) our `verb` process for this base, with `args` right after the verb.

    The arguments tell one job's driver from another's: a pid freed by a finished job's driver
    and taken by the driver of the next job passes the verb and base checks alone.

    Linux shows an empty command line from the moment an execve replaces a process's memory
    until the new program's arguments are in place, and `Popen` returns inside that time, so
    a spawner records (and commits) a driver's pid while it may still read empty. A live user
    process with an empty command line is therefore waited for (up to EXEC_WAIT_S), not taken
    for someone else's: the daemon used to fail such a job as "job driver exited unexpectedly"
    and kill its driver while it started.
    """
    if not pid:
        return False
    deadline = time.monotonic() + EXEC_WAIT_S
    while True:
        if not pid_alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except FileNotFoundError:
            return not os.path.isdir("/proc")
        except OSError:
            return False
        if cmdline or _exiting_or_kernel(pid) or time.monotonic() > deadline:
            break
        time.sleep(_EXEC_POLL_S)
    argv = cmdline.split(b"\0")
    if b"skyhop_agent" not in argv or base.encode() not in argv or verb.encode() not in argv:
        return False
    at = argv.index(verb.encode()) + 1
    return [a.encode() for a in args] == argv[at : at + len(args)]


def _exiting_or_kernel(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return bool(int(stat[stat.rindex(b")") + 2 :].split()[6]) & (_PF_EXITING | _PF_KTHREAD))


def _parent_links() -> list[tuple[int, int]]:
    """(pid, ppid) of every process: from /proc, else from `ps`."""
    if os.path.isdir("/proc"):
        links = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue  # exited while we looked
            fields = stat[stat.rindex(b")") + 2 :].split()
            links.append((int(name), int(fields[1])))
        return links
    import subprocess  # no /proc (macOS): the CLI, which imports this module for `pid_alive`, never needs it

    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], stdout=subprocess.PIPE, check=True).stdout
    return [(int(pid), int(ppid)) for pid, ppid in (line.split() for line in out.decode().splitlines() if line.strip())]


def _spare_none(pid: int) -> bool:
    return False


def descendants(roots: Iterable[int], spare: Callable[[int], bool] = _spare_none) -> set[int]:
    """Every live process below `roots` (the roots themselves not included), but those `spare` picks and theirs."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_links():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found and not spare(child):
                found.add(child)
                todo.append(child)
    return found


def _signal_all(pids: Iterable[int], pgids: Iterable[int], sig: int) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _wait_gone(pids: set[int], grace: float) -> set[int]:
    """The processes of `pids` still alive after up to `grace` seconds."""
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        pids = {pid for pid in pids if pid_alive(pid)}
    return pids


def terminate(pid: int, grace: float = GRACE_S) -> None:
    """SIGTERM one process, SIGKILL it if still there after `grace`; its children are left alone."""
    _signal_all([pid], (), signal.SIGTERM)
    _signal_all(_wait_gone({pid}, grace), (), signal.SIGKILL)


def kill_tree(
    roots: Iterable[int], pgids: Iterable[int] = (), grace: float = GRACE_S, spare: Callable[[int], bool] = _spare_none
) -> None:
    """SIGTERM `roots`, their descendants and the process groups `pgids`; SIGKILL what is left after `grace`.

    The tree is listed before any signal is sent, since a killed parent's
    children get reparented and could no longer be found through it.
    The caller's own pid and process group are never targets, so a driver can
    pass its own pid to clear out everything it started. A descendant that
    `spare` picks is left alone with its own descendants (another job's
    driver, which an ending driver starts as its child).
    """
    me = os.getpid()
    pgids = {g for g in pgids if g > 1 and g != os.getpgrp()}
    roots = {pid for pid in roots if pid > 1}
    targets = (roots | descendants(roots, spare)) - {me}
    _signal_all(targets, pgids, signal.SIGTERM)
    survivors = _wait_gone({pid for pid in targets if pid_alive(pid)}, grace)
    # A stubborn process may have started children during the grace period.
    survivors = {pid for pid in survivors | descendants(survivors | roots, spare) if pid != me and pid_alive(pid)}
    _signal_all(survivors, pgids, signal.SIGKILL)
