"""`skyhop logs --sync-down`: a job's output saved on this machine, one file per node.

SkyPilot's `sky logs -s` copies a job's logs to `~/sky_logs/`; skyhop writes
them under `~/skyhop_logs/CLUSTER/job-ID/node-R.log` through the API server
(so it works the same when the server is remote). The files hold job output,
which may be private: directories are 0700 and files 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

LOGS_ROOT = "skyhop_logs"


def download_logs(cluster: str, job_id: int | None) -> Path:
    """Write every node's output of the job (the latest by default); returns the directory."""
    from skyhop.client import api

    if job_id is None:
        job_id = api.latest_job_id(cluster)
    job = api.job(cluster, job_id)
    target = Path.home() / LOGS_ROOT / cluster / f"job-{int(job_id)}"
    for part in (target.parent.parent, target.parent, target):
        part.mkdir(mode=0o700, exist_ok=True)
    for rank in range(int(job.get("num_nodes") or 1)):
        path = target / f"node-{rank}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in api.logs(cluster, job_id, follow=False, node=rank):
                out.write(chunk)
    return target
