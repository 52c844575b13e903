"""The autoscaling rule of pools (skyhop.jobs.pool_sizing) on hand-made situations: the size the queue asks
for, the delays that keep the target from flapping, new bounds applied at once."""

from __future__ import annotations

import pytest

from skyhop.jobs.pool_sizing import DOWNSCALE_DELAY_S, UPSCALE_DELAY_S, Scaling, Trend, step
from skyhop.spec.pool import PoolSpec


@pytest.mark.parametrize(
    ("busy", "pending", "threshold", "wanted"),
    [
        (0, 0, 1, 0),  # nothing to do: min_workers
        (0, 2, 1, 2),  # a worker per waiting job
        (2, 1, 1, 3),  # busy workers stay wanted
        (0, 9, 1, 4),  # capped at max_workers
        (0, 5, 3, 2),  # one more worker per 3 waiting jobs, rounded up
        (1, 1, 3, 2),
        (3, 0, 1, 3),  # all busy, none waiting: keep them
    ],
)
def test_the_wanted_size_is_busy_workers_plus_the_queue_over_the_threshold_within_the_bounds(busy, pending, threshold, wanted):
    scaling = Scaling(min_workers=0, max_workers=4, queue_length_threshold=threshold)
    assert scaling.wanted(busy, pending) == wanted


def test_min_workers_are_kept_with_an_empty_queue():
    assert Scaling(min_workers=2, max_workers=4).wanted(0, 0) == 2


def test_a_pool_section_gives_its_scaling_with_skypilots_keys_and_the_defaults():
    assert Scaling.of(PoolSpec(workers=3)) is None
    assert Scaling.of(PoolSpec(max_workers=3)) == Scaling(0, 3, 1, UPSCALE_DELAY_S, DOWNSCALE_DELAY_S)
    spec = PoolSpec.from_dict({"min_workers": 1, "max_workers": 5, "queue_length_threshold": 2, "upscale_delay_seconds": 10, "downscale_delay_seconds": 60})
    assert Scaling.of(spec) == Scaling(1, 5, 2, 10.0, 60.0)


def test_the_target_grows_only_after_the_upscale_delay_of_steady_demand():
    scaling = Scaling(min_workers=0, max_workers=4, upscale_delay_s=10, downscale_delay_s=30)
    target, trend = step(scaling, 1, 3, Trend(), now=100.0)
    assert (target, trend) == (1, Trend(1, 100.0))
    target, trend = step(scaling, target, 2, trend, now=105.0)  # still above: the clock keeps running
    assert (target, trend) == (1, Trend(1, 100.0))
    target, trend = step(scaling, target, 2, trend, now=110.0)
    assert (target, trend) == (2, Trend())  # the size wanted at that moment


def test_a_queue_that_empties_for_a_moment_does_not_shrink_the_pool():
    scaling = Scaling(min_workers=0, max_workers=4, upscale_delay_s=0, downscale_delay_s=30)
    target, trend = step(scaling, 3, 0, Trend(), now=0.0)  # the queue emptied
    target, trend = step(scaling, target, 0, trend, now=20.0)
    assert target == 3
    target, trend = step(scaling, target, 3, trend, now=25.0)  # jobs again: the countdown is reset
    assert (target, trend) == (3, Trend())
    target, trend = step(scaling, target, 0, trend, now=40.0)
    target, trend = step(scaling, target, 0, trend, now=69.0)
    assert target == 3
    target, trend = step(scaling, target, 0, trend, now=70.0)
    assert (target, trend) == (0, Trend())


def test_a_change_of_direction_restarts_the_delay():
    scaling = Scaling(min_workers=0, max_workers=4, upscale_delay_s=10, downscale_delay_s=10)
    _, trend = step(scaling, 2, 4, Trend(), now=0.0)
    target, trend = step(scaling, 2, 1, trend, now=9.0)  # now below: a new countdown from 9
    assert (target, trend) == (2, Trend(-1, 9.0))
    assert step(scaling, 2, 1, trend, now=18.0)[0] == 2
    assert step(scaling, 2, 1, trend, now=19.0)[0] == 1


def test_upscaling_without_delay_follows_the_queue_at_once():
    scaling = Scaling(min_workers=0, max_workers=3)
    assert step(scaling, 0, 3, Trend(), now=0.0) == (3, Trend())


def test_new_bounds_move_the_target_at_once_without_waiting():
    scaling = Scaling(min_workers=2, max_workers=3, upscale_delay_s=100, downscale_delay_s=100)
    assert step(scaling, 5, 2, Trend(-1, 0.0), now=1.0) == (3, Trend())
    assert step(scaling, 0, 2, Trend(), now=1.0) == (2, Trend())
