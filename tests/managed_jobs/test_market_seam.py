"""The market seam, driven in-process: the jobs controller on a real state store and the local provider,
with a policy plugged in where the deadline policy will be (`policy_for`).

The policy first says WAIT (nothing is launched), then on-demand; on a poll
after the job reported its progress (`SKYHOP_PROGRESS_FILE`) it moves the job to spot: the running attempt ends `switched` (not a
recovery) and the next one is launched in the spot market, which the local
provider does not sell, so the job ends FAILED_NO_RESOURCE with both
attempts and no cluster left.
"""

from __future__ import annotations

import pytest

from managed_jobs.inprocess import drive_until_ended
from skyhop.jobs.market import Market, MarketView
from skyhop.server.controllers import jobs as jobs_controller
from skyhop.spec.task import Task
from skyhop.state.managed import ManagedJobs
from skyhop.state.store import StateStore

pytestmark = pytest.mark.slow


class Flip:
    waits_for_spot = False

    def __init__(self) -> None:
        self.asked = 0
        self.views: list[MarketView] = []

    def choose(self, view: MarketView) -> Market:
        self.asked += 1
        return Market.WAIT if self.asked == 1 else Market.SPOT if view.run_seconds > 0 else Market.ON_DEMAND

    def on_poll(self, view: MarketView) -> Market | None:
        self.views.append(view)
        # Only once the job's own progress report came through (so the switch also proves it arrives).
        return Market.SPOT if len(self.views) >= 2 and view.progress == 0.5 else None


def test_a_plugged_in_policy_waits_picks_markets_and_switches(migrated_home, monkeypatch):
    flip = Flip()
    monkeypatch.setattr(jobs_controller, "policy_for", lambda recovery, spot_retry_s: flip)
    store = StateStore()

    (job,) = ManagedJobs(store).create([{"name": "flip", "tasks": [Task(run='echo 0.5 > "$SKYHOP_PROGRESS_FILE"; sleep 30').to_dict()]}])
    assert drive_until_ended(store, job.id) == "FAILED_NO_RESOURCE"
    attempts = ManagedJobs(store).attempts()
    assert [(a.use_spot, a.outcome) for a in attempts] == [(False, "switched"), (True, "no_resource")]
    assert flip.asked == 3 and flip.views[0].current is Market.ON_DEMAND
    job = ManagedJobs(store).find()[0]
    assert job.recovery_count == 0
    assert store.list_clusters() == []
