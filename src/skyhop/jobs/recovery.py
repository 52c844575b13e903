"""What a managed job does after an attempt ends other than by success: the `job_recovery` rules.

Pure functions of the task's `JobRecovery` (SkyPilot's syntax) and the job's
counters, so the controller's decisions are unit-tested without machines.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from skyhop.optimizer.blocklist import Blocked
from skyhop.spec.quantities import JobRecovery

#: Strategies that behave as FAILOVER in this increment (the deadline one picks markets, see jobs.market).
EAGER_NEXT_REGION = "EAGER_NEXT_REGION"


class AfterFailure(enum.Enum):
    RESTART_ON_EXIT_CODE = "restart_on_exit_code"  # a code in recover_on_exit_codes: always, not counted
    RESTART_ON_ERROR = "restart_on_error"  # within max_restarts_on_errors: counted
    FAIL = "fail"


def after_failure(recovery: JobRecovery | None, exit_code: int | None, restarts_used: int) -> AfterFailure:
    """A failed run (the user's program failed, the nodes are fine): restart or give up."""
    recovery = recovery or JobRecovery()
    if exit_code is not None and exit_code in recovery.recover_on_exit_codes:
        return AfterFailure.RESTART_ON_EXIT_CODE
    if restarts_used < recovery.max_restarts_on_errors:
        return AfterFailure.RESTART_ON_ERROR
    return AfterFailure.FAIL


def blocked_after_preemption(recovery: JobRecovery | None, provider: str | None, region: str | None) -> tuple[Blocked, ...]:
    """What the next attempt must avoid after a preemption in `provider/region`.

    FAILOVER (the default) tries the same region first: nothing is blocked.
    EAGER_NEXT_REGION blocks the preempted region (for existing-machine pools the
    region is the pool); if nothing else can take the job, the controller
    retries without the block rather than giving up (SkyPilot does the same).
    """
    if recovery is None or recovery.strategy != EAGER_NEXT_REGION or not provider:
        return ()
    return (Blocked(provider, region),)


def describe(blocked: Iterable[Blocked]) -> str:
    return ", ".join(str(b) for b in blocked) or "nothing"
