"""How many replicas a service wants, spot or on-demand, and which to remove: one pure function.

`decide(policy, observation, state)` is SkyServe's autoscaler (`sky/serve/autoscalers.py`:
RequestRateAutoscaler, InstanceAwareRequestRateAutoscaler, FallbackRequestRateAutoscaler)
without I/O or a clock: the controller calls it every tick with the real time, the
SpotHedge simulator with a virtual one, and both get the same answers. Rules:

- qps = requests in the last 60 s / 60 (`AUTOSCALER_QPS_WINDOW_SIZE_SECONDS`; the window is a setting).
- raw target = ceil(qps / target_qps_per_replica) clipped to [min_replicas, max_replicas];
  with no target_qps_per_replica the target is min_replicas (a fixed-size service).
- instance-aware (target_qps_per_replica is an accelerator map): capacity = the sum of the
  map's QPS over alive replicas (PROVISIONING, STARTING, READY) by accelerator; if qps >=
  capacity, raw = those replicas + ceil((qps - capacity) / max(map)); else the fewest READY
  replicas, largest QPS first, whose QPS sum exceeds qps. An accelerator missing from the
  map (or none) weighs as min(map); `A100` matches a key `A100:1`. Scale-down then removes
  low-QPS accelerators first.
- hysteresis: the target moves to raw only once raw has stayed above (below) it for
  upscale_delay_seconds (downscale_delay_seconds). skyhop measures this delay in **exact
  seconds** (`jobs.pool_sizing.step`, shared with pools), where SkyServe counts whole 20 s
  decision rounds (threshold = int(delay / 20)). Why: the controller's tick is not fixed at
  20 s (the simulator steps 30 s, a busy controller ticks late), and counting rounds would
  stretch or shrink the user's delay with it; exact time gives the user's number under any
  tick. For delays that are multiples of 20 s on a 20 s tick both agree.
- from a target of 0 the target jumps at once (a request is waiting on nothing).
- final target = target + num_overprovision.
- fallback (base_ondemand_fallback_replicas > 0 or dynamic_ondemand_fallback): spot wanted =
  final target - base; on-demand wanted = base, plus (spot wanted - spot READY) with
  dynamic fallback, capped at the target (never on-demand for the overprovisioned extra).
  Spot and on-demand are sized separately, so with dynamic fallback on-demand replicas run
  beside spot replicas that are still launching: up to 2 x target alive for a while.
- only replicas of the latest version count toward the target; outdated ones go by
  `outdated()` (rolling or blue_green); `updated()` moves the state to a new version, its
  target taking the current load at once.
- if a replica of the latest version failed unrecoverably before that version was ever
  READY, nothing is launched or removed (no crash loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping

from skyhop.jobs.pool_sizing import Scaling, Trend, step
from skyhop.serve.states import (
    UNRECOVERABLE_STATUSES,
    ReplicaStatus,
    is_alive,
    pick_to_remove,
    scale_down_key,
)
from skyhop.spec.service import ServiceSpec, qps_of_accelerator

#: SkyServe's AUTOSCALER_QPS_WINDOW_SIZE_SECONDS.
QPS_WINDOW_S = 60.0
#: SkyServe's decision intervals: every 20 s, every 5 s while the target is 0 (to wake fast).
DECISION_INTERVAL_S = 20.0
NO_REPLICA_DECISION_INTERVAL_S = 5.0
UPDATE_MODES = ("rolling", "blue_green")
#: Replica states whose accelerator counts as capacity for the instance-aware rule.
_CAPACITY_STATUSES = frozenset({ReplicaStatus.PROVISIONING, ReplicaStatus.STARTING, ReplicaStatus.READY})


@dataclass(frozen=True)
class Policy:
    """The autoscaling view of a `service:` section."""

    min_replicas: int
    max_replicas: int
    target_qps: float | Mapping[str, float] | None = None
    num_overprovision: int = 0
    upscale_delay_s: float = 300.0
    downscale_delay_s: float = 1200.0
    base_ondemand: int = 0
    dynamic_ondemand: bool = False

    @classmethod
    def of(cls, spec: ServiceSpec) -> Policy:
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.min_replicas if spec.max_replicas is None else spec.max_replicas,
            target_qps=spec.target_qps_per_replica,
            num_overprovision=spec.num_overprovision or 0,
            upscale_delay_s=float(spec.upscale_delay_seconds),
            downscale_delay_s=float(spec.downscale_delay_seconds),
            base_ondemand=spec.base_ondemand_fallback_replicas,
            dynamic_ondemand=spec.dynamic_ondemand_fallback,
        )

    @property
    def fallback(self) -> bool:
        """Whether spot and on-demand replicas are sized apart (SkyServe's `use_ondemand_fallback`)."""
        return self.base_ondemand > 0 or self.dynamic_ondemand

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))

    def qps_of(self, accelerator: str | None) -> float:
        """Target QPS of one replica on `accelerator` (instance-aware map only)."""
        assert isinstance(self.target_qps, Mapping)
        found = qps_of_accelerator(self.target_qps, accelerator)
        return min(self.target_qps.values()) if found is None else found

    def _scaling(self) -> Scaling:
        return Scaling(self.min_replicas, self.max_replicas, upscale_delay_s=self.upscale_delay_s, downscale_delay_s=self.downscale_delay_s)


