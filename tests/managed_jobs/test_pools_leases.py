"""Two controller kinds in one process (managed jobs and pools) share one owner row: one kind's (re)join must
keep the other kind's leases, and concurrent joins must not fail (the API server starts both at once)."""

from __future__ import annotations

import threading

from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.job_pools import JobPools
from skyhop.state.store import StateStore


def test_one_kinds_rejoin_keeps_the_other_kinds_leases(db_url):
    with StateStore(db_url) as store:
        jobs, pools = ControllerLeases(store), ControllerLeases(store)
        jobs.rejoin(30.0, "managed_job")
        jobs.register("managed_job", "1")
        assert jobs.claim("managed_job", "1")
        JobPools(store).apply("wp", {"pool": {"workers": 1}}, 1)  # a pool and its lease, created together
        pools.rejoin(30.0, "pool")
        assert pools.claim("pool", "wp")
        assert jobs.held("managed_job") == {"1": False} and jobs.heartbeat(30.0)
        jobs.rejoin(30.0, "managed_job")  # e.g. after a lapsed heartbeat: only its own kind is let go
        assert jobs.held("managed_job") == {} and pools.held("pool") == {"wp": False}


def test_concurrent_joins_of_two_kinds_both_succeed(db_url):
    with StateStore(db_url) as store:
        errors: list[BaseException] = []

        def join(kind: str) -> None:
            try:
                ControllerLeases(store).rejoin(30.0, kind)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        for _ in range(5):
            threads = [threading.Thread(target=join, args=(kind,)) for kind in ("managed_job", "pool")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert ControllerLeases(store).heartbeat(30.0)
