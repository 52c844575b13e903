"""The Provider protocol and the plain records it exchanges with orchestration.

Providers create, query, stop and remove machines; everything that happens on
a machine afterwards (agent, sync, jobs) goes through the `CommandRunner` a
provider hands out, so the execution layer is the same for every provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from skyhop.catalog.offer import Offer
    from skyhop.providers.credentials import CheckResult
    from skyhop.providers.runner import CommandRunner

# Cluster-level states a provider reports from `query`.
RUNNING = "RUNNING"
STOPPED = "STOPPED"
TERMINATED = "TERMINATED"
PARTIAL = "PARTIAL"  # some nodes exist, others do not: needs `down` or a relaunch


@dataclass(frozen=True)
class Observed:
    """A `query` answer with the reason behind it (which node is missing, and why)."""

    state: str
    reason: str | None = None


def preempted(reasons: Mapping[int, str]) -> Observed:
    """How a provider reports nodes the infra took back (a spot reclaim), by rank with the cloud's reason.

    Not a state of its own: a reclaimed node is a lost node, and PARTIAL
    already leads there (the record goes to INIT with this reason, the job's
    failure names it, `down` removes the rest). Even when every node was
    reclaimed a cloud answers this rather than TERMINATED, which would drop
    the record silently and leave the user no word of what happened.
    """
    lost = "; ".join(f"node {rank}: preempted ({why})" for rank, why in sorted(reasons.items()))
    return Observed(PARTIAL, lost)


@dataclass(frozen=True)
class NodeInfo:
    """One machine of a cluster as the agent sees it.

    `home` and `exec_prefix` are facts execution reads; `extra` is what only
    the provider reads (e.g. the SSH target). The JSON form is one flat object
    (the agent's cluster.json reads it too), so handles stored by older
    versions, which kept `home`/`exec_prefix` among the extras, still load.
    """

    rank: int
    ip: str
    base: str  # the agent's base directory on that node
    extra: Mapping[str, Any] = field(default_factory=dict)
    home: str | None = None  # where `~/` in file_mount destinations lands; None: the login home
    exec_prefix: tuple[str, ...] | None = None  # argv the head prefixes to reach this node (None: it is local to the head)

    @property
    def workdir(self) -> str:
        return f"{self.base}/workdir"

    def to_json(self) -> dict[str, Any]:
        out = {"rank": self.rank, "ip": self.ip, "base": self.base, "workdir": self.workdir, **dict(self.extra)}
        if self.home is not None:
            out["home"] = self.home
        if self.exec_prefix is not None:
            out["exec_prefix"] = list(self.exec_prefix)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "NodeInfo":
        typed = ("rank", "ip", "base", "workdir", "home", "exec_prefix")
        extra = {k: v for k, v in data.items() if k not in typed}
        prefix = data.get("exec_prefix")
        return cls(
            int(data["rank"]), str(data["ip"]), str(data["base"]), extra,
            home=str(data["home"]) if data.get("home") else None,
            exec_prefix=tuple(str(p) for p in prefix) if prefix else None,
        )


@dataclass(frozen=True)
class MeasuredSize:
    """What a provider found on the machines (the smallest node), for pools that do not say their size."""

    cpus: float
    memory_gib: float


# Keys of the typed cluster facts inside the stored handle's "data" object: where older
# versions kept them, and where they stay, so handles load in both directions.
_FACT_KEYS = ("python", "gpu_ids", "measured", "remove_on_down")


@dataclass(frozen=True)
class ClusterInfo:
    """What a provider created: enough to find, reach and remove it again.

    The typed fields are what execution reads (which Python runs the agent,
    which GPU ids a node owns, measured sizes, what the agent's autodown
    removes); `data` is private to the provider (its ids and paths). Stored
    as JSON in the state store (`handle`), so it must round-trip.
    """

    provider: str
    cluster_name: str
    region: str | None
    zone: str | None
    nodes: tuple[NodeInfo, ...]
    data: Mapping[str, Any] = field(default_factory=dict)  # provider-private ids and paths
    python: str = "python3"  # the interpreter that runs the agent on the head
    gpu_ids: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # accelerator -> device ids a node owns
    measured: MeasuredSize | None = None
    remove_on_down: tuple[str, ...] = ()  # what the agent deletes when autostop removes the cluster by itself

    @property
    def head(self) -> NodeInfo:
        return self.nodes[0]

    def to_json(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"python": self.python, "gpu_ids": {k: list(v) for k, v in self.gpu_ids.items()}, "remove_on_down": list(self.remove_on_down)}
        if self.measured is not None:
            facts["measured"] = {"cpus": self.measured.cpus, "memory_gib": self.measured.memory_gib}
        return {
            "provider": self.provider,
            "cluster_name": self.cluster_name,
            "region": self.region,
            "zone": self.zone,
            "nodes": [n.to_json() for n in self.nodes],
            "data": {**dict(self.data), **facts},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ClusterInfo":
        stored = dict(data.get("data") or {})
        measured = stored.get("measured")
        return cls(
            str(data["provider"]),
            str(data["cluster_name"]),
            data.get("region"),
            data.get("zone"),
            tuple(NodeInfo.from_json(n) for n in data.get("nodes") or ()),
            {k: v for k, v in stored.items() if k not in _FACT_KEYS},
            python=str(stored.get("python") or "python3"),
            gpu_ids={str(k): tuple(int(i) for i in v) for k, v in (stored.get("gpu_ids") or {}).items()},
            measured=MeasuredSize(float(measured["cpus"]), float(measured["memory_gib"])) if measured else None,
            remove_on_down=tuple(str(p) for p in stored.get("remove_on_down") or ()),
        )


def _never() -> bool:
    return False


@dataclass(frozen=True)
class LaunchRequest:
    """Create `num_nodes` machines of `offer` in its region/zone, named for `cluster_name`.

    Every field past `num_nodes` has a default, so providers and plugins
    written before a field existed keep working. The task's machine choices
    (`image_id`, disk, `ports`, `labels`) come resolved for this offer: an
    image given per region arrives as this region's image. Clouds need them
    at creation (an AMI, a root volume, a security group; RunPod maps ports
    only when a pod is created). The ownership marks (`user`, `launch_id`,
    `owner_id`, see `providers/_owned.py`) are what a cloud tags every
    resource with, so `find` after a crash and the orphan listing recognise
    skyhop's resources, and only this installation's; `launch_id` is written
    into the INIT record before `launch` is called, so even a crash during
    the cloud call leaves a record that names the tag to look for.
    `cancelled` lets a long wait (instances booting) end when the request is
    cancelled; the provider removes what it created, then raises.
    """

    cluster_name: str
    offer: "Offer"
    num_nodes: int
    use_spot: bool = False
    cpus: float | None = None  # what the task asked for per node, for capacity checks
    memory_gib: float | None = None
    image_id: str | None = None  # None: the provider's default image
    disk_size_gb: int | None = None  # None: the provider's default disk
    disk_tier: str | None = None  # low, medium, high, ultra, best (SkyPilot's tiers)
    ports: tuple[str, ...] = ()  # `8080` or `10000-10010`, as the task wrote them
    labels: Mapping[str, str] = field(default_factory=dict)  # the task's `resources.labels`, for the cloud's tags
    user: str = ""
    launch_id: str = ""
    owner_id: str = ""
    cancelled: Callable[[], bool] = field(default=_never, compare=False, repr=False)


# Optional task fields (`resources.<name>`) a provider may honour, for `Capabilities.features`.
FEATURE_IMAGE_ID = "image_id"
FEATURE_DISK_SIZE = "disk_size"
FEATURE_DISK_TIER = "disk_tier"
FEATURE_NETWORK_TIER = "network_tier"
FEATURE_PORTS = "ports"  # opened at creation; a `PortOpener` honours it without declaring it
FEATURES = (FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_DISK_TIER, FEATURE_NETWORK_TIER, FEATURE_PORTS)


class OfferSource(Enum):
    """Where a provider's offers come from: it decides how the optimizer treats them."""

    CATALOG = "catalog"  # the price catalog, under the provider's name: VMs created on demand
    LIVE = "live"  # asked from the provider (`offers()`) at planning time: marketplaces, live price lists
    EXISTING = "existing"  # machines that already exist (`offers()`): taken as they are, each region (pool) its own candidate


@dataclass(frozen=True)
class Capabilities:
    """What a provider is and can do; the rest of skyhop asks these, never the provider's name.

    `opt_in`: searched only when a task names it, when nothing else is
    enabled, or when config.yaml sets `infra.<name>: true` (the machine
    skyhop runs on, which users do not expect to get jobs by surprise).
    `cheap_query`: `query()` reads local files only, so `status` reconciles
    the provider's clusters on every call instead of on `--refresh` only.
    `own_filesystem`: each node is a machine with a filesystem of its own (a
    VM, a pool host), so an absolute `file_mounts` destination is a path on
    that machine. False when a node is a directory on the machine skyhop runs
    on: an absolute destination would write into that machine's own files and
    outlive `down`, so only paths inside the node are allowed.
    `remote_check`: `check()` asks the cloud (an HTTP round trip), so
    planning reuses its answer for a few minutes (`planning/infra.py`);
    checks that read local files stay uncached, so an edited config counts
    at once.
    `spot`: it sells spot (interruptible) machines; False keeps every
    `use_spot` request off it even where its catalog lists spot prices.
    `max_nodes`: the most nodes one cluster may have (None: no limit).
    `shared_network`: every node of every cluster listens on the network of
    the machine skyhop runs on (nodes are directories here), so two clusters
    asking for one port collide: serving gives each replica a port of its own.
    `features`: the optional task fields it honours (the `FEATURE_*` names
    below); planning offers a task that sets one only to providers naming
    it, so nothing a task asks for is silently ignored. A `PortOpener`
    honours `ports` without naming it (`capabilities_of` adds it).
    Optional behaviour (preempting a node, opening ports, self-stop hooks,
    reaching machines for `check`) is a method, declared by the protocols below.
    """

    offers: OfferSource = OfferSource.CATALOG
    can_stop: bool = True
    opt_in: bool = False
    cheap_query: bool = False
    own_filesystem: bool = True
    remote_check: bool = False
    spot: bool = True
    max_nodes: int | None = None
    shared_network: bool = False
    features: frozenset[str] = frozenset()


#: What a provider that declares nothing is assumed to be: a cloud priced from the catalog.
DEFAULT_CAPABILITIES = Capabilities()


def capabilities_of(provider: object) -> Capabilities:
    """The provider's declared capabilities; plugins written before they existed get the defaults,
    or LIVE offers when they only implement `offers()`. A `PortOpener` honours `ports`."""
    declared = getattr(provider, "capabilities", None)
    if not isinstance(declared, Capabilities):
        declared = Capabilities(offers=OfferSource.LIVE) if callable(getattr(provider, "offers", None)) else DEFAULT_CAPABILITIES
    if isinstance(provider, PortOpener) and FEATURE_PORTS not in declared.features:
        return replace(declared, features=declared.features | {FEATURE_PORTS})
    return declared


class Provider(Protocol):
    """One kind of infra. Implementations raise `skyhop.providers.errors` types only.

    `capabilities` says where offers come from and what the provider can do;
    `offers()` is needed only for LIVE and EXISTING offer sources. Optional
    behaviour is one of the small protocols below (`Preemptible`,
    `PortOpener`, `SelfStopping`, `MachineChecker`, `OwnedLister`,
    `LiveAvailability`, `ZoneNamer`), found with isinstance.
    """

    name: str
    capabilities: Capabilities

    def check(self) -> "CheckResult":
        """Whether this provider is usable here, and why (not)."""

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        """Create the nodes; on failure remove whatever was created, then raise."""

    def find(self, cluster_name: str) -> ClusterInfo | None:
        """What exists for a cluster name (by tags or paths): recovery after a crash mid-launch."""

    def query(self, cluster: ClusterInfo) -> "str | Observed":
        """RUNNING, STOPPED, TERMINATED or PARTIAL, from the infra itself (an `Observed` adds the reason)."""

    def stop(self, cluster: ClusterInfo) -> None:
        """Stop the nodes, keeping their disks (only when `capabilities.can_stop`)."""

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        """Start stopped nodes again; IPs may change, so the info is returned anew."""

    def terminate(self, cluster: ClusterInfo) -> None:
        """Remove everything; a no-op for what is already gone (idempotent)."""

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> "CommandRunner":
        """How to run commands on and copy files to one node."""


@runtime_checkable
class OfferLister(Protocol):
    """Providers whose offers are LIVE or EXISTING list them themselves."""

    def offers(self) -> Iterable["Offer"]: ...


@runtime_checkable
class Preemptible(Protocol):
    """Can make one node vanish the way a spot reclaim does (`skyhop chaos preempt`)."""

    def preempt(self, cluster: ClusterInfo, rank: int) -> None: ...


@runtime_checkable
class PortOpener(Protocol):
    """Can open ports on a cluster's nodes to the outside (`resources.ports`)."""

    def open_ports(self, cluster: ClusterInfo, ports: Sequence[str]) -> None: ...


@runtime_checkable
class SelfStopping(Protocol):
    """Cloud VMs: argv the head's agent runs to stop (`stop`) or delete (`down`) its own
    machines when autostop fires, with no client around (the agent's `autostop_hooks`)."""

    def autostop_hooks(self, cluster: ClusterInfo) -> Mapping[str, list[str]]: ...


class MachineReach(Protocol):
    """One existing machine reached now: a row of `skyhop check`."""

    pool: str
    host: str
    reachable: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, object]: ...


