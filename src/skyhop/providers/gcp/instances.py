"""The Compute Engine instance skyhop asks for: names, labels, and the `instances.insert` body.

Shapes from https://cloud.google.com/compute/docs/reference/rest/v1/instances/insert
(the Instance resource). Label rules from
https://cloud.google.com/compute/docs/labeling-resources#requirements: keys
and values at most 63 characters of lowercase letters, digits, `_` and `-`,
keys starting with a letter. Names (instances, firewall rules, network tags)
follow RFC 1035: lowercase letters, digits and `-`, starting with a letter,
at most 63 characters (https://cloud.google.com/compute/docs/naming-resources).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from skyhop.providers import _owned
from skyhop.providers.base import LaunchRequest
from skyhop.providers.gcp.settings import Settings

# T4, V100, P100 and P4 are attached to an N1 host; A100, H100 and L4 come with their a2/a3/g2 machine
# type (https://cloud.google.com/compute/docs/gpus#gpus-list, /gpus/create-gpu-vm-general-purpose).
ATTACHED_GPUS = {"T4": "nvidia-tesla-t4", "V100": "nvidia-tesla-v100", "P100": "nvidia-tesla-p100", "P4": "nvidia-tesla-p4"}
# SkyPilot's disk tiers onto persistent disk types (https://cloud.google.com/compute/docs/disks#disk-types).
# `best` is pd-ssd: pd-extreme exists only for a few large machine types.
DISK_TYPES = {"low": "pd-standard", "medium": "pd-balanced", "high": "pd-ssd", "ultra": "pd-extreme", "best": "pd-ssd"}
DEFAULT_DISK_GB = 256  # SkyPilot's default disk size
DEFAULT_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
_NOT_LABEL = re.compile(r"[^a-z0-9_-]")
_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def label(value: str) -> str:
    """`value` as a label value GCP accepts (lowercase, allowed characters, 63 at most)."""
    return _NOT_LABEL.sub("-", value.lower())[:63]


def labels(request: LaunchRequest) -> dict[str, str]:
    """The task's labels plus skyhop's ownership marks (which win on a clash), in GCP's label alphabet."""
    out = {}
    for key, value in request.labels.items():
        key = label(key)
        if key and key[0].isalpha():
            out[key] = label(str(value))
    marks = _owned.marks(request.cluster_name, request.user, request.launch_id, request.owner_id)
    out.update({key: label(value) for key, value in marks.items()})
    return out


def name_part(cluster_name: str) -> str:
    return _NOT_NAME.sub("-", cluster_name.lower()).strip("-") or "cluster"


def instance_name(owner: str, cluster_name: str, rank: int) -> str:
    return _owned.resource_name(owner, name_part(cluster_name), str(rank))


def network_tag(owner: str, cluster_name: str) -> str:
    return _owned.resource_name(owner, name_part(cluster_name))


def firewall_name(owner: str, cluster_name: str) -> str:
    return _owned.resource_name(owner, name_part(cluster_name), "ports")


def insert_body(request: LaunchRequest, name: str, zone: str, settings: Settings, public_key: str) -> dict[str, Any]:
    """The Instance skyhop inserts for one node of `request` in `zone`."""
    offer = request.offer
    body: dict[str, Any] = {
        "name": name,
        "machineType": f"zones/{zone}/machineTypes/{offer.instance_type}",
        "labels": labels(request),
        "tags": {"items": [network_tag(request.owner_id, request.cluster_name)]},
        "disks": [{
            "boot": True, "autoDelete": True,
            "initializeParams": {
                "sourceImage": request.image_id or DEFAULT_IMAGE,
                "diskSizeGb": str(request.disk_size_gb or DEFAULT_DISK_GB),
                "diskType": f"zones/{zone}/diskTypes/{DISK_TYPES[request.disk_tier or 'medium']}",
            },
        }],
        "networkInterfaces": [_interface(settings)],
        "metadata": {"items": [{"key": "ssh-keys", "value": f"{settings.ssh_user}:{public_key.strip()}"}]},
        "scheduling": _scheduling(request),
        # The VM's own identity, with the scope to stop or delete itself when autostop fires (skyhop_agent/cloudstop.py).
        "serviceAccounts": [{"email": "default", "scopes": [SELF_STOP_SCOPE]}],
    }
    attached = ATTACHED_GPUS.get(offer.accelerator or "") if offer.instance_type.startswith("n1-") else None
    if attached:
        body["guestAccelerators"] = [{"acceleratorType": f"zones/{zone}/acceleratorTypes/{attached}", "acceleratorCount": int(offer.accelerator_count)}]
    return body


def _interface(settings: Settings) -> dict[str, Any]:
    interface: dict[str, Any] = {"network": f"global/networks/{settings.network}"}
    if not settings.use_internal_ips:  # an external address only when skyhop reaches the VM from outside
        interface["accessConfigs"] = [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}]
    return interface


SELF_STOP_SCOPE = "https://www.googleapis.com/auth/compute"


def _scheduling(request: LaunchRequest) -> Mapping[str, Any]:
    """Spot VMs stop (keeping their disk) when reclaimed; GPU VMs cannot live-migrate, so they stop for host maintenance."""
    gpu = bool(request.offer.accelerator)
    if request.use_spot:
        return {"provisioningModel": "SPOT", "instanceTerminationAction": "STOP", "onHostMaintenance": "TERMINATE", "automaticRestart": False}
    return {"provisioningModel": "STANDARD", "onHostMaintenance": "TERMINATE" if gpu else "MIGRATE", "automaticRestart": True}
