"""SpheronProvider: Spheron AI GPU instances ("deployments") as skyhop clusters.

The life of a cluster, and what each step leaves behind:

- `launch`: one SSH key for the launch (`POST /api/ssh-keys`, skyhop's public
  key), one deployment per node (`POST /api/deployments`, the catalog row's
  offer), a wait until each runs with an address, then `vm.connect` (SSH with
  skyhop's key, the cluster's directory, head-to-worker links). Any failure or
  a cancel removes every deployment and key named for this launch, found by
  name as well as by the ids seen, so even a create whose answer was lost is
  removed; then the typed error goes up for failover.
- `find` (after a crash): what carries this installation's and this cluster's
  name marks, as an "unfinished" cluster that `query` calls TERMINATED and
  `terminate` removes.
- `terminate`: every deployment and key of the cluster by name, plus the ids
  recorded; already gone is success.
- No stop: Spheron deployments can only be terminated (the API reference has
  no stop or start endpoint), so `capabilities.can_stop` is False and skyhop
  refuses `stop` and autostop-to-stop with a clear message before it gets here.

Spheron reports one address per deployment (`ipAddress`, public); the node's
`ip` (what `SKYPILOT_NODE_IPS` lists, and how the head reaches a worker) is
that address too.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator, Sequence

from skyhop.errors import SkyhopError
from skyhop.providers import vm
from skyhop.providers._owned import new_launch_id, owner_id
from skyhop.providers.base import (
    PARTIAL,
    RUNNING,
    TERMINATED,
    Capabilities,
    ClusterInfo,
    LaunchRequest,
    NodeInfo,
    Observed,
    OfferSource,
    OwnedResource,
    preempted,
)
from skyhop.providers.credentials import CheckResult
from skyhop.providers.errors import CapacityError, LaunchCancelled, NotSupportedError, ProviderError
from skyhop.providers.http import ApiError
from skyhop.providers.keys import user_key
from skyhop.providers.runner import CommandRunner
from skyhop_spheron import api, names
from skyhop_spheron.catalog import deploy_fields
from skyhop_spheron.errors import typed
from skyhop_spheron.facts import NAME, SpheronCluster, SpheronNode

#: How long deployments may take to run with an address (SkyPilot allows an hour; marketplace machines are slow).
READY_WAIT_S = 1800.0
POLL_S = 2.0
DEPLOYMENT = "deployment"
SSH_KEY = "ssh-key"


class SpheronProvider:
    """The `spheron` provider; registered by this package's `skyhop.providers` entry point."""

    name = NAME
    # Offers come from the price catalog under this provider's name; no stop; check() asks the API.
    capabilities = Capabilities(offers=OfferSource.CATALOG, can_stop=False, remote_check=True)

    # ---- check -------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            creds = api.credentials()
        except SkyhopError as error:
            return CheckResult(NAME, False, _reason(error))
        if creds is None:
            return CheckResult(NAME, False, f"no API key (looked for ${api.ENV_KEY} and {api.KEY_FILE})")
        try:
            with _typed(creds, "the account"):
                api.SpheronApi(creds).team_id()
        except SkyhopError as error:
            return CheckResult(NAME, False, _reason(error))
        return CheckResult(NAME, True, f"API key from {creds.source} accepted")

    # ---- launch ------------------------------------------------------------------------------

    def launch(self, request: LaunchRequest) -> ClusterInfo:
        _refuse_unsupported(request)
        fields = deploy_fields(request.offer)
        client = _client()
        owner = request.owner_id or owner_id()
        launch_id = request.launch_id or new_launch_id()
        cluster = request.cluster_name
        where = f"{request.offer.instance_type} in {request.offer.region}"
        ids: list[str] = []
        try:
            with _typed(client.creds, where):
                team = client.team_id()
                key_id, key_ours = _ensure_key(client, names.key_name(owner, cluster, launch_id), team)
            for rank in range(request.num_nodes):
                body = {**fields.body(spot=request.use_spot), "sshKeyId": key_id, "teamId": team,
                        "name": names.deployment_name(owner, cluster, launch_id, rank)}
                with _typed(client.creds, where, creating=True):
                    ids.append(client.create(body))
            ready = _wait_running(client, ids, request.cancelled, where)
            machines = [
                vm.Machine(private_ip=d.ip or "", public_ip=d.ip, user=d.user, port=d.ssh_port, facts=SpheronNode(d.id, d.name).to_json())
                for d in ready
            ]
            connected = vm.connect(NAME, cluster, machines, internal_ips=False, cancelled=request.cancelled)
        except BaseException as error:
            _undo(client, owner, cluster, launch_id, ids, error)
            raise
        facts = SpheronCluster(launch_id, team, tuple(ids), key_id if key_ours else None)
        return ClusterInfo(
            NAME, cluster, request.offer.region, None, connected.nodes, {NAME: facts.to_json()},
            measured=connected.measured, remove_on_down=(connected.nodes[0].base,),
        )

    # ---- find / query ------------------------------------------------------------------------

    def find(self, cluster_name: str) -> ClusterInfo | None:
        client = _client()
        owner = owner_id()
        with _typed(client.creds, f"cluster {cluster_name}"):
            deployments = [d for d in client.deployments() if d.status not in api.GONE and names.of_cluster(d.name, owner, cluster_name)]
            keys = [k for k in client.ssh_keys() if names.of_cluster(str(k.get("name") or ""), owner, cluster_name)]
        if not deployments and not keys:
            return None
        launch = next((names.parse(d.name, owner) for d in deployments), None) or names.parse(str(keys[0].get("name")), owner)
        facts = SpheronCluster(launch.launch_id if launch else "", None, tuple(d.id for d in deployments), None, unfinished=True)
        region = next((d.region for d in deployments if d.region), None)
        return ClusterInfo(NAME, cluster_name, region, None, (), {NAME: facts.to_json()})

    def query(self, cluster: ClusterInfo) -> str | Observed:
        facts = _facts(cluster)
        if facts.unfinished:
            return Observed(TERMINATED, "a launch that never finished: `down` removes what it left")
        client = _client()
        with _typed(client.creds, f"cluster {cluster.cluster_name}"):
            seen = {node.rank: client.deployment(_node(node).deployment_id) for node in cluster.nodes}
        reclaimed = {rank: "Spheron's provider took the machine back" for rank, d in seen.items() if d and d.status == api.RECLAIMED}
        if reclaimed:
            return preempted(reclaimed)
        missing = {rank: (d.status if d else "gone") for rank, d in seen.items() if d is None or d.status != api.RUNNING}
        if not missing:
            return RUNNING
        if all(d is None or d.status in api.GONE for d in seen.values()):
            return TERMINATED
        return Observed(PARTIAL, "; ".join(f"node {rank}: {status}" for rank, status in sorted(missing.items())))

    # ---- stop / start: not on Spheron --------------------------------------------------------

    def stop(self, cluster: ClusterInfo) -> None:
        raise NotSupportedError("Spheron deployments cannot be stopped, only terminated: use `skyhop down` (the disk goes with it).")

    def start(self, cluster: ClusterInfo) -> ClusterInfo:
        raise NotSupportedError("Spheron deployments cannot be stopped or started; launch the cluster again instead.")

    # ---- terminate / owned -------------------------------------------------------------------

    def terminate(self, cluster: ClusterInfo) -> None:
        vm.disconnect(cluster.nodes)  # a shared SSH connection to a gone address would hang the next machine there
        client = _client()
        owner = owner_id()
        recorded = _facts(cluster).deployment_ids
        _remove(client, lambda name: names.of_cluster(name, owner, cluster.cluster_name) is not None, recorded, f"cluster {cluster.cluster_name}")

    def owned(self) -> Sequence[OwnedResource]:
        client = _client()
        owner = owner_id()
        found: list[OwnedResource] = []
        with _typed(client.creds, "the account"):
            for d in client.deployments():
                marked = names.parse(d.name, owner)
                if marked and d.status not in api.GONE:
                    found.append(OwnedResource(DEPLOYMENT, d.id, d.region, marked.cluster))
            for key in client.ssh_keys():
                marked = names.parse(str(key.get("name") or ""), owner)
                if marked:
                    found.append(OwnedResource(SSH_KEY, str(key["id"]), None, marked.cluster))
        return found

    def remove_owned(self, resources: Sequence[OwnedResource]) -> None:
        client = _client()
        with _typed(client.creds, "orphaned resources"):
            for resource in resources:
                if resource.kind == DEPLOYMENT:
                    client.terminate(resource.id)
                elif resource.kind == SSH_KEY:
                    client.delete_ssh_key(resource.id)

    def runner(self, cluster: ClusterInfo, node: NodeInfo) -> CommandRunner:
        return vm.runner(node)


