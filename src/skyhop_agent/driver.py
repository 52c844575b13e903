"""The job driver (`run-job ID`): one detached process per started job.

It runs the job's setup and then its run on all of the job's nodes at once,
tees their output into the logs, records the outcome, and finally schedules
the queue so the next job starts without waiting for the daemon's tick.
Node processes stay in the driver's process group (cancel kills the group)
and their pids go to `jobs/ID/pids` (cancel finds them even if the driver died).
"""

from __future__ import annotations

import errno
import os
import queue
import sqlite3
import subprocess
import sys
import threading

from skyhop_agent import config, jobtable, proctree, scheduler
from skyhop_agent.config import Cluster
from skyhop_agent.envvars import job_env
from skyhop_agent.jobtable import Job
from skyhop_agent.logs import JobLogs
from skyhop_agent.nodeexec import node_command, write_script
from skyhop_agent.paths import Layout

_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Have orphaned job processes reparented to us, so the cleanup walk still finds them (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_orphans() -> None:
    """Collect the exit status of reparented orphans so they do not linger as zombies."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _exit_code(returncode: int) -> int:
    """Shell convention for a process killed by a signal: 128 + signal number."""
    return 128 - returncode if returncode < 0 else returncode


class _Gang:
    """One script running on every node of a job, until all are done.

    When one node fails the others are stopped, as SkyPilot does: the members
    of a distributed job usually wait for each other, so the survivors of a
    dead member would otherwise hang until someone cancels them.
    """

    def __init__(self, layout: Layout, cluster: Cluster, job: Job, logs: JobLogs) -> None:
        self.layout = layout
        self.cluster = cluster
        self.job = job
        self.logs = logs

    def _start(self, rank: int, script_file: str, phase: str, results: queue.Queue) -> tuple[subprocess.Popen, threading.Thread]:
        assert self.job.placement is not None
        node = self.cluster.nodes[self.job.placement[rank]["node"]]
        env = job_env(self.cluster, self.job, rank, phase, self.layout.progress_file(self.job.job_id))
        command = node_command(node, script_file, env)
        # A watched stdin stays open (never written) until this driver or the process ends.
        stdin = subprocess.PIPE if command.watch_stdin else subprocess.DEVNULL
        proc = subprocess.Popen(
            command.argv, cwd=command.cwd, env=command.env, stdin=stdin, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if command.mute_stderr else subprocess.STDOUT,
        )
        if command.preamble:
            assert proc.stdin is not None
            try:
                proc.stdin.write(command.preamble)
                proc.stdin.flush()
            except BrokenPipeError:
                pass  # it already exited; its exit code tells why
        with open(self.layout.pids_file(self.job.job_id), "a") as pids:
            pids.write(f"{proc.pid}\n")
        assert proc.stdout is not None
        pump = threading.Thread(target=self.logs.pump, args=(rank, proc.stdout), daemon=True)
        pump.start()
        threading.Thread(target=lambda: results.put((rank, proc.wait())), daemon=True).start()
        return proc, pump

    def _write_script(self, script: str, phase: str) -> str:
        path = os.path.join(self.layout.job_dir(self.job.job_id), f"{phase}.sh")
        write_script(path, script)
        return path

    def run(self, script: str, phase: str) -> tuple[int, int]:
        """`(exit code, rank)` of the first failing node in rank order, or `(0, -1)` when all succeed."""
        results: queue.Queue = queue.Queue()
        pumps = []
        script_file = self._write_script(script, phase)
        try:
            procs = []
            for rank in range(self.job.num_nodes):
                proc, pump = self._start(rank, script_file, phase, results)
                procs.append(proc)
                pumps.append(pump)
            finished: dict[int, int] = {}
            while len(finished) < len(procs):
                rank, code = results.get()
                finished[rank] = code
                if code != 0:
                    while not results.empty():  # results that arrived together count as genuine
                        rank, code = results.get()
                        finished[rank] = code
                    break
            failures = sorted((rank, code) for rank, code in finished.items() if code != 0)
            if failures:
                return _exit_code(failures[0][1]), failures[0][0]
            return 0, -1
        finally:
            # Also ends what the script left running in the background, which
            # would otherwise hold the log pipes (and the job's resources) open.
            proctree.kill_tree([os.getpid()])
            for pump in pumps:
                pump.join()
            _reap_orphans()


def _execute(
    layout: Layout, cluster: Cluster, job: Job, conn: sqlite3.Connection, logs: JobLogs
) -> tuple[str, int | None, str | None] | None:
    """Setup then run; the terminal `(status, exit code, failure reason)`, or None once cancelled."""
    gang = _Gang(layout, cluster, job, logs)
    if job.spec["setup"]:
        code, rank = gang.run(job.spec["setup"], "setup")
        if code:
            return jobtable.FAILED_SETUP, code, f"setup failed on node {rank} with exit code {code}"
        if not jobtable.mark_running(conn, job.job_id):
            return None
    if job.spec["run"]:
        code, rank = gang.run(job.spec["run"], "run")
        if code:
            return jobtable.FAILED, code, f"run failed on node {rank} with exit code {code}"
    return jobtable.SUCCEEDED, 0, None


def _failure(error: Exception) -> str:
    """Why the driver could not run the job, in the user's terms where the cause is theirs.

    skyhop refuses a task whose variables are too large when the task is made; a job that still
    meets E2BIG (submitted to the agent directly, or a node whose own environment is huge)
    is told which limit it hit instead of "Argument list too long: 'bash'".
    """
    if isinstance(error, OSError) and error.errno == errno.E2BIG:
        return ("the job could not start: its environment is over the kernel's limit (E2BIG: 128 KiB per variable, "
                "about 2 MiB in all, with the node's own variables); put large values in files and pass their paths")
    return f"job driver error: {error}"


def run_job(layout: Layout, job_id: int) -> None:
    cluster = config.load(layout)
    conn = jobtable.connect(layout)
    # Taking the write lock waits for the scheduler that spawned us to commit
    # our placement; a plain read could still see the job as PENDING.
    with jobtable.transaction(conn):
        job = jobtable.get(conn, job_id)
    if job is None or job.driver_pid != os.getpid() or job.terminal:
        return  # not (or no longer) ours to run
    _become_subreaper()
    logs = JobLogs(layout, job_id, job.num_nodes)
    try:
        outcome = _execute(layout, cluster, job, conn, logs)
    except Exception as e:
        import traceback

        traceback.print_exc()  # to driver.log
        outcome = jobtable.FAILED, None, _failure(e)
    finally:
        logs.close()
    if outcome is not None:
        status, code, reason = outcome
        jobtable.finish(conn, job_id, status, code, reason, only_from=jobtable.ACTIVE)
    scheduler.schedule(layout, cluster, conn)
