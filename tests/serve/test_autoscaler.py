"""The pure autoscaler: SkyServe's rules (`sky/serve/autoscalers.py`) as table cases, then properties."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from skyhop.jobs.pool_sizing import Trend
from skyhop.serve.autoscaler import Observation, Policy, ReplicaView, State, decide, raw_target, updated
from skyhop.serve.states import ReplicaStatus as R
from skyhop.serve.states import is_alive
from skyhop.spec.service import ServiceSpec


def reqs(qps: float, now: float = 0.0) -> tuple[float, ...]:
    """Requests at an even rate over the 60 s window ending at `now`."""
    n = round(qps * 60)
    return tuple(now - 60 + 60 * (i + 1) / n for i in range(n)) if n else ()


def ready(*ids: int, version: int = 1, spot: bool = False, acc: str | None = None) -> tuple[ReplicaView, ...]:
    return tuple(ReplicaView(i, version, R.READY, spot, acc) for i in ids)


def test_policy_from_spec_defaults() -> None:
    # service_spec: max defaults to min; delays 300 / 1200 s (AUTOSCALER_DEFAULT_*_DELAY_SECONDS).
    spec = ServiceSpec.from_dict({"replica_policy": {"min_replicas": 1, "max_replicas": 4, "target_qps_per_replica": 2, "num_overprovision": 1}})
    assert Policy.of(spec) == Policy(1, 4, 2, num_overprovision=1, upscale_delay_s=300.0, downscale_delay_s=1200.0)
    assert Policy.of(ServiceSpec.from_dict({"replicas": 3})) == Policy(3, 3)


def test_fixed_size_launches_min_replicas() -> None:
    # RequestRateAutoscaler._calculate_target_num_replicas: no target_qps -> min_replicas.
    d = decide(Policy(2, 2), Observation(0.0), State.initial(Policy(2, 2)))
    assert (d.launch, d.launch_ondemand, d.remove) == (2, 0, ())


def test_qps_window_is_60s() -> None:
    # qps = requests in the last AUTOSCALER_QPS_WINDOW_SIZE_SECONDS (60) / 60; raw = ceil(qps / target).
    policy = Policy(1, 10, 1.0)
    assert raw_target(policy, Observation(100.0, reqs(3.0, 100.0))) == 3
    assert raw_target(policy, Observation(161.0, reqs(3.0, 100.0))) == 1  # all older than 60 s
    assert raw_target(policy, Observation(100.0, reqs(2.5, 100.0))) == 3  # ceil
    assert raw_target(policy, Observation(100.0, reqs(50.0, 100.0))) == 10  # clipped to max


def test_upscale_waits_for_the_delay() -> None:
    # _set_target_num_replicas_with_hysteresis: move only after raw stays above for the upscale delay.
    policy = Policy(1, 5, 1.0, upscale_delay_s=300.0)
    state = State(target=1)
    for now in (0.0, 100.0, 299.0):
        d = decide(policy, Observation(now, reqs(3.0, now), ready(1)), state)
        assert (d.state.target, d.launch) == (1, 0)
        state = d.state
    d = decide(policy, Observation(300.0, reqs(3.0, 300.0), ready(1)), state)
    assert (d.state.target, d.launch) == (3, 2)


def test_a_dip_restarts_the_delay() -> None:
    # The counters reset when raw == target (`else: upscale_counter = downscale_counter = 0`).
    policy = Policy(1, 5, 1.0, upscale_delay_s=300.0)
    state = decide(policy, Observation(0.0, reqs(3.0, 0.0), ready(1)), State(target=1)).state
    state = decide(policy, Observation(200.0, reqs(1.0, 200.0), ready(1)), state).state
    d = decide(policy, Observation(300.0, reqs(3.0, 300.0), ready(1)), state)
    assert d.state.target == 1
    assert decide(policy, Observation(600.0, reqs(3.0, 600.0), ready(1)), d.state).state.target == 3


def test_downscale_after_delay_removes_in_scale_down_order() -> None:
    policy = Policy(1, 5, 1.0, downscale_delay_s=1200.0)
    reps = ready(1, 2) + (ReplicaView(3, 1, R.STARTING),)
    state = decide(policy, Observation(0.0, reqs(1.0, 0.0), reps), State(target=3)).state
    assert state.target == 3
    d = decide(policy, Observation(1200.0, reqs(1.0, 1200.0), reps), state)
    # STARTING before READY, then the higher id (_select_nonterminal_replicas_to_scale_down).
    assert (d.state.target, d.launch, d.remove) == (1, 0, (3, 2))


def test_from_zero_scales_up_at_once() -> None:
    # "Faster scale up when there is no replica": target 0 takes raw at once.
    policy = Policy(0, 3, 1.0, upscale_delay_s=300.0)
    d = decide(policy, Observation(5.0, (4.0,)), State(target=0))
    assert (d.state.target, d.launch) == (1, 1)


def test_overprovision_adds_on_top() -> None:
    # get_final_target_num_replicas = target + num_overprovision.
    policy = Policy(2, 2, num_overprovision=1)
    assert decide(policy, Observation(0.0), State(target=2)).launch == 3


def test_base_ondemand_fallback() -> None:
    # FallbackRequestRateAutoscaler: spot = final target - base; on-demand = base.
    policy = Policy(3, 3, base_ondemand=1)
    d = decide(policy, Observation(0.0), State(target=3))
    assert (d.launch, d.launch_ondemand) == (2, 1)


def test_dynamic_fallback_fills_spot_not_ready() -> None:
    # num_ondemand_to_provision += max(0, spot wanted - spot READY), capped at target (not overprovision).
    policy = Policy(3, 3, dynamic_ondemand=True, num_overprovision=1)
    spot = ready(1, spot=True) + tuple(ReplicaView(i, 1, R.PROVISIONING, True) for i in (2, 3, 4))
    d = decide(policy, Observation(0.0, (), spot), State(target=3))
    assert (d.launch, d.launch_ondemand, d.remove) == (0, 3, ())
    # All spot READY: the on-demand fallback goes, launching ones first.
    od = (ReplicaView(5, 1, R.READY, False), ReplicaView(6, 1, R.PROVISIONING, False))
    d = decide(policy, Observation(0.0, (), ready(1, 2, 3, 4, spot=True) + od), State(target=3))
    assert (d.launch, d.launch_ondemand, d.remove) == (0, 0, (6, 5))


def test_instance_aware_targets() -> None:
    # InstanceAwareRequestRateAutoscaler: capacity from alive replicas by accelerator; above it,
    # add ceil(excess / max(map)); below, the fewest READY (largest first) whose sum exceeds qps.
    policy = Policy(1, 10, {"H100": 10.0, "A100:1": 4.0})
    reps = ready(1, acc="H100") + ready(2, acc="A100")  # "A100" matches the key "A100:1"
    assert raw_target(policy, Observation(60.0, reqs(20.0, 60.0), reps)) == 3
    assert raw_target(policy, Observation(60.0, reqs(5.0, 60.0), reps)) == 1
    assert raw_target(policy, Observation(60.0, reqs(12.0, 60.0), reps)) == 2
    # An unknown accelerator weighs min(map) = 4.
    assert raw_target(policy, Observation(60.0, reqs(7.0, 60.0), ready(1, acc="T4"))) == 2
    # No capacity at all: min_replicas.
    assert raw_target(policy, Observation(60.0, reqs(7.0, 60.0))) == 1


def test_instance_aware_removes_low_qps_first() -> None:
    # _select_replicas_to_scale_down_by_qps: status order, then target qps ascending.
    policy = Policy(1, 10, {"H100": 10.0, "A100": 4.0})
    reps = ready(1, acc="H100") + ready(2, acc="A100") + ready(3, acc="H100")
    d = decide(policy, Observation(0.0, (), reps), State(target=2))
    assert d.remove == (2,)


def test_unrecoverable_failure_stops_scaling() -> None:
    # generate_scaling_decisions: a latest-version replica failed before that version was ever READY.
    policy = Policy(2, 2)
    reps = (ReplicaView(1, 1, R.FAILED), ReplicaView(2, 1, R.STARTING))
    d = decide(policy, Observation(0.0, (), reps), State(target=2))
    assert (d.launch, d.remove) == (0, ())
    # Once that version was READY once, a failure is replaced as usual.
    d = decide(policy, Observation(0.0, (), reps), State(target=2, ever_ready_version=1))
    assert d.launch == 1


def test_rolling_update_keeps_old_until_new_ready() -> None:
    # _select_outdated_replicas_to_scale_down (rolling): keep final - new READY old replicas,
    # launching old ones removed first; all old go once new READY >= final target.
    policy = Policy(3, 3)
    old = ready(1, 2) + (ReplicaView(3, 1, R.STARTING),)
    d = decide(policy, Observation(0.0, (), old + ready(4, version=2)), State(target=3, latest_version=2))
    assert (d.launch, sorted(d.remove)) == (2, [3])
    d = decide(policy, Observation(0.0, (), old + ready(4, 5, 6, version=2)), State(target=3, latest_version=2))
    assert (d.launch, sorted(d.remove)) == (0, [1, 2, 3])


def test_update_resets_target_and_trend() -> None:
    # update_version: target = _calculate_target_num_replicas() at once, counters cleared.
    policy = Policy(1, 5, 1.0)
    state = State(target=1, trend=Trend(1, 0.0))
    new = updated(Policy(2, 6, 1.0), Observation(10.0, reqs(4.0, 10.0)), state, 2, "blue_green")
    assert new == State(target=4, trend=Trend(), latest_version=2, update_mode="blue_green")
    assert updated(policy, Observation(10.0), state, 2).target == 1


def test_blue_green_drops_versions_below_active() -> None:
    # blue_green: remove every replica older than min(active_versions); none while none is active.
    policy = Policy(2, 2)
    reps = ready(1, 2) + ready(3, 4, version=2)
    state = State(target=2, latest_version=2, update_mode="blue_green")
    assert decide(policy, Observation(0.0, (), reps, active_versions=(1,)), state).remove == ()
    assert decide(policy, Observation(0.0, (), reps, active_versions=()), state).remove == ()
    assert sorted(decide(policy, Observation(0.0, (), reps, active_versions=(2,)), state).remove) == [1, 2]


# ---- properties: a simulated service under any request sequence -------------------------------

policies = st.builds(
    lambda lo, span, qps, over, up, down, base, dyn: Policy(lo, lo + span, qps, over, up, down, base, dyn),
    st.integers(0, 3), st.integers(0, 4), st.one_of(st.none(), st.floats(0.5, 5.0)), st.integers(0, 2),
    st.sampled_from([0.0, 20.0, 60.0, 300.0]), st.sampled_from([0.0, 20.0, 120.0, 1200.0]),
    st.integers(0, 2), st.booleans(),
)
ticks = st.lists(st.tuples(st.integers(1, 200), st.integers(0, 600), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(policies, ticks)
def test_simulated_service_properties(policy: Policy, steps: list[tuple[int, int, bool]]) -> None:
    state, now, times = State.initial(policy), 0.0, ()  # type: tuple[float, ...]
    replicas: list[ReplicaView] = []
    changes: list[tuple[float, int, int]] = []  # (time, old target, new target)
    next_id = 1
    for dt, requests, spot_comes_up in steps:
        now += dt
        times = tuple(t for t in times if t > now - 60) + tuple(now - i * dt / (requests + 1) for i in range(requests))
        d = decide(policy, Observation(now, times, tuple(replicas)), state)
        # target always within [min, max]
        assert policy.min_replicas <= d.state.target <= policy.max_replicas
        if d.state.target != state.target:
            changes.append((now, state.target, d.state.target))
            if state.target == 0:  # from zero: straight to what the load asks for
                assert d.state.target == raw_target(policy, Observation(now, times, tuple(replicas)))
        state = d.state
        replicas = [r for r in replicas if r.replica_id not in d.remove]
        for i in range(d.launch):
            replicas.append(ReplicaView(next_id + i, 1, R.READY if spot_comes_up else R.PROVISIONING, policy.fallback))
        next_id += d.launch
        for i in range(d.launch_ondemand):
            replicas.append(ReplicaView(next_id + i, 1, R.READY, False))
        next_id += d.launch_ondemand
        alive = [r for r in replicas if is_alive(r.status)]
        final = state.target + policy.num_overprovision
        if not policy.dynamic_ondemand:
            # launched + kept never exceeds max + overprovision (exactly the final target without fallback)
            assert len(alive) <= final <= policy.max_replicas + policy.num_overprovision
            assert policy.fallback or len(alive) == final
        else:
            # dynamic fallback: spot holds the final target less the base, on-demand fills beside it
            assert sum(r.use_spot for r in alive) == max(0, final - policy.base_ondemand)
        if policy.fallback:
            # on-demand never exceeds the target (never for the overprovisioned extra)
            assert sum(not r.use_spot for r in alive) <= state.target
    # the target moves at most once per delay (except out of zero, which is immediate)
    for (t1, _, _), (t2, old, new) in zip(changes, changes[1:]):
        if old != 0:
            assert t2 - t1 >= (policy.upscale_delay_s if new > old else policy.downscale_delay_s)


@settings(max_examples=50, deadline=None)
@given(policies, st.integers(1, 600))
def test_from_zero_scales_up_on_the_first_request(policy: Policy, load: int) -> None:
    policy = replace(policy, min_replicas=0, max_replicas=max(1, policy.max_replicas), target_qps=policy.target_qps or 1.0)
    d = decide(policy, Observation(10.0, tuple(10.0 - i / 100 for i in range(load))), State(target=0, trend=Trend(-1, 0.0)))
    assert d.state.target >= 1
    assert d.launch + d.launch_ondemand >= 1