# ---- helpers -------------------------------------------------------------------------------------


def _refuse_unsupported(request: LaunchRequest) -> None:
    """What a deployment cannot take, refused before anything is created: the API has no image, disk or firewall fields."""
    asked = [what for what, value in (("image_id", request.image_id), ("disk_size", request.disk_size_gb), ("disk_tier", request.disk_tier),
                                      ("ports", request.ports)) if value]
    if asked:
        raise NotSupportedError(f"Spheron deployments take the offer's own OS image and disk and open no ports; remove {', '.join(asked)} to use Spheron.")


def _reason(error: SkyhopError) -> str:
    """A check's reason is a clause skyhop puts in its own sentence: no final period."""
    return str(error).rstrip(".")


def _client() -> api.SpheronApi:
    creds = api.credentials()
    if creds is None:
        from skyhop.providers.errors import AuthError

        raise AuthError(f"No Spheron API key: set ${api.ENV_KEY}, or write {{\"api_key\": \"...\"}} to {api.KEY_FILE} (mode 0600).")
    return api.SpheronApi(creds)


@contextlib.contextmanager
def _typed(creds: api.Credentials, where: str, *, creating: bool = False) -> Iterator[None]:
    """Spheron's HTTP errors inside the block leave it as skyhop's typed errors (errors.py)."""
    try:
        yield
    except ApiError as error:
        raise typed(error, creating=creating, where=where, key_source=creds.source) from None


