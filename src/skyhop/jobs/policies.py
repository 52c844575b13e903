"""Deadline policies for spot jobs: where to run next (spot, on-demand, or nowhere).

The managed-jobs controller and the simulator (`skyhop sim spot`) call the same
objects, so what the simulator measures is what the controller does. A policy
is a pure function of a `Situation`: no I/O, no clock, no state kept between
calls. Every time is passed in, in seconds, which is what lets the controller
resume after a crash from the numbers it stored, and the simulator replay a
trace at any speed.

Words used below (all in seconds): the job needs `runtime` of work and must
have it done `deadline` after submission; each (re)start costs `changeover`
(d) before progress resumes. At `elapsed`, with `done` of work done:

- remaining time = deadline - elapsed, remaining work = runtime - done;
- the *expected progress* is the uniform line elapsed * runtime / deadline;
  the job is *behind* when done < expected progress (done/elapsed is below
  runtime/deadline), and *ahead by two changeovers* when
  done >= expected progress + 2d;
- the *safety net* holds when remaining time < remaining work + 2d.

Both policies, in this order:

1. The job is done: NONE.
2. Safety net: ON_DEMAND. It is for good without any memory: on on-demand the
   slack (remaining time - remaining work) stays constant once started and
   only shrinks otherwise, so once the net holds it holds until the end. Two
   changeovers (not one) of margin leave room for one decision interval of
   up to d between checks, plus the changeover of the switch itself, so a
   caller that checks at least every d seconds never misses the deadline.

Greedy (the baseline of the Can't Be Late paper, NSDI'24):

3. Spot available: SPOT (kept until preempted, since it is always chosen).
4. Otherwise NONE: wait for spot, burning slack, until the safety net.

Uniform Progress (the paper's policy; parameter-free):

3. On ON_DEMAND: stay ON_DEMAND unless spot is available and the job is
   ahead by two changeovers. Hysteresis: going back to spot pays a
   changeover, and a preemption soon after would leave the job behind again;
   leaving on-demand to wait for spot would pay a changeover to resume and
   save nothing, since on-demand work costs the same whenever it is done.
4. Spot available: SPOT (take it whenever available, keep it until
   preempted: a job on spot stays there even when behind).
5. Idle (NONE, or just preempted) and behind: ON_DEMAND.
6. Otherwise NONE: the job is on track, so it waits for spot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Market(str, enum.Enum):
    """Where a job runs; NONE means it runs nowhere (waits for spot)."""

    SPOT = "spot"
    ON_DEMAND = "on_demand"
    NONE = "none"


@dataclass(frozen=True)
class Situation:
    """Everything a policy may look at, in seconds since the job was submitted."""

    elapsed: float  # seconds since the job was submitted
    done: float  # seconds of work done (progress)
    runtime: float  # seconds of work the job needs in total
    deadline: float  # seconds from submission by which done must reach runtime
    changeover: float  # seconds each (re)start costs before progress resumes
    current: Market  # where it runs now (NONE when idle, between attempts)
    spot_available: bool  # sim: the trace; controller: whether spot can be had now (its best knowledge)

    @property
    def finished(self) -> bool:
        return self.done >= self.runtime

    @property
    def safety_net(self) -> bool:
        """Less time left than the remaining work plus two changeovers: on-demand from now on."""
        return self.deadline - self.elapsed < (self.runtime - self.done) + 2 * self.changeover

    @property
    def expected(self) -> float:
        """Progress on the uniform line from (0, 0) to (deadline, runtime)."""
        return self.elapsed * self.runtime / self.deadline

    @property
    def behind(self) -> bool:
        return self.done < self.expected

    @property
    def ahead_by_two_changeovers(self) -> bool:
        return self.done >= self.expected + 2 * self.changeover


class Policy(Protocol):
    name: str

    def decide(self, s: Situation) -> Market: ...


def _forced(s: Situation) -> Market | None:
    """Rules 1 and 2, common to both policies: a finished job runs nowhere; the safety net means on-demand."""
    if s.finished:
        return Market.NONE
    return Market.ON_DEMAND if s.safety_net else None


class Greedy:
    """Spot whenever available; otherwise wait, until the safety net forces on-demand for good."""

    name = "greedy"

    def decide(self, s: Situation) -> Market:
        forced = _forced(s)
        if forced is not None:
            return forced
        return Market.SPOT if s.spot_available else Market.NONE


class UniformProgress:
    """Keep progress on the uniform line: on-demand only when idle and behind (rules in the module docstring)."""

    name = "uniform_progress"

    def decide(self, s: Situation) -> Market:
        forced = _forced(s)
        if forced is not None:
            return forced
        if s.current is Market.ON_DEMAND and not (s.spot_available and s.ahead_by_two_changeovers):
            return Market.ON_DEMAND
        if s.spot_available:
            return Market.SPOT
        return Market.ON_DEMAND if s.behind else Market.NONE


POLICIES: dict[str, type[Greedy] | type[UniformProgress]] = {"greedy": Greedy, "uniform_progress": UniformProgress}


def policy(name: str) -> Policy:
    """The policy called `name` ("greedy" or "uniform_progress", any case)."""
    found = POLICIES.get(name.strip().lower())
    if found is None:
        raise ValueError(f"Unknown deadline policy {name!r}; use one of: {', '.join(POLICIES)}.")
    return found()
