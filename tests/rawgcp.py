"""GCP's catalog layout re-derived for test expectations, with nothing but `csv`.

SkyPilot's `gcp/vms.csv` prices machines and accelerators in separate rows (a
blank `InstanceType` marks an accelerator row). The rules below restate the
ones documented in docs/architecture.md ("GCP prices a VM and its
accelerators apart") in a different form from skyhop's `catalog.attached`, so
that a mistake there does not reappear in the expectation:

- a machine type that comes with its GPUs is offered once per zone where both
  its row and the row of exactly its GPU model and count exist, at the sum
  (a machine price of 0.0 or blank counts as 0: a4's rows put it all on B200);
- T4/V100/P100/P4 go onto n1-standard/highmem/highcpu hosts no smaller than
  SkyPilot's default for the count (vCPUs, and 4 GiB per such vCPU) and no
  bigger than GCP's limit for the count, again at the sum, in the same zone;
- a TPU row is an offer alone, on instance type "TPU-VM";
- a2/a3/a4/g2 rows are never offered alone; every other machine row is.
"""

from __future__ import annotations

import csv
from pathlib import Path

# Machine type -> (AcceleratorName as written, count) that it comes with.
GPU_MACHINES: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("A100", 16),
    **{f"a2-ultragpu-{n}g": ("A100-80GB", n) for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": ("H100", n) for n in (1, 2, 4, 8)},
    "a3-megagpu-8g": ("H100-MEGA", 8),
    "a3-ultragpu-8g": ("H200", 8),
    "a4-highgpu-8g": ("B200", 8),
    **{f"g2-standard-{size}": ("L4", 1) for size in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("L4", 2),
    "g2-standard-48": ("L4", 4),
    "g2-standard-96": ("L4", 8),
}
NEVER_ALONE = ("a2-", "a3-", "a4-", "g2-")

# (AcceleratorName, count) -> (least vCPUs, most vCPUs, most GiB) of an n1 host.
N1_HOSTS: dict[tuple[str, int], tuple[int, int, int]] = {
    ("T4", 1): (4, 48, 312), ("T4", 2): (8, 48, 312), ("T4", 4): (48, 96, 624),
    ("V100", 1): (8, 12, 78), ("V100", 2): (16, 24, 156), ("V100", 4): (32, 48, 312), ("V100", 8): (64, 96, 624),
    ("P100", 1): (8, 16, 104), ("P100", 2): (16, 32, 208), ("P100", 4): (32, 96, 624),
    ("P4", 1): (8, 24, 156), ("P4", 2): (16, 48, 312), ("P4", 4): (32, 96, 624),
}  # fmt: skip
N1_FAMILIES = ("n1-standard-", "n1-highmem-", "n1-highcpu-")


def _float(text: str | None) -> float | None:
    try:
        return float((text or "").strip())
    except ValueError:
        return None


def _positive(text: str | None) -> float | None:
    value = _float(text)
    return value if value is not None and value > 0 else None


def has_accelerator_rows(path: Path) -> bool:
    with path.open(newline="", encoding="utf-8") as handle:
        return any(not r["InstanceType"].strip() and r["AcceleratorName"].strip() for r in csv.DictReader(handle))


def _host_fits(machine: dict[str, str], gpu: tuple[str, int]) -> bool:
    if gpu not in N1_HOSTS or not machine["InstanceType"].startswith(N1_FAMILIES):
        return False
    least, most_cpus, most_mem = N1_HOSTS[gpu]
    cpus, mem = _float(machine["vCPUs"]), _float(machine["MemoryGiB"])
    return cpus is not None and mem is not None and least <= cpus <= most_cpus and 4 * least <= mem <= most_mem


def _sum(machine: str, gpu: str, machine_free: bool) -> float | None:
    x, y = _positive(machine), _positive(gpu)
    if y is None:
        return None
    if x is None:
        return y if machine_free else None
    return x + y


def offers(path: Path) -> list[dict]:
    """Every offer of a file in this layout, as dicts with the CSV's column names
    (`Price`/`SpotPrice` as floats or None, `AcceleratorCount` as a float)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Region"].strip()]
    machines = [r for r in rows if r["InstanceType"].strip()]
    gpus = [r for r in rows if not r["InstanceType"].strip() and r["AcceleratorName"].strip()]
    out: list[dict] = []
    for m in machines:
        if not m["InstanceType"].startswith(NEVER_ALONE):
            out.append({**m, "AcceleratorName": "", "AcceleratorCount": 0.0, "Price": _positive(m["Price"]), "SpotPrice": _positive(m["SpotPrice"])})
    by_zone: dict[tuple[str, str], list[dict]] = {}
    for m in machines:
        by_zone.setdefault((m["Region"], m["AvailabilityZone"]), []).append(m)
    for g in gpus:
        gpu = (g["AcceleratorName"].strip(), int(float(g["AcceleratorCount"])))
        if gpu[0].startswith("tpu-"):
            out.append({**g, "InstanceType": "TPU-VM", "AcceleratorCount": float(gpu[1]), "Price": _positive(g["Price"]), "SpotPrice": _positive(g["SpotPrice"])})
            continue
        for m in by_zone.get((g["Region"], g["AvailabilityZone"]), ()):
            if GPU_MACHINES.get(m["InstanceType"]) == gpu or _host_fits(m, gpu):
                free = m["InstanceType"] in GPU_MACHINES  # a4 rows say 0.0: the B200 row holds the price
                price, spot = _sum(m["Price"], g["Price"], free), _sum(m["SpotPrice"], g["SpotPrice"], free)
                out.append({**m, "AcceleratorName": gpu[0], "AcceleratorCount": float(gpu[1]), "Price": price, "SpotPrice": spot})
    return [o for o in out if o["Price"] is not None or o["SpotPrice"] is not None]