def _facts(cluster: ClusterInfo) -> SpheronCluster:
    return SpheronCluster.from_json(cluster.data.get(NAME) or {})


def _node(node: NodeInfo) -> SpheronNode:
    return SpheronNode.from_json(node.extra[NAME])


def _ensure_key(client: api.SpheronApi, name: str, team_id: str) -> tuple[str, bool]:
    """Register skyhop's public key for this launch: its id, and whether this launch made it.

    The docs do not say whether a public key may be registered twice. If
    Spheron refuses (a 4xx other than auth, payment or rate limit), the key
    the account already holds is used, and not recorded as this launch's:
    `down` never deletes a key it did not make.
    """
    public = user_key().public
    try:
        return client.add_ssh_key(name, public, team_id), True
    except ApiError as error:
        if not 400 <= error.status < 500 or error.status in (401, 402, 403, 429):
            raise
        held = next((str(k["id"]) for k in client.ssh_keys() if str(k.get("publicKey") or "").split()[:2] == public.split()[:2]), None)
        if held is None:
            raise
        return held, False


def _wait_running(client: api.SpheronApi, ids: Sequence[str], cancelled: Callable[[], bool], where: str) -> list[api.Deployment]:
    """The deployments once each runs with an address; a failed or vanished one is a capacity error for the region."""
    deadline = time.monotonic() + READY_WAIT_S
    while True:
        with _typed(client.creds, where):
            seen = [(i, client.deployment(i)) for i in ids]
        for deployment_id, d in seen:
            if d is None or d.status in (api.FAILED, *api.GONE):
                state = d.status if d else "gone"
                raise CapacityError(f"Spheron deployment {deployment_id} ({where}) ended '{state}' before it ran.", scope="region")
        ready = [d for _, d in seen if d is not None and d.status == api.RUNNING and d.ip]
        if len(ready) == len(ids):
            return ready
        if cancelled():
            raise LaunchCancelled(f"Cancelled while Spheron deployed {where}.")
        if time.monotonic() >= deadline:
            raise CapacityError(f"Spheron did not run {where} within {READY_WAIT_S:g} s.", scope="region")
        time.sleep(POLL_S)


def _undo(client: api.SpheronApi, owner: str, cluster: str, launch_id: str, ids: Sequence[str], error: BaseException) -> None:
    """Remove what a failed launch made; if that fails too, say so instead of failing over to make more."""
    try:
        _remove(client, lambda name: (m := names.of_cluster(name, owner, cluster)) is not None and m.launch_id == launch_id, ids, cluster)
    except SkyhopError as cleanup:
        raise ProviderError(
            f"{error} Removing what this launch created on Spheron failed too: {cleanup} "
            "`skyhop status --refresh` shows what is left; `skyhop down` removes it."
        ) from None


def _remove(client: api.SpheronApi, ours: Callable[[str], bool], recorded: Sequence[str], what: str) -> None:
    """Terminate every live deployment `ours` names (and the `recorded` ids), then delete `ours` SSH keys."""
    with _typed(client.creds, what):
        live = {d.id for d in client.deployments() if d.status not in api.GONE and ours(d.name)}
        for deployment_id in sorted(live | set(recorded)):
            client.terminate(deployment_id)
        for key in client.ssh_keys():
            if ours(str(key.get("name") or "")):
                client.delete_ssh_key(str(key["id"]))