@dataclass(frozen=True)
class ReplicaView:
    """What the autoscaler reads of one replica."""

    replica_id: int
    version: int
    status: ReplicaStatus
    use_spot: bool = False
    accelerator: str | None = None  # e.g. "H100", as launched


@dataclass(frozen=True)
class Observation:
    """One tick's input: the time, when requests arrived (any order, older ones ignored),
    the replicas, and the versions the load balancer routes to (for blue_green)."""

    now: float
    request_times: tuple[float, ...] = ()
    replicas: tuple[ReplicaView, ...] = ()
    active_versions: tuple[int, ...] = ()
    #: Arrivals counted per second, as the load balancer reports them: (second, count) pairs. At
    #: thousands of requests a second one pair per second is what a tick can afford to read.
    request_counts: tuple[tuple[float, int], ...] = ()
    #: The rate's window (SkyServe's 60 s; config.yaml's serve.qps_window_seconds changes it).
    window_s: float = QPS_WINDOW_S

    def qps(self) -> float:
        start = self.now - self.window_s
        single = sum(1 for t in self.request_times if start < t <= self.now)
        return (single + sum(n for t, n in self.request_counts if start < t <= self.now)) / self.window_s


@dataclass(frozen=True)
class State:
    """What the autoscaler carries from one tick to the next (persisted by the controller)."""

    target: int
    trend: Trend = Trend()
    latest_version: int = 1
    ever_ready_version: int = 0  # the latest version that had a READY replica
    update_mode: str = "rolling"

    @classmethod
    def initial(cls, policy: Policy) -> State:
        return cls(target=policy.min_replicas)


@dataclass(frozen=True)
class Decision:
    """What to do now. `launch` replicas take the task's own resources (all spot when the
    service uses an on-demand fallback, which requires spot resources); `launch_ondemand`
    are the fallback replicas, forced on-demand. `remove` lists replica ids."""

    launch: int
    launch_ondemand: int
    remove: tuple[int, ...]
    state: State


def final_target(policy: Policy, state: State) -> int:
    """The replicas to keep alive: the autoscaled target plus the overprovisioned extra."""
    return state.target + policy.num_overprovision


def raw_target(policy: Policy, obs: Observation) -> int:
    """The replica count the current request rate asks for, clipped to [min, max]."""
    if policy.target_qps is None:
        return policy.min_replicas
    qps = obs.qps()
    if not isinstance(policy.target_qps, Mapping):
        return policy.clamp(math.ceil(qps / policy.target_qps))
    capacity_replicas = [r for r in obs.replicas if r.status in _CAPACITY_STATUSES]
    capacity = sum(policy.qps_of(r.accelerator) for r in capacity_replicas)
    if capacity <= 0:
        return policy.clamp(policy.min_replicas)
    if qps >= capacity:
        return policy.clamp(len(capacity_replicas) + math.ceil((qps - capacity) / max(policy.target_qps.values())))
    ready = sorted((policy.qps_of(r.accelerator) for r in obs.replicas if r.status is ReplicaStatus.READY), reverse=True)
    count, total = 0, 0.0
    for one in ready or [max(policy.target_qps.values())]:
        count, total = count + 1, total + one
        if total > qps:
            break
    return policy.clamp(count)


