"""What the RunPod provider keeps about a cluster (`ClusterInfo.data["runpod"]`), and how a catalog
instance type reads as a pod request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from skyhop.providers.errors import NotSupportedError

# Catalog accelerator name -> RunPod's GPU type id (https://docs.runpod.io/references/gpu-types).
GPU_TYPE_IDS = {
    "A100-80GB": "NVIDIA A100 80GB PCIe",
    "A100-80GB-SXM": "NVIDIA A100-SXM4-80GB",
    "A30": "NVIDIA A30",
    "A40": "NVIDIA A40",
    "B200": "NVIDIA B200",
    "H100": "NVIDIA H100 PCIe",
    "H100-SXM": "NVIDIA H100 80GB HBM3",
    "H100-NVL": "NVIDIA H100 NVL",
    "H200-SXM": "NVIDIA H200",
    "L4": "NVIDIA L4",
    "L40": "NVIDIA L40",
    "L40S": "NVIDIA L40S",
    "MI300X": "AMD Instinct MI300X OAM",
    "RTX3090": "NVIDIA GeForce RTX 3090",
    "RTX4090": "NVIDIA GeForce RTX 4090",
    "RTX5090": "NVIDIA GeForce RTX 5090",
    "RTX4000-Ada": "NVIDIA RTX 4000 Ada Generation",
    "RTX6000-Ada": "NVIDIA RTX 6000 Ada Generation",
    "RTXA4000": "NVIDIA RTX A4000",
    "RTXA4500": "NVIDIA RTX A4500",
    "RTXA5000": "NVIDIA RTX A5000",
    "RTXA6000": "NVIDIA RTX A6000",
}
_TYPE = re.compile(r"(\d+)x_(.+)_(SECURE|COMMUNITY)")


@dataclass(frozen=True)
class PodShape:
    """`1x_A100-80GB_SECURE`: GPU count, RunPod GPU type id, and cloud type."""

    gpu_count: int
    gpu_type_id: str
    cloud_type: str


def pod_shape(instance_type: str) -> PodShape:
    """The pod request a catalog instance type stands for; NotSupportedError for a shape skyhop cannot map."""
    match = _TYPE.fullmatch(instance_type)
    gpu = GPU_TYPE_IDS.get(match.group(2)) if match else None
    if match is None or gpu is None:
        raise NotSupportedError(f"skyhop does not know RunPod's GPU type for the instance type '{instance_type}'.")
    return PodShape(int(match.group(1)), gpu, match.group(3))


@dataclass(frozen=True)
class RunPodCluster:
    """The cluster's one pod, its name (the ownership mark), where, and how it resumes (a spot pod re-bids).

    `unfinished`: rebuilt by `find` after a crash mid-launch; `query` reports it TERMINATED.
    """

    pod_id: str
    name: str
    zone: str | None
    gpu_count: int
    bid_per_gpu: float | None = None  # set for an interruptible (spot) pod
    unfinished: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"pod_id": self.pod_id, "name": self.name, "zone": self.zone, "gpu_count": self.gpu_count,
                "bid_per_gpu": self.bid_per_gpu, "unfinished": self.unfinished}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RunPodCluster":
        bid = data.get("bid_per_gpu")
        return cls(str(data.get("pod_id") or ""), str(data["name"]), data.get("zone"), int(data.get("gpu_count") or 1),
                   float(bid) if bid is not None else None, bool(data.get("unfinished")))
