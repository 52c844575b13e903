"""Reading and removing a cluster's GCP resources: instances by name or by label, the firewall rule, preemptions.

List filters follow https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList
(`filter`: parenthesised `field = "value"` expressions, all of which must hold;
`name eq "<RE2>"` for a regular expression), and every list is read page by
page (`nextPageToken`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Mapping, Sequence

from skyhop.parallel import each
from skyhop.providers import _owned
from skyhop.providers.base import OwnedResource
from skyhop.providers.gcp.facts import GcpCluster
from skyhop.providers.gcp.instances import label
from skyhop.providers.gcp.rest import Compute

INSTANCE = "instance"
FIREWALL = "firewall"
_DESCRIPTION = "skyhop cluster "  # firewall rules carry no labels: their description names the cluster


def owner() -> str:
    return _owned.owner_id()


def instance(compute: Compute, zone: str, name: str, *, missing_ok: bool = False) -> Any:
    return compute.call("GET", f"zones/{zone}/instances/{name}", zone=zone, what=f"reading instance {name}", missing_ok=missing_ok)


def _pages(compute: Compute, path: str, query: Mapping[str, str], what: str) -> Iterator[Mapping[str, Any]]:
    token = ""
    while True:
        page = compute.call("GET", path, query={**query, **({"pageToken": token} if token else {})}, what=what) or {}
        yield page
        token = str(page.get("nextPageToken") or "")
        if not token:
            return


def _labelled(compute: Compute, marks: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Instances in every zone whose labels hold `marks`."""
    expression = " ".join(f'(labels.{key} = "{label(value)}")' for key, value in marks.items())
    found: list[Mapping[str, Any]] = []
    for page in _pages(compute, "aggregated/instances", {"filter": expression}, "listing skyhop's instances"):
        for scoped in (page.get("items") or {}).values():
            found.extend(scoped.get("instances") or [])
    return sorted(found, key=lambda i: str(i["name"]))


def by_cluster(compute: Compute, cluster_name: str) -> list[Mapping[str, Any]]:
    return _labelled(compute, {_owned.OWNER: owner(), _owned.CLUSTER: cluster_name})


def _zone_of(instance: Mapping[str, Any]) -> str:
    return str(instance["zone"]).rsplit("/", 1)[-1]


def remove_cluster(compute: Compute, cluster_name: str, firewall: str) -> None:
    """Every instance labelled with the cluster, in whatever zone (a crash can follow a failed attempt
    elsewhere whose cleanup did not finish), then its firewall rule."""
    zones: dict[str, list[str]] = {}
    for found in by_cluster(compute, cluster_name):
        zones.setdefault(_zone_of(found), []).append(str(found["name"]))
    for zone, names in zones.items():
        remove(compute, GcpCluster(compute.project, zone, tuple(names), "", ""))
    _delete_firewall(compute, firewall)


def preemptions(compute: Compute, zone: str, stopped: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Instances of `stopped` that GCP reclaimed since they last started, with the operation's message.

    A reclaimed spot VM is only TERMINATED (stopped) in its own record; the proof is a
    `compute.instances.preempted` operation on it in the zone
    (https://cloud.google.com/compute/docs/instances/spot#detect-preemption).
    """
    if not stopped:
        return {}
    since = {str(i["name"]): _time(i.get("lastStartTimestamp") or i.get("creationTimestamp")) for i in stopped}
    out: dict[str, str] = {}
    query = {"filter": '(operationType = "compute.instances.preempted")'}
    for page in _pages(compute, f"zones/{zone}/operations", query, "listing preemptions"):
        for operation in page.get("items") or []:
            name = str(operation.get("targetLink", "")).rsplit("/", 1)[-1]
            when = _time(operation.get("insertTime"))
            if name in since and (since[name] is None or (when is not None and when >= since[name])):  # type: ignore[operator]
                said = str(operation.get("statusMessage") or "reclaimed by GCP").rstrip(". ")
                out[name] = said + (f" at {operation['insertTime']}" if operation.get("insertTime") else "")
    return out


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def remove(compute: Compute, facts: GcpCluster) -> None:
    """Delete the instances and then the firewall rule, waiting for each; already gone is fine."""
    zone = facts.zone

    def delete(name: str) -> None:
        operation = compute.call("DELETE", f"zones/{zone}/instances/{name}", zone=zone, what=f"deleting instance {name}", missing_ok=True)
        if operation is not None:
            compute.wait(operation, zone=zone)

    each(list(facts.instances), delete)
    if facts.firewall:
        _delete_firewall(compute, facts.firewall)


def _delete_firewall(compute: Compute, name: str) -> None:
    operation = compute.call("DELETE", f"global/firewalls/{name}", what=f"deleting firewall rule {name}", missing_ok=True)
    if operation is not None:
        compute.wait(operation)


def open_ports(compute: Compute, facts: GcpCluster, network: str, cluster_name: str, ports: Sequence[str]) -> None:
    """Create the cluster's firewall rule (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/insert),
    or widen it to these ports too (`firewalls/patch`)."""
    what = f"opening ports {', '.join(ports)}"
    existing = compute.call("GET", f"global/firewalls/{facts.firewall}", what=what, missing_ok=True)
    have = [p for rule in (existing or {}).get("allowed") or [] for p in rule.get("ports") or []]
    allowed = [{"IPProtocol": "tcp", "ports": sorted(set(have) | set(ports))}]
    if existing is None:
        body = {"name": facts.firewall, "network": f"global/networks/{network}", "direction": "INGRESS", "allowed": allowed,
                "sourceRanges": ["0.0.0.0/0"], "targetTags": [facts.network_tag], "description": _DESCRIPTION + cluster_name}
        compute.run("POST", "global/firewalls", body, what=what)
    elif set(ports) - set(have):
        compute.run("PATCH", f"global/firewalls/{facts.firewall}", {"allowed": allowed}, what=what)


def owned(compute: Compute) -> list[OwnedResource]:
    """Every instance labelled as this installation's, and every firewall rule named as its."""
    out = []
    for i in _labelled(compute, {_owned.OWNER: owner()}):
        created = _time(i.get("creationTimestamp"))
        out.append(OwnedResource(INSTANCE, str(i["name"]), _zone_of(i), str((i.get("labels") or {}).get(_owned.CLUSTER, "")),
                                 created.timestamp() if created else None))
    prefix = _owned.resource_name(owner(), "x")[:-1]  # `skyhop-<owner8>-`
    for page in _pages(compute, "global/firewalls", {"filter": f'name eq "{prefix}.*"'}, "listing skyhop's firewall rules"):
        for rule in page.get("items") or []:
            description = str(rule.get("description") or "")
            cluster = description[len(_DESCRIPTION):] if description.startswith(_DESCRIPTION) else ""
            out.append(OwnedResource(FIREWALL, str(rule["name"]), None, cluster))
    return out


def remove_owned(compute: Compute, resources: Sequence[OwnedResource]) -> None:
    """Delete what `owned` listed: instances first (in their zones), then the firewall rules."""
    zones: dict[str, list[str]] = {}
    for resource in resources:
        if resource.kind == INSTANCE and resource.region:
            zones.setdefault(resource.region, []).append(resource.id)
    for zone, names in zones.items():
        remove(compute, GcpCluster(compute.project, zone, tuple(names), "", ""))
    for resource in resources:
        if resource.kind == FIREWALL:
            _delete_firewall(compute, resource.id)
