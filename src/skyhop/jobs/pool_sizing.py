"""How many workers an autoscaled pool wants: a pure rule the pool controller applies every poll.

SkyPilot's `pool:` section autoscales between `min_workers` and `max_workers`
on the length of the pool's queue. Its docs at hand name the keys but not the
exact rule, so skyhop's is written down here (and in docs/managed-jobs.md):

- demand = busy workers (each runs one job) + ceil(PENDING jobs / queue_length_threshold):
  with the default threshold 1 every waiting job asks for a worker of its own;
  with 5, one more worker per 5 waiting jobs;
- wanted = demand clamped to [min_workers, max_workers];
- the target moves to `wanted` only once `wanted` has stayed on the same side of
  the target for `upscale_delay_seconds` (up) or `downscale_delay_seconds`
  (down), so a queue that empties for a moment between two jobs does not tear
  a worker down only to launch it again (no flapping); bounds that changed
  (`pool apply`) apply at once.

The controller removes only idle workers to follow a lower target (never one
running a job), so the pool may stay above its target until they go idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skyhop.spec.pool import PoolSpec

#: Defaults when the pool file leaves them out: grow at once (a launch already takes minutes), shrink after 5 min idle.
UPSCALE_DELAY_S = 0.0
DOWNSCALE_DELAY_S = 300.0


@dataclass(frozen=True)
class Scaling:
    """An autoscaled pool's bounds and pacing (from its `pool:` section)."""

    min_workers: int
    max_workers: int
    queue_length_threshold: int = 1
    upscale_delay_s: float = UPSCALE_DELAY_S
    downscale_delay_s: float = DOWNSCALE_DELAY_S

    @classmethod
    def of(cls, spec: PoolSpec) -> Scaling | None:
        """The scaling of a `pool:` section, or None for a fixed pool (`workers`)."""
        if spec.max_workers is None:
            return None
        return cls(
            min_workers=spec.min_workers or 0,
            max_workers=spec.max_workers,
            queue_length_threshold=spec.queue_length_threshold or 1,
            upscale_delay_s=UPSCALE_DELAY_S if spec.upscale_delay_seconds is None else float(spec.upscale_delay_seconds),
            downscale_delay_s=DOWNSCALE_DELAY_S if spec.downscale_delay_seconds is None else float(spec.downscale_delay_seconds),
        )

    def clamp(self, workers: int) -> int:
        return max(self.min_workers, min(self.max_workers, workers))

    def wanted(self, busy: int, pending: int) -> int:
        """The size the queue asks for right now (see the module doc)."""
        return self.clamp(busy + math.ceil(pending / self.queue_length_threshold))


@dataclass(frozen=True)
class Trend:
    """Since when (`since`, a monotonic time) the wanted size has stayed above (+1) or below (-1) the target."""

    direction: int = 0
    since: float = 0.0


def step(scaling: Scaling, target: int, wanted: int, trend: Trend, now: float) -> tuple[int, Trend]:
    """The next (target, trend): the target follows `wanted` once the move's delay has passed."""
    clamped = scaling.clamp(target)
    if clamped != target:  # new bounds: no waiting
        return clamped, Trend()
    direction = (wanted > target) - (wanted < target)
    if direction == 0:
        return target, Trend()
    if trend.direction != direction:
        trend = Trend(direction, now)
    delay = scaling.upscale_delay_s if direction > 0 else scaling.downscale_delay_s
    if now - trend.since >= delay:
        return wanted, Trend()
    return target, trend
