"""The job table: one SQLite file (`BASE/jobs.db`) shared by every agent process.

The CLI verbs, the job drivers and the daemon all read and write it at once, so
it runs in WAL mode (readers never block the writer) with a generous busy
timeout, and every read-modify-write happens inside `BEGIN IMMEDIATE`.
Job ids come from AUTOINCREMENT so they are never reused, even across restarts.
sqlite3 is imported by the functions that open the table: `health` and
`autostop` import this module for its constants and never open it.
"""

from __future__ import annotations

import contextlib
import json
import time

from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Iterator

PENDING = "PENDING"
SETTING_UP = "SETTING_UP"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
FAILED_SETUP = "FAILED_SETUP"
CANCELLED = "CANCELLED"
# INIT is part of the status vocabulary the broker understands; this agent
# inserts jobs directly as PENDING and so never writes it.
STATUSES = ("INIT", PENDING, SETTING_UP, RUNNING, SUCCEEDED, FAILED, FAILED_SETUP, CANCELLED)
TERMINAL = (SUCCEEDED, FAILED, FAILED_SETUP, CANCELLED)
NOT_TERMINAL = tuple(status for status in STATUSES if status not in TERMINAL)
# Statuses whose job holds its share of the nodes.
ACTIVE = (SETTING_UP, RUNNING)

BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    user TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    failure_reason TEXT,
    num_nodes INTEGER NOT NULL,
    cpus REAL NOT NULL,
    gpus TEXT NOT NULL,      -- JSON {type: count per node}
    spec TEXT NOT NULL,      -- JSON {setup, run, envs, task_id}
    placement TEXT,          -- JSON [{node, gpu_ids}] in job-rank order, once started
    driver_pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status);
"""


class Job:
    """One row of the job table, with its JSON columns decoded."""

    def __init__(self, row: sqlite3.Row) -> None:
        self.job_id: int = row["job_id"]
        self.name: str | None = row["name"]
        self.user: str = row["user"]
        self.status: str = row["status"]
        self.submitted_at: float = row["submitted_at"]
        self.started_at: float | None = row["started_at"]
        self.ended_at: float | None = row["ended_at"]
        self.exit_code: int | None = row["exit_code"]
        self.failure_reason: str | None = row["failure_reason"]
        self.num_nodes: int = row["num_nodes"]
        self.cpus: float = row["cpus"]
        self.gpus: dict[str, int] = json.loads(row["gpus"])
        self.spec: dict[str, Any] = json.loads(row["spec"])
        self.placement: list[dict[str, Any]] | None = json.loads(row["placement"]) if row["placement"] else None
        self.driver_pid: int | None = row["driver_pid"]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def record(self, layout: Layout) -> dict[str, Any]:
        """The JSON record the broker sees."""
        return {
            "job_id": self.job_id,
            "name": self.name,
            "user": self.user,
            "status": self.status,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "exit_code": self.exit_code,
            "num_nodes": self.num_nodes,
            "cpus": self.cpus,
            "gpus": self.gpus or None,
            "failure_reason": self.failure_reason,
            "log_path": layout.run_log(self.job_id),
            "progress": read_progress(layout.progress_file(self.job_id)),
        }


def read_progress(path: str) -> float | None:
    """The fraction 0..1 a job wrote to its progress file; None when absent or not such a number."""
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace").strip()
    except OSError:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def create(layout: Layout) -> None:
    """Create the table if missing; existing jobs and their history are kept."""
    import sqlite3

    conn = sqlite3.connect(layout.jobs_db, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the file itself
        conn.executescript(_SCHEMA)
    finally:
        conn.close()


def connect(layout: Layout) -> sqlite3.Connection:
    """Open the existing table (never creates one: that is `init`'s job)."""
    import sqlite3

    try:
        conn = sqlite3.connect(
            f"file:{layout.jobs_db}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
    except sqlite3.OperationalError:
        raise AgentError(f"No job table at {layout.jobs_db}: run `init` first.") from None
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction taken up front, so concurrent schedulers serialize."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert(conn: sqlite3.Connection, spec: dict[str, Any], user: str, submitted_at: float) -> int:
    """Add a PENDING job; `spec` is a validated submit spec."""
    cursor = conn.execute(
        "INSERT INTO jobs (name, user, status, submitted_at, num_nodes, cpus, gpus, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            spec["name"],
            user,
            PENDING,
            submitted_at,
            spec["num_nodes"],
            spec["cpus"],
            json.dumps(spec["gpus"]),
            json.dumps({key: spec[key] for key in ("setup", "run", "envs", "task_id")}),
        ),
    )
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return int(cursor.lastrowid)


def get(conn: sqlite3.Connection, job_id: int) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return Job(row) if row else None


def get_many(conn: sqlite3.Connection, job_ids: list[int], cluster_name: str) -> list[Job]:
    """The jobs in the order asked; an unknown id is the caller's mistake."""
    jobs = []
    for job_id in job_ids:
        job = get(conn, job_id)
        if job is None:
            raise AgentError(f"No job {job_id} on cluster {cluster_name}.")
        jobs.append(job)
    return jobs


def in_states(conn: sqlite3.Connection, states: tuple[str, ...], newest_first: bool = False) -> list[Job]:
    marks = ", ".join("?" for _ in states)
    order = "DESC" if newest_first else "ASC"
    rows = conn.execute(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY job_id {order}", states)
    return [Job(row) for row in rows]


def all_jobs(conn: sqlite3.Connection) -> list[Job]:
    """Every job, newest first."""
    return [Job(row) for row in conn.execute("SELECT * FROM jobs ORDER BY job_id DESC")]


def start(conn: sqlite3.Connection, job_id: int, status: str, placement: list[dict[str, Any]], driver_pid: int) -> None:
    """Record that a PENDING job got its nodes and a driver."""
    started_at = time.time() if status == RUNNING else None
    conn.execute(
        "UPDATE jobs SET status = ?, started_at = ?, placement = ?, driver_pid = ? WHERE job_id = ? AND status = ?",
        (status, started_at, json.dumps(placement), driver_pid, job_id, PENDING),
    )


def mark_running(conn: sqlite3.Connection, job_id: int) -> bool:
    """SETTING_UP -> RUNNING after setup; False when the job is no longer ours to run (cancelled)."""
    conn.execute(
        "UPDATE jobs SET status = ?, started_at = ? WHERE job_id = ? AND status = ?",
        (RUNNING, time.time(), job_id, SETTING_UP),
    )
    job = get(conn, job_id)
    return job is not None and job.status == RUNNING


def finish(
    conn: sqlite3.Connection,
    job_id: int,
    status: str,
    exit_code: int | None,
    failure_reason: str | None,
    only_from: tuple[str, ...],
) -> bool:
    """Move a job to a terminal status unless it already left `only_from`.

    The guard is what keeps a driver from overwriting a CANCELLED that `cancel`
    wrote a moment earlier, and the daemon from overwriting a driver's result.
    """
    marks = ", ".join("?" for _ in only_from)
    cursor = conn.execute(
        f"UPDATE jobs SET status = ?, ended_at = ?, exit_code = ?, failure_reason = ? "
        f"WHERE job_id = ? AND status IN ({marks})",
        (status, time.time(), exit_code, failure_reason, job_id) + only_from,
    )
    return cursor.rowcount > 0


def last_activity(conn: sqlite3.Connection) -> float | None:
    """The latest submission or end of any job: idle time for autostop counts from it."""
    row = conn.execute("SELECT MAX(submitted_at), MAX(ended_at) FROM jobs").fetchone()
    times = [t for t in row if t is not None]
    return max(times) if times else None
