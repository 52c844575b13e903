"""Replay zone availability traces through the serve autoscaler and the SpotHedge placer.

One trace file per zone. At each tick of the simulation a zone holds at most as many of
the service's spot replicas as its trace counts at that moment (0: none); the newest
replicas beyond that are preempted (those furthest from READY, so a partial wave costs the
least readiness). Every tick, in this order:

1. preemptions, from the trace; the placer hears of each zone that preempted;
2. replicas launched `cold_start` ago become READY (the placer hears, for spot ones);
3. the tick counts as available when READY replicas >= the target;
4. `serve.autoscaler.decide` (a fixed-size Policy: min = max = target) says how many spot
   and on-demand replicas to launch and which to remove, exactly as the controller asks;
   each spot launch goes where the policy's placement says; a launch into a zone with no
   room left fails at once, launches nothing and counts as a preemption for the placer
   (SkyServe's replica manager marks such a zone preempted as well); the next tick's
   decision launches again;
5. every replica alive after that pays the tick, provisioning included.

Policies:

- `spothedge`: the `dynamic_fallback` placer, `num_overprovision` extra spot replicas,
  and `dynamic_ondemand_fallback` (on-demand replicas while spot ones are not READY);
- `spot_only`: spot replicas round-robin over the zones, cheapest first, blind to
  preemptions, same overprovision, no on-demand;
- `ondemand_only`: `target` on-demand replicas, never preempted.

The simulation starts `warmup` before each measured window so that every policy is
measured from a steady state (otherwise the first cold start makes even on-demand-only
miss 120 s of a day). Cost is replica-seconds at their price over the measured window,
relative to `target` on-demand replicas for the same time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

from skyhop.serve.autoscaler import Observation, Policy, ReplicaView, State, decide
from skyhop.serve.placer import DynamicFallback
from skyhop.serve.states import ReplicaStatus
from skyhop.sim.errors import SimError
from skyhop.sim.trace import Trace

SPOTHEDGE = "spothedge"
SPOT_ONLY = "spot_only"
ONDEMAND_ONLY = "ondemand_only"
POLICIES = (SPOTHEDGE, SPOT_ONLY, ONDEMAND_ONLY)
#: The SkyServe paper's simulation: on-demand costs 3x spot when the traces carry no prices.
DEFAULT_ONDEMAND_RATIO = 3.0


@dataclass(frozen=True)
class Setup:
    """The service and the experiment (defaults: the SkyServe paper's simulation)."""

    replicas: int = 3  # the target of READY replicas
    overprovision: int = 1  # extra spot replicas (num_overprovision)
    cold_start: float = 120.0  # seconds from launch to READY
    tick: float = 30.0  # seconds per simulation step
    hours: float = 24.0  # measured window per start
    warmup: float = 3600.0  # seconds simulated before each measured window
    ondemand_ratio: float | None = None  # None: the traces' prices when all have both, else 3x spot
    starts: int = 10  # measured windows per policy, at seeded random offsets
    seed: int = 0

    def check(self) -> None:
        if self.replicas < 1 or self.overprovision < 0 or self.starts < 1:
            raise SimError("--replicas and --starts must be at least 1, --overprovision at least 0.")
        if not (self.tick > 0 and self.hours > 0 and self.cold_start >= 0 and self.warmup >= 0):
            raise SimError("--tick and --hours must be above zero, --cold-start and --warmup at least zero.")
        if self.ondemand_ratio is not None and not (math.isfinite(self.ondemand_ratio) and self.ondemand_ratio > 0):
            raise SimError(f"--ondemand-ratio must be a number above zero, got {self.ondemand_ratio:g}.")

    @property
    def warmup_ticks(self) -> int:
        return math.ceil(self.warmup / self.tick - 1e-9)

    @property
    def measured_ticks(self) -> int:
        return math.ceil(self.hours * 3600 / self.tick - 1e-9)


@dataclass(frozen=True)
class Prices:
    """Spot price per zone per trace tick, and the on-demand price (the cheapest zone's: on-demand
    capacity is taken as always there, so it runs where it is cheapest)."""

    spot: tuple[tuple[float, ...], ...]
    ondemand: float
    source: str  # "trace" or "ratio"

    def mean_spot(self, zone: int) -> float:
        return sum(self.spot[zone]) / len(self.spot[zone])


@dataclass(frozen=True)
class Run:
    """One policy over one measured window."""

    availability: float  # share of ticks with READY >= target
    cost: float  # relative to target on-demand replicas
    mean_replicas: float  # alive, provisioning included
    mean_ondemand: float
    preemptions: int
    failed_launches: int


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    runs: tuple[Run, ...]

    def mean(self, name: str) -> float:
        return sum(getattr(r, name) for r in self.runs) / len(self.runs)

    @property
    def worst_availability(self) -> float:
        return min(r.availability for r in self.runs)


@dataclass(frozen=True)
class Result:
    traces: tuple[Trace, ...]
    prices: Prices
    offsets: tuple[float, ...]  # seconds into the traces where each simulation (warm-up first) begins
    policies: tuple[PolicyResult, ...]


def prices(traces: Sequence[Trace], ratio: float | None) -> Prices:
    """The traces' prices when every trace has both and no ratio is forced, else spot 1 and on-demand `ratio` (3)."""
    if ratio is None and all(t.spot_prices is not None and t.ondemand_price is not None for t in traces):
        return Prices(tuple(t.spot_prices or () for t in traces), min(t.ondemand_price or math.inf for t in traces), "trace")
    return Prices(tuple((1.0,) * len(t.counts) for t in traces), DEFAULT_ONDEMAND_RATIO if ratio is None else ratio, "ratio")


def offsets(traces: Sequence[Trace], setup: Setup) -> tuple[float, ...]:
    """`starts` simulation start times (seconds, whole ticks), drawn with `seed` so that warm-up and window fit every trace."""
    span = (setup.warmup_ticks + setup.measured_ticks) * setup.tick
    shortest = min(t.duration for t in traces)
    if span > shortest + 1e-6:
        raise SimError(
            f"The traces cover {shortest / 3600:g} h (the shortest), less than the {setup.warmup / 3600:g} h warm-up plus the "
            f"{setup.hours:g} h measured: give fewer --hours or a shorter --warmup."
        )
    last = math.floor((shortest - span) / setup.tick + 1e-9)
    rng = random.Random(setup.seed)
    return tuple(rng.randint(0, last) * setup.tick for _ in range(setup.starts))


def evaluate(traces: Sequence[Trace], names: Sequence[str], setup: Setup) -> Result:
    """Every policy in `names` from every start; the zones are the traces, named by file."""
    setup.check()
    zone_names = [t.name for t in traces]
    if len(set(zone_names)) != len(zone_names):
        raise SimError(f"Two traces have the same file name ({sorted(zone_names)}); each file is one zone, named by its file.")
    price = prices(traces, setup.ondemand_ratio)
    starts = offsets(traces, setup)
    results = tuple(PolicyResult(name, tuple(simulate(name, traces, price, setup, start) for start in starts)) for name in names)
    return Result(tuple(traces), price, starts, results)


def policy(name: str, setup: Setup) -> Policy:
    """The autoscaler policy each simulated policy runs: a fixed target, the same object the controller builds."""
    if name == SPOTHEDGE:
        return Policy(setup.replicas, setup.replicas, num_overprovision=setup.overprovision, dynamic_ondemand=True)
    if name == SPOT_ONLY:
        return Policy(setup.replicas, setup.replicas, num_overprovision=setup.overprovision)
    if name == ONDEMAND_ONLY:
        return Policy(setup.replicas, setup.replicas)
    raise SimError(f"Unknown serving policy {name!r}; one of {', '.join(POLICIES)}.")


@dataclass
class _Replica:
    replica_id: int
    zone: int | None  # index into the traces; None: on-demand
    ready_tick: int
    ready: bool = False


@dataclass
class _World:
    """The simulation's mutable state for one run (one policy, one start)."""

    name: str
    traces: Sequence[Trace]
    placer: DynamicFallback
    replicas: list[_Replica] = field(default_factory=list)
    next_id: int = 1
    round_robin: int = 0
    preemptions: int = 0
    failed_launches: int = 0

    def zone_index(self, name: str) -> int:
        return next(i for i, t in enumerate(self.traces) if t.name == name)

    def count(self, zone: int) -> int:
        return sum(1 for r in self.replicas if r.zone == zone)

    def lost(self, zone: int) -> None:
        """A preemption or a refused launch in `zone`: only SpotHedge's placer takes note."""
        if self.name == SPOTHEDGE:
            self.placer = self.placer.preempted(self.traces[zone].name)

    def choose(self) -> int:
        """The zone of the next spot launch: the placer's choice, or for spot_only the next zone in turn."""
        if self.name == SPOT_ONLY:
            zone = self.placer.zones[self.round_robin % len(self.placer.zones)].name
            self.round_robin += 1
        else:
            zone = self.placer.select({t.name: self.count(i) for i, t in enumerate(self.traces)})
        return self.zone_index(zone)


def simulate(name: str, traces: Sequence[Trace], price: Prices, setup: Setup, start: float) -> Run:
    """One policy from `start` (seconds into the traces): warm-up, then the measured window."""
    auto = policy(name, setup)
    state = State.initial(auto)
    world = _World(name, traces, DynamicFallback.of((t.name, price.mean_spot(i)) for i, t in enumerate(traces)))
    cold = math.ceil(setup.cold_start / setup.tick - 1e-9)
    available = cost = replica_ticks = ondemand_ticks = 0.0
    for step in range(setup.warmup_ticks + setup.measured_ticks):
        measured = step >= setup.warmup_ticks
        if step == setup.warmup_ticks:
            world.preemptions = world.failed_launches = 0
        moment = start + step * setup.tick
        index = [math.floor(moment / t.tick + 1e-9) for t in traces]
        room = [t.counts[i] for t, i in zip(traces, index)]
        _preempt(world, room)
        for r in world.replicas:
            if not r.ready and step >= r.ready_tick:
                r.ready = True
                if r.zone is not None and name == SPOTHEDGE:
                    world.placer = world.placer.ready(traces[r.zone].name)
        if measured and sum(r.ready for r in world.replicas) >= setup.replicas:
            available += 1
        state = _act(world, auto, state, step, cold, room, spot=name != ONDEMAND_ONLY, now=step * setup.tick)
        if measured:
            for r in world.replicas:
                cost += price.ondemand if r.zone is None else price.spot[r.zone][index[r.zone]]
            replica_ticks += len(world.replicas)
            ondemand_ticks += sum(1 for r in world.replicas if r.zone is None)
    ticks = setup.measured_ticks
    return Run(available / ticks, cost / (setup.replicas * ticks * price.ondemand), replica_ticks / ticks, ondemand_ticks / ticks,
               world.preemptions, world.failed_launches)


def _preempt(world: _World, room: list[int]) -> None:
    """Take back spot replicas beyond each zone's room, the newest (furthest from READY) first."""
    for zone, limit in enumerate(room):
        here = sorted((r for r in world.replicas if r.zone == zone), key=lambda r: r.replica_id)
        if len(here) <= limit:
            continue
        gone = {r.replica_id for r in here[limit:]}
        world.replicas = [r for r in world.replicas if r.replica_id not in gone]
        world.preemptions += len(gone)
        world.lost(zone)


def _act(world: _World, auto: Policy, state: State, step: int, cold: int, room: list[int], *, spot: bool, now: float) -> State:
    """One autoscaler decision, carried out: removals, then spot launches placed by the policy, then on-demand ones."""
    views = tuple(
        ReplicaView(r.replica_id, 1, ReplicaStatus.READY if r.ready else ReplicaStatus.PROVISIONING, use_spot=r.zone is not None)
        for r in world.replicas
    )
    decision = decide(auto, Observation(now=now, replicas=views), state)
    removed = set(decision.remove)
    world.replicas = [r for r in world.replicas if r.replica_id not in removed]
    for _ in range(decision.launch if spot else 0):
        zone = world.choose()
        if world.count(zone) < room[zone]:
            _launch(world, zone, step + cold)
        else:
            world.failed_launches += 1
            world.lost(zone)
    for _ in range(decision.launch_ondemand + (0 if spot else decision.launch)):
        _launch(world, None, step + cold)
    return decision.state


def _launch(world: _World, zone: int | None, ready_tick: int) -> None:
    world.replicas.append(_Replica(world.next_id, zone, ready_tick))
    world.next_id += 1
