"""Managed-job statuses: SkyPilot's names, so scripts written for `sky jobs queue` read ours."""

from __future__ import annotations

import enum


class ManagedJobStatus(str, enum.Enum):
    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RECOVERING = "RECOVERING"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILED_SETUP = "FAILED_SETUP"
    FAILED_PRECHECKS = "FAILED_PRECHECKS"
    FAILED_NO_RESOURCE = "FAILED_NO_RESOURCE"
    FAILED_CONTROLLER = "FAILED_CONTROLLER"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset(
    {
        ManagedJobStatus.CANCELLED,
        ManagedJobStatus.SUCCEEDED,
        ManagedJobStatus.FAILED,
        ManagedJobStatus.FAILED_SETUP,
        ManagedJobStatus.FAILED_PRECHECKS,
        ManagedJobStatus.FAILED_NO_RESOURCE,
        ManagedJobStatus.FAILED_CONTROLLER,
    }
)
TERMINAL_NAMES = frozenset(s.value for s in TERMINAL)

# Attempt outcomes.
SUCCEEDED = "succeeded"
FAILED = "failed"
PREEMPTED = "preempted"
CANCELLED = "cancelled"
NO_RESOURCE = "no_resource"
#: The market policy (skyhop.jobs.market) moved the job to another market.
SWITCHED = "switched"
