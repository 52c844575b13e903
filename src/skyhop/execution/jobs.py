"""Jobs on a cluster: submit, follow, list, cancel; the broker's job mirror stays in step."""

from __future__ import annotations

import codecs
import hashlib
import json
import threading
import time
from typing import Any, Mapping, Sequence

from skyhop.errors import SkyhopError
from skyhop.execution.agent import AgentClient
from skyhop.execution.names import check_job_name
from skyhop.execution.progress import Progress, RequestCancelled
from skyhop.spec.task import Task

#: Most job output one `out` event carries.
OUTPUT_CHUNK = 65536

def _job_envs(task: Task) -> dict[str, str]:
    """What the job's processes see: envs and secrets with a value."""
    return {k: str(v) for k, v in {**task.envs, **task.secrets}.items() if v is not None}


def setup_fingerprint(task: Task) -> str | None:
    """Changes when setup (or what it sees) changes: a re-launch re-runs setup only then."""
    if not task.setup:
        return None
    return hashlib.sha256(json.dumps([task.setup, _job_envs(task)], sort_keys=True).encode()).hexdigest()


def job_spec(task: Task, *, with_setup: bool, cluster_name: str, user: str, task_id: str | None = None,
             secrets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the agent queues; `task_id` (SKYPILOT_TASK_ID) defaults to one unique to this submission.

    `secrets`: values given by the server, not the task (an API token): the job sees them like the task's
    secrets, and they stay out of the setup fingerprint (a new token must not re-run setup)."""
    envs = {**_job_envs(task), **(secrets or {})}
    cpus = task.resources.cpus.value if task.resources.cpus is not None else None
    acc = task.resources.accelerator
    return {
        "name": check_job_name(task.name),
        "setup": task.setup if with_setup else None,
        "run": task.run,
        "envs": envs,
        "num_nodes": task.num_nodes,
        "cpus": cpus,
        "gpus": {acc.name: acc.count} if acc is not None else None,
        "task_id": task_id or f"skyhop-{cluster_name}-{int(time.time() * 1000)}",
        "user": user,
    }


def follow(agent: AgentClient, job_id: int, progress: Progress) -> dict[str, Any]:
    """Stream the job's output into the request log until it ends; return its final record.

    A cancelled request stops following at once (even when the job prints
    nothing) and cancels the job.
    """
    stream = agent.logs(job_id, follow=True, record=True)
    finished = threading.Event()

    def stop_on_cancel() -> None:
        while not finished.wait(0.1):
            if progress.cancel_event.is_set():
                stream.stop()
                return

    watcher = threading.Thread(target=stop_on_cancel, daemon=True)
    watcher.start()
    try:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Chunks as they arrive, never whole lines: output without newlines (a `\r`
        # progress bar) must not pile up in memory.
        for chunk in iter(lambda: stream.read1(OUTPUT_CHUNK), b""):
            text = decoder.decode(chunk)
            if text:
                progress.out(text)
        rest = decoder.decode(b"", final=True)
        if rest:
            progress.out(rest)
        record = None if progress.cancel_event.is_set() else stream.final_record()
    finally:
        finished.set()
        stream.close()
    if progress.cancel_event.is_set():
        agent.cancel([job_id])
        raise RequestCancelled(f"The request was cancelled; job {job_id} was cancelled too.")
    return record or agent.jobs([job_id])[0]


def record_jobs(store, cluster: str, jobs: Sequence[dict[str, Any]]) -> None:
    from skyhop.state.records import JobRecord

    store.upsert_jobs(cluster, [job_record(cluster, j, JobRecord) for j in jobs])


def job_record(cluster: str, job: dict[str, Any], record_type):
    return record_type(
        cluster=cluster,
        job_id=int(job["job_id"]),
        name=job.get("name"),
        user=job.get("user"),
        status=job["status"],
        submitted_at=job.get("submitted_at") or 0.0,
        started_at=job.get("started_at"),
        ended_at=job.get("ended_at"),
        exit_code=job.get("exit_code"),
        failure_reason=job.get("failure_reason"),
        num_nodes=job.get("num_nodes") or 1,
        resources={"cpus": job.get("cpus"), "gpus": job.get("gpus")},
    )


def job_result(cluster: str, job: dict[str, Any], *, detached: bool) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "job_id": int(job["job_id"]),
        "job_status": job["status"],
        "exit_code": job.get("exit_code"),
        "failure_reason": job.get("failure_reason"),
        "detached": detached,
    }


def require_job_ids(values: Sequence[str]) -> list[int]:
    out = []
    for value in values:
        if not str(value).isdigit():
            raise SkyhopError(f"Job ids are whole numbers; got {value!r}.")
        out.append(int(value))
    return out
