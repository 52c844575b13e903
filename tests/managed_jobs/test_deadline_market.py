"""UNIFORM_PROGRESS in the controller: what the controller knows (attempt runs, spot refusals, the current
market) turned into the policy's Situation, and the policy's answers turned into the controller's markets.

Times are in seconds: a job of 100 s of work due 300 s after submission, changeover 10 s, spot retried
60 s after a launch found no capacity. The expected line is elapsed / 3.
"""

from __future__ import annotations

import pytest

from skyhop.jobs.market import DeadlineMarket, Market, MarketView, policy_for
from skyhop.spec.quantities import JobRecovery

RECOVERY = JobRecovery.parse({"strategy": "UNIFORM_PROGRESS", "deadline": "300s", "runtime": "100s", "changeover": "10s"}, "r")


def market() -> DeadlineMarket:
    made = policy_for(RECOVERY, 60)
    assert isinstance(made, DeadlineMarket)
    return made


def view(now: float, runs: tuple[float, ...] = (), refused: float | None = None, current: Market | None = None) -> MarketView:
    return MarketView(job_id=1, now=now, submitted_at=0.0, run_seconds=sum(runs), recovery_count=0, current=current,
                      task_spot=True, runs=runs, spot_refused_at=refused)


def test_progress_is_each_attempts_run_less_one_changeover():
    s = market().situation(view(200, runs=(40.0, 5.0, 30.0)), None)
    assert s.done == 30 + 0 + 20 and (s.elapsed, s.runtime, s.deadline, s.changeover) == (200, 100, 300, 10)


def test_first_launch_tries_spot():
    assert market().choose(view(0)) is Market.SPOT


@pytest.mark.parametrize(("now", "runs", "expected"), [
    (15, (), Market.ON_DEMAND),        # refused at 10, behind the line (0 < 5): on-demand at once
    (30, (45.0,), Market.WAIT),        # done 35 > 10 expected: on track, wait for spot
    (75, (45.0,), Market.SPOT),        # the refusal is 65 s old (> 60): spot may be back, try it
])
def test_after_spot_was_refused(now, runs, expected):
    assert market().choose(view(now, runs=runs, refused=10.0)) is expected


def test_on_demand_until_ahead_by_two_changeovers_then_spot():
    policy = market()
    # done 35 at t=60: the line is at 20, ahead by 15 < 20: stay on on-demand.
    assert policy.on_poll(view(60, runs=(45.0,), current=Market.ON_DEMAND)) is None
    # done 55 at t=60: ahead by 35 >= 20 and no recent refusal: move to spot.
    assert policy.on_poll(view(60, runs=(65.0,), current=Market.ON_DEMAND)) is Market.SPOT
    # The same, but spot was refused 30 s ago: stay.
    assert policy.on_poll(view(60, runs=(65.0,), refused=30.0, current=Market.ON_DEMAND)) is None


def test_spot_is_kept_while_it_runs_even_when_behind_until_the_safety_net():
    policy = market()
    assert policy.on_poll(view(150, runs=(20.0,), refused=140.0, current=Market.SPOT)) is None  # behind, spot kept
    # t=270: 30 s left, 60 s of work left (+20 margin): the safety net moves the job to on-demand for good.
    assert policy.on_poll(view(270, runs=(50.0,), current=Market.SPOT)) is Market.ON_DEMAND
    assert policy.choose(view(270, runs=(50.0,))) is Market.ON_DEMAND


def test_on_the_local_provider_no_spot_means_on_demand_and_the_job_meets_its_deadline(migrated_home):
    """The local machine sells no spot: UNIFORM_PROGRESS's first (spot) attempt is refused, which for a
    deadline policy is a fact (not the job's end); the job is behind its line at once, so it runs on demand
    and succeeds well within its deadline."""
    from managed_jobs.inprocess import drive_until_ended
    from skyhop.spec.task import Task
    from skyhop.state.managed import ManagedJobs
    from skyhop.state.store import StateStore

    store = StateStore()
    task = Task.from_dict({"resources": {"infra": "local", "use_spot": True, "job_recovery": {
        "strategy": "UNIFORM_PROGRESS", "deadline": "120s", "runtime": "3s", "changeover": "2s"}}, "run": "sleep 1; echo done"})
    (job,) = ManagedJobs(store).create([{"name": "up", "tasks": [task.to_dict()]}])
    assert drive_until_ended(store, job.id) == "SUCCEEDED"
    attempts = ManagedJobs(store).attempts()
    assert [(a.use_spot, a.outcome) for a in attempts] == [(True, "no_resource"), (False, "succeeded")]
    assert ManagedJobs(store).find()[0].recovery_count == 0 and store.list_clusters() == []


def test_progress_the_job_reports_itself_wins_over_run_time():
    s = market().situation(MarketView(job_id=1, now=200, submitted_at=0.0, run_seconds=75, recovery_count=0, current=None,
                                      task_spot=True, runs=(40.0, 35.0), progress=0.25), None)
    assert s.done == 25.0  # a quarter of the 100 s of work, whatever the attempts' run times say


def test_a_job_whose_runs_add_up_to_its_work_but_has_not_ended_keeps_running():
    """Time on machines overstates progress when starts take longer than a changeover (seen under load): the
    runs add up to more than the work while the job is still at it. The job must go on, not wait for ever."""
    policy = market()
    assert policy.on_poll(view(200, runs=(70.0, 50.0), current=Market.SPOT)) is None  # 60 + 40 = 100 "done"
    assert policy.on_poll(view(200, runs=(70.0, 50.0), current=Market.ON_DEMAND)) is Market.SPOT  # far ahead
    assert policy.choose(view(200, runs=(70.0, 50.0))) is Market.SPOT
    assert policy.choose(view(295, runs=(70.0, 50.0), refused=290.0)) is Market.ON_DEMAND  # the net, near the end
