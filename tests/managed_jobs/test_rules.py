"""The pure parts of managed jobs: recovery decisions, the market seam, names, settings."""

from __future__ import annotations

import pytest

from skyhop.errors import ConfigError
from skyhop.execution.names import check_cluster_name
from skyhop.jobs import names, recovery
from skyhop.jobs.market import Market, MarketView, TaskMarket, policy_for
from skyhop.jobs.settings import JobsSettings, from_config
from skyhop.jobs.states import TERMINAL, ManagedJobStatus
from skyhop.optimizer.blocklist import Blocked
from skyhop.spec.quantities import JobRecovery


def test_exit_codes_always_restart_other_failures_only_within_the_budget():
    rule = JobRecovery.parse({"max_restarts_on_errors": 2, "recover_on_exit_codes": [7, 9]}, "job_recovery")
    assert recovery.after_failure(rule, 7, restarts_used=5) is recovery.AfterFailure.RESTART_ON_EXIT_CODE
    assert recovery.after_failure(rule, 1, restarts_used=1) is recovery.AfterFailure.RESTART_ON_ERROR
    assert recovery.after_failure(rule, 1, restarts_used=2) is recovery.AfterFailure.FAIL
    assert recovery.after_failure(rule, None, restarts_used=2) is recovery.AfterFailure.FAIL
    assert recovery.after_failure(None, 7, restarts_used=0) is recovery.AfterFailure.FAIL


def test_only_eager_next_region_blocks_the_preempted_region():
    eager = JobRecovery.parse("EAGER_NEXT_REGION", "job_recovery")
    assert recovery.blocked_after_preemption(eager, "ssh", "a") == (Blocked("ssh", "a"),)
    assert recovery.blocked_after_preemption(JobRecovery.parse("FAILOVER", "job_recovery"), "ssh", "a") == ()
    assert recovery.blocked_after_preemption(None, "ssh", "a") == ()
    assert recovery.blocked_after_preemption(eager, None, None) == ()


def test_the_default_market_is_the_tasks_own_and_uniform_progress_says_it_runs_as_failover():
    view = MarketView(job_id=1, now=10.0, submitted_at=0.0, run_seconds=5.0, recovery_count=0, current=None, task_spot=True)
    policy, note = policy_for(None)
    assert isinstance(policy, TaskMarket) and note is None
    assert policy.choose(view) is Market.SPOT and policy.on_poll(view) is None
    assert TaskMarket().choose(MarketView(1, 10.0, 0.0, 5.0, 0, None, task_spot=False)) is Market.ON_DEMAND
    _, note = policy_for("UNIFORM_PROGRESS")
    assert note is not None and "FAILOVER" in note


@pytest.mark.parametrize("name", [None, "Train LLaMA 3!", "9lives", "x" * 100, "---", "ünïcode"])
def test_cluster_names_are_valid_for_any_job_name(name):
    for task, count in ((0, 1), (3, 5)):
        made = names.cluster_name(name, 12345, task, count)
        assert check_cluster_name(made) == made
    assert names.cluster_name("a", 1, 0, 1) != names.cluster_name("a", 1, 1, 2)


def test_task_ids_are_stable_per_task():
    assert names.task_id(7, 0, 1) == "skyhop-managed-7"
    assert names.task_id(7, 1, 2) == "skyhop-managed-7-1"


def test_settings_from_config():
    assert from_config(None) == JobsSettings()
    assert from_config({"poll_seconds": 0.5}).poll_s == 0.5
    for bad in ({"poll_seconds": 0}, {"poll_seconds": "fast"}, {"lease_seconds": True}, {"surprise": 1}, ["x"]):
        with pytest.raises(ConfigError):
            from_config(bad)


def test_terminal_states_are_skypilots():
    assert {s.value for s in TERMINAL} == {
        "CANCELLED", "SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS", "FAILED_NO_RESOURCE", "FAILED_CONTROLLER"
    }
    assert not ManagedJobStatus.RECOVERING.terminal and ManagedJobStatus.FAILED_NO_RESOURCE.terminal
