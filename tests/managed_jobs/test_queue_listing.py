"""`jobs queue` at scale: the filters and the limit are the database's work (newest first), the attempts read
are only the listed jobs', and the CLI's table shows the newest 50 unless --limit says otherwise (test_pools_local.py)."""

from __future__ import annotations

import time

from skyhop.server.auth.principal import Principal, Role
from skyhop.server.services import managed_jobs
from skyhop.state.managed import ManagedJobs
from skyhop.state.store import StateStore


def _made(store: StateStore) -> list[int]:
    """Six jobs: ids 1..6 alternate between two users; 2 and 4 ended; every job has one attempt."""
    managed = ManagedJobs(store)
    entry = {"name": "q", "tasks": [{"run": "true"}], "resources": ["1x -"]}
    made = managed.create([dict(entry, user="ann" if i % 2 else "bob") for i in range(6)])
    for job in made:
        attempt = managed.add_attempt(job.id, 0, f"c{job.id}", False)
        managed.update_attempt(attempt.id, provider="local", launched_at=time.time(), hourly_price=1.0)
    for job in made[1:4:2]:
        managed.update(job.id, status="SUCCEEDED", ended_at=time.time())
    return [j.id for j in made]


def test_limit_keeps_the_newest_after_the_filters_and_reads_only_their_attempts(db_url):
    with StateStore(db_url) as store:
        ids = _made(store)
        ann = Principal(user="ann", role=Role.ADMIN)
        everyone = managed_jobs.rows(store, ann, all_users=True)
        assert [r["id"] for r in everyone] == ids[::-1] and all(len(r["attempts"]) == 1 for r in everyone)
        newest = managed_jobs.rows(store, ann, all_users=True, limit=2)
        assert [r["id"] for r in newest] == ids[:-3:-1]
        ann_unfinished = managed_jobs.rows(store, ann, skip_finished=True, limit=2)  # ann's: the 2nd, 4th, 6th; the 2nd and 4th ended
        assert [r["id"] for r in ann_unfinished] == [ids[5]]
        jobs, attempts = ManagedJobs(store).listing(limit=2)
        assert {a["job_id"] for a in attempts} == {j["id"] for j in jobs} == set(ids[-2:])