@runtime_checkable
class MachineChecker(Protocol):
    """Providers of existing machines: reach every machine now, for `skyhop check`."""

    def check_machines(self) -> Sequence[MachineReach]: ...


@dataclass(frozen=True)
class OwnedResource:
    """One cloud resource carrying this installation's ownership marks (`providers/_owned.py`).

    `kind` is the cloud's word (instance, security-group, key-pair, ...);
    `cluster` the cluster its marks name. What `status --refresh` lists as an
    orphan when no cluster of that name is in the state store, and what
    `down --orphans` hands back to `remove_owned`.
    """

    kind: str
    id: str
    region: str | None
    cluster: str
    created_at: float | None = None


@runtime_checkable
class OwnedLister(Protocol):
    """Clouds: every resource marked as this installation's, so ones no cluster record
    knows of (a crash between the cloud call and the record, a record removed by
    hand) are found and can be removed instead of billing for ever."""

    def owned(self) -> Sequence[OwnedResource]: ...

    def remove_owned(self, resources: Sequence[OwnedResource]) -> None: ...


@runtime_checkable
class LiveAvailability(Protocol):
    """Clouds whose API says where an instance type has capacity right now (Lambda's
    `regions_with_capacity_available`): `show-gpus` shows it next to the catalog's
    prices. Maps (instance type, region) to whether it can be launched now."""

    def availability(self) -> Mapping[tuple[str, str], bool]: ...


@runtime_checkable
class ZoneNamer(Protocol):
    """Clouds whose catalog names zones by a stable id that differs per account from
    the zone's name (the AWS catalog lists `use1-az2`; users, errors and the failover
    table say `us-east-1a`): zone id to zone name in one region."""

    def zone_names(self, region: str) -> Mapping[str, str]: ...
