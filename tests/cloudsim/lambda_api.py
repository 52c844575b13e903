"""A replay server for the Lambda Cloud API (v1), for the tests: the boundary that cannot run here.

Shapes from the API reference https://docs-api.lambda.ai/api/cloud (spec:
https://cloud.lambda.ai/api/v1/openapi.json) and the guide
https://docs.lambda.ai/public-cloud/on-demand/creating-managing-instances/:
- every answer wraps its payload in `{"data": ...}`; every error is
  `{"error": {"code", "message", "suggestion"?}}` (#errors);
- `GET /instance-types` -> `{type: {"instance_type": {...}, "regions_with_capacity_available": [{name, description}]}}` (#listInstanceTypes);
- `POST /instance-operations/launch` `{region_name, instance_type_name, ssh_key_names: [one], quantity, name}`
  -> `{"instance_ids": [...]}`; no room: HTTP 400 `instance-operations/launch/insufficient-capacity`
  "Not enough capacity to fulfill launch request." (#launchInstance);
- `GET /instances`, `GET /instances/{id}` (404 `global/object-does-not-exist`) (#listInstances, #getInstance);
- `POST /instance-operations/terminate` -> `{"terminated_instances": [...]}`, `.../restart` -> `{"restarted_instances": [...]}`;
- `GET/POST /ssh-keys`, `DELETE /ssh-keys/{id}` (#listSSHKeys, #addSSHKey, #deleteSSHKey);
- a missing or wrong key: HTTP 401 `global/invalid-api-key`.
Instance types and regions are the shared catalog's Lambda rows. A launched
instance's private address goes to a namespace host (`Adopter`), which takes
the launch's SSH key; terminate releases it.
"""

from __future__ import annotations

import csv
import itertools
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from helpers import SHARED_CATALOG

from cloudsim.replay import ReplayServer

PREFIX = "/api/v1"
CAPACITY = ("instance-operations/launch/insufficient-capacity", "Not enough capacity to fulfill launch request.")


@dataclass
class Fault:
    """Answer the next calls of `operation` (in `region`, for launches) with Lambda error `code`."""

    operation: str  # launch, terminate, instances, instance-types, ssh-keys
    code: str
    message: str
    status: int = 400
    region: str | None = None
    times: int | None = None  # None: every matching call


