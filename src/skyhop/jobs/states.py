"""Managed-job statuses: SkyPilot's names, so scripts written for `sky jobs queue` read ours."""

from __future__ import annotations

import enum


class ManagedJobStatus(str, enum.Enum):
    PENDING = "PENDING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RECOVERING = "RECOVERING"
    CANCELLING = "CANCELLING"
    #: Not SkyPilot's: a budget was reached (issue 13). The job keeps its attempts and logs, its cluster is torn
    #: down, and it waits, not terminal, until `jobs resume` (when the budget allows) or a cancel.
    PAUSED = "PAUSED"
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
#: The job was paused (a budget reached) while this attempt ran: its cluster was torn down; a resume starts another.
PAUSED = "paused"
