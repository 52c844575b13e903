"""Offers from catalogs that price a VM and its accelerators in separate rows.

SkyPilot's GCP catalog (`gcp/vms.csv`) lists machine types and accelerators
apart: a row with a blank `InstanceType` prices an accelerator model and count
in one zone. Nothing launches from such a row alone, and a GPU machine type
without its accelerator row is only part of its price, so this module joins
the two kinds of rows, per zone, into the offers a user can actually rent:

- Bundled GPUs come with their own machine family (A100 with a2, H100 with
  a3, L4 with g2, B200 with a4): the VM row and the accelerator row in the
  same zone add up to the price (a VM row of 0.0 means the accelerator row
  holds the whole price, as for a4). Those VM rows are never offered alone.
- Attachable GPUs (T4, V100, P100, P4) go onto general n1 hosts. Like
  SkyPilot, a host qualifies when it is at least the default size for that
  GPU count (`min_vcpus`, and `GPU_HOST_MEMORY_PER_VCPU` GiB per such vCPU)
  and no bigger than GCP allows for that count (`max_vcpus`, `max_memory_gib`,
  https://cloud.google.com/compute/docs/gpus). The cheapest qualifying host is
  then the one SkyPilot picks, the smallest.
- TPUs (`tpu-...`) are priced alone, as a TPU VM (`TPU_VM`) whose host costs
  nothing extra.

The rules are facts about the machine types, applied to any file with
accelerator rows rather than to one cloud by name. An accelerator row that no
rule covers is dropped (no host is known for it), and so is a VM row of a
family that only exists with accelerators (`ACCELERATOR_ONLY_FAMILIES`) but
has no rule: offering either alone would promise a machine that cannot start.
"""

from __future__ import annotations

from typing import NamedTuple

from skyhop.spec.accelerators import canonical_accelerator

# Row field positions (see `skyhop.catalog.offer.Offer`).
_TYPE, _ACC, _COUNT, _CPU, _MEM, _REGION, _ZONE, _PRICE, _SPOT, _GPU_MEM = range(1, 11)

TPU_VM = "TPU-VM"  # SkyPilot's instance-type name for the host of a TPU VM
TPU_PREFIX = "tpu-"

# Raw accelerator name -> count -> machine types that come with exactly that
# many (https://cloud.google.com/compute/docs/gpus; the mapping SkyPilot uses).
BUNDLED: dict[str, dict[float, tuple[str, ...]]] = {
    "A100": {1: ("a2-highgpu-1g",), 2: ("a2-highgpu-2g",), 4: ("a2-highgpu-4g",), 8: ("a2-highgpu-8g",), 16: ("a2-megagpu-16g",)},
    "A100-80GB": {1: ("a2-ultragpu-1g",), 2: ("a2-ultragpu-2g",), 4: ("a2-ultragpu-4g",), 8: ("a2-ultragpu-8g",)},
    "H100": {1: ("a3-highgpu-1g",), 2: ("a3-highgpu-2g",), 4: ("a3-highgpu-4g",), 8: ("a3-highgpu-8g",)},
    "H100-MEGA": {8: ("a3-megagpu-8g",)},
    "H200": {8: ("a3-ultragpu-8g",)},
    "B200": {8: ("a4-highgpu-8g",)},
    "L4": {
        1: ("g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"),
        2: ("g2-standard-24",),
        4: ("g2-standard-48",),
        8: ("g2-standard-96",),
    },
}

# Machine families that GCP only sells with their accelerators attached.
ACCELERATOR_ONLY_FAMILIES = ("a2-", "a3-", "a4-", "g2-")

# General-purpose hosts that take attachable GPUs (n2 and later do not).
GPU_HOST_FAMILIES = ("n1-standard-", "n1-highmem-", "n1-highcpu-")
GPU_HOST_MEMORY_PER_VCPU = 4.0  # GiB per default vCPU, as for every other cloud's default size


class HostLimits(NamedTuple):
    """Which hosts one attachable GPU count goes onto."""

    min_vcpus: float  # SkyPilot's default host size for this count
    max_vcpus: float  # GCP's limit for this count
    max_memory_gib: float