def _error(status: int, code: str, message: str, suggestion: str | None = None) -> tuple[int, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        error["suggestion"] = suggestion
    return status, {"error": error}


def _catalog() -> dict[str, dict[str, Any]]:
    types: dict[str, dict[str, Any]] = {}
    with open(SHARED_CATALOG / "lambda" / "vms.csv", newline="") as rows:
        for row in csv.DictReader(rows):
            entry = types.setdefault(row["InstanceType"], {"instance_type": {
                "name": row["InstanceType"], "description": row["InstanceType"], "gpu_description": row["AcceleratorName"],
                "price_cents_per_hour": round(float(row["Price"]) * 100),
                "specs": {"vcpus": int(float(row["vCPUs"])), "memory_gib": int(float(row["MemoryGiB"])), "storage_gib": 512,
                          "gpus": int(float(row["AcceleratorCount"] or 0))},
            }, "regions": []})
            entry["regions"].append(row["Region"])
    return types


class LambdaApi(ReplayServer):
    def __init__(self, adopter=None, token: str = "lambda-test-key", boot_polls: int = 1, host: str = "127.0.0.1") -> None:
        self.adopter = adopter
        self.token = token
        self.boot_polls = boot_polls  # instance listings during which a new instance is still `booting`
        self.types = _catalog()
        self.no_capacity: set[str] = set()  # regions where nothing can be launched now
        self.faults: list[Fault] = []
        self.instances: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self._polls: dict[str, int] = {}
        self.launch_gate: threading.Event | None = None  # set: a launch creates its instances, then waits for it to answer
        self._ids = itertools.count(1)
        self._fake_ips = itertools.count(10)
        super().__init__(host)  # the farm's bridge address: instances (the head's autodown) reach it too
        self.endpoint = self.url + PREFIX

    # --- what tests look at -------------------------------------------------------------------
    def live(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {i: dict(v) for i, v in self.instances.items() if v["status"] != "terminated"}

    def fail(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    # --- the API --------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: Any, headers: Mapping[str, str]) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "global/invalid-api-key", "API key was invalid, expired, or deleted.",
                          "Check your API key or create a new one, then try again.")
        if not path.startswith(PREFIX):
            return _error(404, "global/object-does-not-exist", "Not found.")
        path = path[len(PREFIX):]
        operation = path.strip("/").split("/")[0]
        if operation == "instance-operations":
            operation = path.rstrip("/").rsplit("/", 1)[-1]
        region = body.get("region_name") if isinstance(body, dict) else None
        with self.lock:
            answer = self._injected(operation, region) or self._answer(method, path, body)
        gate = self.launch_gate
        if operation == "launch" and gate is not None:
            gate.wait(120)  # the instances exist; the caller has no answer yet (a crash window)
        return answer

    def _injected(self, operation: str, region: str | None) -> tuple[int, Any] | None:
        for fault in self.faults:
            if fault.operation == operation and fault.region in (None, region) and fault.times != 0:
                if fault.times is not None:
                    fault.times -= 1
                return _error(fault.status, fault.code, fault.message)
        return None

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/instance-types":
            return 200, {"data": {name: {"instance_type": t["instance_type"], "regions_with_capacity_available": [
                {"name": r, "description": r} for r in t["regions"] if r not in self.no_capacity]} for name, t in self.types.items()}}
        if method == "GET" and path == "/instances":
            return 200, {"data": [self._observed(i) for i in list(self.instances) if self.instances[i]["status"] != "terminated"]}
        if method == "GET" and path.startswith("/instances/"):
            iid = path.rsplit("/", 1)[-1]
            if iid not in self.instances:
                return _error(404, "global/object-does-not-exist", "Specified instance does not exist.")
            return 200, {"data": self._observed(iid)}
        if method == "POST" and path == "/instance-operations/launch":
            return self._launch(body)
        if method == "POST" and path == "/instance-operations/terminate":
            return self._terminate(body)
        if method == "POST" and path == "/instance-operations/restart":
            ids = list(body.get("instance_ids") or [])
            if any(i not in self.instances or self.instances[i]["status"] == "terminated" for i in ids):
                return _error(404, "global/object-does-not-exist", "Specified instance does not exist.")
            return 200, {"data": {"restarted_instances": [self.instances[i] for i in ids]}}
        if method == "GET" and path == "/ssh-keys":
            return 200, {"data": list(self.keys.values())}
        if method == "POST" and path == "/ssh-keys":
            return self._add_key(body)
        if method == "DELETE" and path.startswith("/ssh-keys/"):
            if self.keys.pop(path.rsplit("/", 1)[-1], None) is None:
                return _error(404, "global/object-does-not-exist", "Specified SSH key does not exist.")
            return 200, {"data": {}}
        return _error(404, "global/object-does-not-exist", f"No such operation: {method} {path}")

    def _observed(self, iid: str) -> dict[str, Any]:
        instance = self.instances[iid]
        if instance["status"] == "booting":
            self._polls[iid] = self._polls.get(iid, 0) + 1
            if self._polls[iid] > self.boot_polls:
                instance["status"] = "active"
        return dict(instance)

    def _launch(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return _error(400, "global/invalid-parameters", "Request body must be JSON.")
        region, type_name, quantity = body.get("region_name"), body.get("instance_type_name"), body.get("quantity", 1)
        kind = self.types.get(str(type_name))
        if kind is None:
            return _error(400, "global/invalid-parameters", f"Invalid instance type: {type_name}")
        if region not in kind["regions"]:
            return _error(400, "global/invalid-parameters", f"Invalid region: {region}")
        names = body.get("ssh_key_names") or []
        key = next((k for k in self.keys.values() if names and k["name"] == names[0]), None)
        if len(names) != 1 or key is None:
            return _error(400, "global/invalid-parameters", "Exactly one existing SSH key name must be given.")
        if not isinstance(quantity, int) or quantity < 1:
            return _error(400, "global/invalid-parameters", "Quantity must be a positive integer.")
        if region in self.no_capacity:
            return _error(400, *CAPACITY)
        ids = []
        for _ in range(quantity):
            iid = f"{next(self._ids):032x}"
            private = self.adopter.allocate() if self.adopter else f"10.99.0.{next(self._fake_ips)}"
            if self.adopter:
                self.adopter.adopt(private, key["public_key"])
            self.instances[iid] = {
                "id": iid, "name": body.get("name"), "ip": f"203.0.113.{int(private.rsplit('.', 1)[1])}", "private_ip": private,
                "status": "booting", "ssh_key_names": names, "file_system_names": [],
                "region": {"name": region, "description": region}, "instance_type": kind["instance_type"],
                "hostname": f"{private.replace('.', '-')}.cloud.lambdalabs.com", "jupyter_token": secrets.token_hex(8),
                "jupyter_url": "https://jupyter.example.invalid",
            }
            ids.append(iid)
        return 200, {"data": {"instance_ids": ids}}

    def _terminate(self, body: Any) -> tuple[int, Any]:
        ids = list((body or {}).get("instance_ids") or [])
        if not ids or any(i not in self.instances for i in ids):
            return _error(404, "global/object-does-not-exist", "Specified instance does not exist.")
        done = []
        for iid in ids:
            instance = self.instances[iid]
            if instance["status"] != "terminated":
                instance["status"] = "terminated"
                if self.adopter:
                    self.adopter.release(instance["private_ip"])
            done.append(dict(instance))
        return 200, {"data": {"terminated_instances": done}}

    def _add_key(self, body: Any) -> tuple[int, Any]:
        name = (body or {}).get("name")
        if not name:
            return _error(400, "global/invalid-parameters", "An SSH key needs a name.")
        if any(k["name"] == name for k in self.keys.values()):
            return _error(400, "global/duplicate", f"An SSH key named {name} already exists.")
        kid = secrets.token_hex(16)
        key = {"id": kid, "name": name, "public_key": body.get("public_key") or "ssh-ed25519 GENERATED lambda"}
        self.keys[kid] = key
        return 200, {"data": dict(key)}
