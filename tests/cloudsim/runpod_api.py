"""A replay server for RunPod's GraphQL API, for the tests: the boundary that cannot run here.

Shapes from the schema https://graphql-spec.runpod.io/ and the pod guide
https://docs.runpod.io/sdks/graphql/manage-pods:
- one endpoint, `POST /graphql` with `{"query", "variables"}`; a failed
  operation is HTTP 200 with `{"errors": [{"message", "path"}], "data": {op: null}}`;
  a missing or wrong key is HTTP 401 (runpod-python `runpod/api/graphql.py` handles it so);
- `podFindAndDeployOnDemand(input)` / `podRentInterruptable(input)` (with `bidPerGpu`) -> Pod;
  no room: "There are no longer any instances available with the requested specifications.
  Please refresh and try again.";
- `podStop`, `podResume`, `podBidResume` -> `{id, desiredStatus}`; `podTerminate` -> null;
- `myself { pods { id name desiredStatus gpuCount machine runtime { ports { ip isIpPublic privatePort publicPort type } } } }`.
Not a GraphQL engine: the operation is recognised by its field name and the
whole Pod object is answered whatever the selection set (extra fields are
harmless to a client that reads what it selected). A new pod's address goes to a
namespace host (`Adopter`) with the `PUBLIC_KEY` its env carries; its port 22 is
reported as the public port 22 of that address. Stop pauses the host, resume
resumes it, terminate releases it.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass
from typing import Any, Mapping

from cloudsim.replay import ReplayServer

NO_INSTANCES = "There are no longer any instances available with the requested specifications. Please refresh and try again."
NOT_ENOUGH_GPUS = "There are not enough free GPUs on the host machine to start this pod."
GPU_TYPES = ("NVIDIA A100 80GB PCIe", "NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090")
DATA_CENTERS = ("CA-MTL-1", "CA-MTL-2", "US-CA-1", "US-CA-2", "US-GA-1", "US-TX-1")
_OPERATION = re.compile(r"\b(podFindAndDeployOnDemand|podRentInterruptable|podStop|podResume|podBidResume|podTerminate|myself)\b")


@dataclass
class Fault:
    """Answer the next calls of `operation` (in data center `zone`, for deploys) with `message`."""

    operation: str
    message: str
    zone: str | None = None
    times: int | None = None


class RunPodApi(ReplayServer):
    def __init__(self, adopter=None, token: str = "runpod-test-key", boot_polls: int = 1, host: str = "127.0.0.1") -> None:
        self.adopter = adopter
        self.token = token
        self.boot_polls = boot_polls  # pod listings during which a starting pod has no runtime yet
        self.no_capacity: set[str] = set()  # data centers with no room now
        self.faults: list[Fault] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self._fake_ips = itertools.count(10)
        super().__init__(host)  # the farm's bridge address: pods (their autostop hooks) reach it too
        self.endpoint = self.url + "/graphql"

    def fail(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def live(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {i: dict(p) for i, p in self.pods.items()}

    def route(self, method: str, path: str, body: Any, headers: Mapping[str, str]) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"errors": [{"message": "Unauthorized"}]}
        if method != "POST" or path != "/graphql" or not isinstance(body, dict):
            return 400, {"errors": [{"message": "POST a JSON body {query, variables} to /graphql"}]}
        found = _OPERATION.search(str(body.get("query") or ""))
        if found is None:
            return 200, {"errors": [{"message": "Unknown operation"}], "data": None}
        operation = found.group(1)
        given = (body.get("variables") or {}).get("input") or {}
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.zone in (None, given.get("dataCenterId")) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return self._error(operation, fault.message)
            return self._answer(operation, given)

    @staticmethod
    def _error(operation: str, message: str) -> tuple[int, Any]:
        return 200, {"errors": [{"message": message, "path": [operation]}], "data": {operation: None}}

    def _answer(self, operation: str, given: dict[str, Any]) -> tuple[int, Any]:
        if operation == "myself":
            return 200, {"data": {"myself": {"id": "user-1", "pods": [self._observed(i) for i in list(self.pods)]}}}
        if operation in ("podFindAndDeployOnDemand", "podRentInterruptable"):
            return self._deploy(operation, given)
        pod = self.pods.get(str(given.get("podId")))
        if pod is None:
            return self._error(operation, "Pod not found")
        if operation == "podStop":
            if pod["desiredStatus"] == "RUNNING" and self.adopter:
                self.adopter.pause(pod["_ip"])
            pod["desiredStatus"], pod["runtime"] = "EXITED", None
            return 200, {"data": {operation: {"id": pod["id"], "desiredStatus": "EXITED"}}}
        if operation in ("podResume", "podBidResume"):
            if (operation == "podBidResume") != pod["_spot"]:
                return self._error(operation, "Use podBidResume for interruptible pods and podResume for on-demand ones")
            if pod["_zone"] in self.no_capacity:
                return self._error(operation, NOT_ENOUGH_GPUS)
            if pod["desiredStatus"] == "EXITED" and self.adopter:
                self.adopter.resume(pod["_ip"])
            pod["desiredStatus"] = "RUNNING"
            self._polls[pod["id"]] = 0
            return 200, {"data": {operation: {"id": pod["id"], "desiredStatus": "RUNNING"}}}
        if operation == "podTerminate":
            del self.pods[pod["id"]]
            if self.adopter:
                self.adopter.release(pod["_ip"])
            return 200, {"data": {operation: None}}
        return self._error(operation, "Unsupported operation")

    def _deploy(self, operation: str, given: dict[str, Any]) -> tuple[int, Any]:
        zone = given.get("dataCenterId")
        if given.get("gpuTypeId") not in GPU_TYPES:
            return self._error(operation, f"GPU type {given.get('gpuTypeId')!r} does not exist")
        if zone is not None and zone not in DATA_CENTERS:
            return self._error(operation, f"Data center {zone!r} does not exist")
        if operation == "podRentInterruptable" and not isinstance(given.get("bidPerGpu"), (int, float)):
            return self._error(operation, "bidPerGpu is required for interruptible pods")
        if zone in self.no_capacity:
            return self._error(operation, NO_INSTANCES)
        key = next((e.get("value") for e in given.get("env") or () if e.get("key") == "PUBLIC_KEY"), None)
        ip = self.adopter.allocate() if self.adopter else f"10.98.0.{next(self._fake_ips)}"
        if self.adopter:
            self.adopter.adopt(ip, key)
        pod_id = secrets.token_hex(7)
        self.pods[pod_id] = {
            "id": pod_id, "name": given.get("name"), "desiredStatus": "RUNNING", "imageName": given.get("imageName"),
            "gpuCount": given.get("gpuCount"), "costPerHr": 1.39, "machineId": secrets.token_hex(6),
            "machine": {"podHostId": f"{pod_id}-host", "gpuDisplayName": given.get("gpuTypeId"), "location": zone},
            "runtime": None, "_ip": ip, "_zone": zone, "_spot": operation == "podRentInterruptable", "_input": dict(given),
        }
        self._polls[pod_id] = 0
        return 200, {"data": {operation: self._observed(pod_id)}}

    def _observed(self, pod_id: str) -> dict[str, Any]:
        pod = self.pods[pod_id]
        if pod["desiredStatus"] == "RUNNING" and pod["runtime"] is None:
            self._polls[pod_id] += 1
            if self._polls[pod_id] > self.boot_polls:
                pod["runtime"] = {"uptimeInSeconds": 1, "ports": [
                    {"ip": pod["_ip"], "isIpPublic": True, "privatePort": 22, "publicPort": 22, "type": "tcp"}]}
        return {k: v for k, v in pod.items() if not k.startswith("_")}