# Raw accelerator name -> count -> limits (max figures from GCP's GPU page;
# minimums are SkyPilot's defaults: 4/8/48 vCPUs for T4, 8 per GPU otherwise).
ATTACHABLE: dict[str, dict[float, HostLimits]] = {
    "T4": {1: HostLimits(4, 48, 312), 2: HostLimits(8, 48, 312), 4: HostLimits(48, 96, 624)},
    "V100": {1: HostLimits(8, 12, 78), 2: HostLimits(16, 24, 156), 4: HostLimits(32, 48, 312), 8: HostLimits(64, 96, 624)},
    "P100": {1: HostLimits(8, 16, 104), 2: HostLimits(16, 32, 208), 4: HostLimits(32, 96, 624)},
    "P4": {1: HostLimits(8, 24, 156), 2: HostLimits(16, 48, 312), 4: HostLimits(32, 96, 624)},
}

_BUNDLED_TYPES = frozenset(t for counts in BUNDLED.values() for types in counts.values() for t in types)

Row = tuple


def is_accelerator_row(row: Row) -> bool:
    """A row that prices an accelerator without a machine (blank `InstanceType`)."""
    return not row[_TYPE] and bool(row[_ACC])


def is_priced(row: Row) -> bool:
    """Offered on demand or as spot (catalogs write a blank or 0 for "not offered")."""
    return row[_PRICE] is not None or row[_SPOT] is not None


def _add(vm: float | None, accelerator: float | None, vm_free: bool) -> float | None:
    if accelerator is None or (vm is None and not vm_free):
        return None
    return accelerator if vm is None else vm + accelerator


def _joined(vm: Row, accelerator: Row, name: str, vm_free: bool) -> Row | None:
    """The offer of `vm` with `accelerator` attached; None when neither price exists.

    `vm_free`: a machine that comes with its GPUs and has no price of its own
    is priced by its accelerator row alone (GCP writes 0.0 for a4-highgpu-8g
    and puts the whole price on the B200 row).
    """
    price, spot = _add(vm[_PRICE], accelerator[_PRICE], vm_free), _add(vm[_SPOT], accelerator[_SPOT], vm_free)
    if price is None and spot is None:
        return None
    return vm[:_ACC] + (name, accelerator[_COUNT]) + vm[_CPU:_PRICE] + (price, spot, accelerator[_GPU_MEM])


def _fits(host: Row, limits: HostLimits) -> bool:
    cpus, memory = host[_CPU], host[_MEM]
    if cpus is None or memory is None:
        return False
    return limits.min_vcpus <= cpus <= limits.max_vcpus and limits.min_vcpus * GPU_HOST_MEMORY_PER_VCPU <= memory <= limits.max_memory_gib


def _tpu_vm(accelerator: Row, name: str) -> Row:
    return accelerator[:_TYPE] + (TPU_VM, name) + accelerator[_COUNT:]


def combine(rows: list[Row]) -> list[Row]:
    """VM rows and accelerator rows (accelerator names as written) -> offers.

    Machine types and n1 hosts are looked up in the accelerator row's own
    zone (or region, in a file without zones), so an offer only exists where
    both halves do.
    """
    vms: dict[tuple, Row] = {}  # (instance type, region, zone) -> row
    hosts: dict[tuple, list[Row]] = {}  # (region, zone) -> n1 GPU hosts there
    out: list[Row] = []
    accelerators: list[Row] = []
    for row in rows:
        if is_accelerator_row(row):
            accelerators.append(row)
            continue
        instance = row[_TYPE]
        if instance.startswith(ACCELERATOR_ONLY_FAMILIES):
            if instance in _BUNDLED_TYPES:
                vms[(instance, row[_REGION], row[_ZONE])] = row
            continue
        if not is_priced(row):
            continue
        if instance.startswith(GPU_HOST_FAMILIES):
            hosts.setdefault((row[_REGION], row[_ZONE]), []).append(row)
        out.append(row)
    for accelerator in accelerators:
        raw = accelerator[_ACC]
        name = canonical_accelerator(raw)
        if raw.lower().startswith(TPU_PREFIX):
            if is_priced(accelerator):
                out.append(_tpu_vm(accelerator, name))
            continue
        count = accelerator[_COUNT]  # a float; 8.0 finds the key 8
        where = (accelerator[_REGION], accelerator[_ZONE])
        vm_free = raw in BUNDLED
        if vm_free:
            candidates = [vms.get((t, *where)) for t in BUNDLED[raw].get(count, ())]
        elif raw in ATTACHABLE and count in ATTACHABLE[raw]:
            limits = ATTACHABLE[raw][count]
            candidates = [host for host in hosts.get(where, ()) if _fits(host, limits)]
        else:
            continue
        for vm in candidates:
            joined = _joined(vm, accelerator, name, vm_free) if vm is not None else None
            if joined is not None:
                out.append(joined)
    return out