def next_target(policy: Policy, obs: Observation, state: State) -> State:
    """The state after this tick's hysteresis step (see the module doc)."""
    wanted = raw_target(policy, obs)
    if state.target == 0:
        return replace(state, target=wanted, trend=Trend())
    target, trend = step(policy._scaling(), state.target, wanted, state.trend, obs.now)
    return replace(state, target=target, trend=trend)


def updated(policy: Policy, obs: Observation, state: State, version: int, mode: str = "rolling") -> State:
    """The state after `serve update` to `version` under the new `policy`: the target jumps to what
    the load asks for now, with no delay, so the new version scales at once (SkyServe's
    `_AutoscalerWithHysteresis.update_version`)."""
    if mode not in UPDATE_MODES:
        raise ValueError(f"update mode {mode!r} is not one of {UPDATE_MODES}")
    return replace(state, target=raw_target(policy, obs), trend=Trend(), latest_version=version, update_mode=mode)


def decide(policy: Policy, obs: Observation, state: State) -> Decision:
    """This tick's launches and removals, and the state to carry (see the module doc)."""
    latest = [r for r in obs.replicas if r.version == state.latest_version]
    if any(r.status is ReplicaStatus.READY for r in latest):
        state = replace(state, ever_ready_version=state.latest_version)
    if state.ever_ready_version < state.latest_version and any(r.status in UNRECOVERABLE_STATUSES for r in latest):
        return Decision(0, 0, (), state)
    state = next_target(policy, obs, state)
    remove = outdated(obs, state, final_target(policy, state))
    alive = [r for r in latest if is_alive(r.status)]
    if policy.fallback:
        launch, launch_od, removed = _fallback_split(policy, state, alive)
    else:
        missing = final_target(policy, state) - len(alive)
        launch, launch_od, removed = max(0, missing), 0, _remove(policy, alive, -missing)
    return Decision(launch, launch_od, tuple(remove) + tuple(removed), state)


def _remove(policy: Policy, alive: list[ReplicaView], count: int) -> list[int]:
    """`count` of `alive` to remove: scale-down order, low-QPS accelerators first when instance-aware."""
    if count <= 0:
        return []
    if not isinstance(policy.target_qps, Mapping):
        return pick_to_remove(alive, count)
    ranked = sorted(alive, key=lambda r: (scale_down_key(r)[0], policy.qps_of(r.accelerator), *scale_down_key(r)[1:]))
    return [r.replica_id for r in ranked[:count]]


def _fallback_split(policy: Policy, state: State, alive: list[ReplicaView]) -> tuple[int, int, list[int]]:
    """Spot and on-demand sized apart (FallbackRequestRateAutoscaler)."""
    spot = [r for r in alive if r.use_spot]
    ondemand = [r for r in alive if not r.use_spot]
    spot_wanted = max(0, final_target(policy, state) - policy.base_ondemand)
    spot_ready = sum(1 for r in spot if r.status is ReplicaStatus.READY)
    od_wanted = policy.base_ondemand + (max(0, spot_wanted - spot_ready) if policy.dynamic_ondemand else 0)
    od_wanted = min(od_wanted, state.target)
    launch_spot, launch_od = spot_wanted - len(spot), od_wanted - len(ondemand)
    removed = _remove(policy, spot, -launch_spot) + _remove(policy, ondemand, -launch_od)
    return max(0, launch_spot), max(0, launch_od), removed


def outdated(obs: Observation, state: State, final: int) -> list[int]:
    """Alive replicas of older versions to remove now.

    rolling: once the latest version has `final` READY replicas all old ones go; before that
    only as many old ones stay as the latest version lacks, launching ones removed first.
    blue_green: every replica older than the oldest version the load balancer routes to
    (a version becomes routable once min_replicas of it are READY) (SkyServe's
    `_select_outdated_replicas_to_scale_down`)."""
    old = [r for r in obs.replicas if r.version < state.latest_version and is_alive(r.status)]
    if state.update_mode == "blue_green":
        if not obs.active_versions:
            return []
        oldest_active = min(obs.active_versions)
        return [r.replica_id for r in old if r.version < oldest_active]
    new_ready = sum(1 for r in obs.replicas if r.version == state.latest_version and r.status is ReplicaStatus.READY)
    keep = max(0, final - new_ready)
    return pick_to_remove(old, len(old) - keep)
