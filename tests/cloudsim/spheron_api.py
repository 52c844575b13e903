"""A replay of Spheron's REST API for the skyhop-spheron plugin's tests.

Spheron cannot be reached from the test machines, so this small threaded HTTP
server on 127.0.0.1 answers the calls the plugin makes with the request and
response shapes of https://docs.spheron.ai/api-reference ("Authentication",
"Endpoints", "Status values"), completed from SkyPilot's Spheron provisioner
(sky/provision/spheron/spheron_utils.py and instance.py) where the reference
shows no example. Each handler cites its source. The reference's "Error
reference" section could not be read where this was written: error bodies
here are `{"error": <message>}` and the plugin reads only the HTTP status and
that message (see the plugin's errors.py), so the guess cannot make a test
pass that the real API would fail.

A new deployment's address comes from the namespace-host farm (`Adopter`):
the host takes the address and the deployment's SSH key, so skyhop reaches
"the instance" over real SSH; terminating releases it. Tests inject failures
(`capacity_out` and `failing` regions, `booting`, `minimum_runtime` ids,
`reclaim`), read the call log
(`calls`: method and path, never a header), and assert on the state left
(`live()`, `ssh_keys`).
"""

from __future__ import annotations

import csv
import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cloudsim.adopter import Adopter
from cloudsim.http_stub import read_body, send_json, serve, url_of

TEAM = {"id": "team-replay-1", "name": "replay team"}
CREATE_FIELDS = ("provider", "offerId", "gpuType", "gpuCount", "region", "operatingSystem", "instanceType", "sshKeyId", "name")
GONE = ("terminated", "terminated-provider")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int


class SpheronReplay:
    def __init__(self, token: str, catalog: Path, adopter: Adopter | None = None) -> None:
        self.token = token
        self.adopter = adopter
        with open(catalog, newline="", encoding="utf-8") as rows:
            self.offers = {(r["InstanceType"], r["Region"]): r for r in csv.DictReader(rows)}
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.deployments: dict[str, dict[str, Any]] = {}
        self.ssh_keys: dict[str, dict[str, Any]] = {}
        self.capacity_out: set[str] = set()  # regions whose offers are sold out
        self.failing: set[str] = set()  # regions whose deployments end `failed` instead of running
        self.booting = False  # True: deployments stay `deploying` (a slow marketplace machine)
        self.minimum_runtime: dict[str, int] = {}  # deployment id -> minutes left before it may be terminated
        self._ids = itertools.count(1)
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "serving starts with `with SpheronReplay(...)`"
        return url_of(self.server)

    def __enter__(self) -> "SpheronReplay":
        self.server, _ = serve(self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        for deployment in list(self.deployments.values()):  # a failed test must not keep hosts busy
            if deployment["status"] not in GONE and deployment.get("ipAddress") and self.adopter:
                self.adopter.release(deployment["ipAddress"])

    def live(self) -> list[dict[str, Any]]:
        """Deployments that still run (and bill)."""
        with self.lock:
            return [dict(d) for d in self.deployments.values() if d["status"] not in GONE]

    def paths(self, method: str | None = None) -> list[str]:
        return [c.path for c in self.calls if method is None or c.method == method]

    def reclaim(self, deployment_id: str) -> None:
        """The marketplace provider takes a machine back (status `terminated-provider`, docs "Status values")."""
        with self.lock:
            deployment = self.deployments[deployment_id]
            deployment["status"] = "terminated-provider"
        if self.adopter and deployment.get("ipAddress"):
            self.adopter.release(deployment["ipAddress"])

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        raw = read_body(request)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            status, answer = 400, {"error": "body is not JSON"}
        else:
            status, answer = self.answer(request.command, split.path, query, body, request.headers.get("Authorization"))
        self.calls.append(Call(request.command, split.path, status))
        send_json(request, status, answer)

    # ---- the API --------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], body: Any, auth: str | None) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "providers"] and method == "GET":
            # "Get providers": public, a bare list of names.
            return 200, sorted({r["Provider"] for r in self.offers.values()})
        # "Authentication": `Authorization: Bearer <key>` on every authenticated call.
        if auth != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized: invalid or missing API key"}
        if parts == ["api", "teams"] and method == "GET":
            # SkyPilot's get_team_id accepts a bare list or {"teams": [...]}; the replay answers the bare list.
            return 200, [TEAM]
        if parts[:2] == ["api", "ssh-keys"]:
            return self._ssh_keys(method, parts[2:], body)
        if parts[:2] == ["api", "deployments"]:
            return self._deployments(method, parts[2:], query, body)
        return 404, {"error": f"Cannot {method} {path}"}

    def _ssh_keys(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and not rest:
                return 200, list(self.ssh_keys.values())
            if method == "POST" and not rest:
                # SkyPilot's add_ssh_key: {"name", "publicKey", "teamId"?} -> {"id", ...}.
                if not isinstance(body, dict) or not body.get("name") or not str(body.get("publicKey", "")).startswith("ssh-"):
                    return 400, {"error": "name and publicKey are required"}
                key = {"id": f"key-{next(self._ids)}", "name": body["name"], "publicKey": body["publicKey"], "teamId": body.get("teamId")}
                self.ssh_keys[key["id"]] = key
                return 201, key
            if method == "DELETE" and len(rest) == 1:
                if self.ssh_keys.pop(rest[0], None) is None:
                    return 404, {"error": "SSH key not found"}
                return 200, {"message": "SSH key deleted"}
        return 404, {"error": "not found"}

    def _deployments(self, method: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "POST" and not rest:
            return self._create(body)
        with self.lock:
            if method == "GET" and not rest:
                # Paginated (`page`, `limit`, `totalPages`), as SkyPilot's get_deployments reads it.
                page, limit = int(query.get("page", "1")), int(query.get("limit", "10"))
                items = list(self.deployments.values())
                pages = max(1, -(-len(items) // limit))
                return 200, {"deployments": items[(page - 1) * limit: page * limit], "page": page, "limit": limit, "totalPages": pages, "total": len(items)}
            deployment = self.deployments.get(rest[0]) if len(rest) == 1 else None
            if deployment is None:
                return 404, {"error": "Deployment not found"}
            if method == "GET":
                if deployment["status"] == "deploying" and not self.booting:  # a machine boots between two polls
                    deployment["status"] = "failed" if deployment["region"] in self.failing else "running"
                return 200, dict(deployment)
            if method == "DELETE":
                return self._terminate(deployment)
        return 404, {"error": "not found"}

    def _create(self, body: Any) -> tuple[int, Any]:
        # "Deploy your first instance" (Quick start) and SkyPilot's run_instances: the fields below, plus teamId.
        missing = [f for f in CREATE_FIELDS if not isinstance(body, dict) or body.get(f) in (None, "")]
        if missing:
            return 400, {"error": f"missing fields: {', '.join(missing)}"}
        offer = self.offers.get((body["offerId"], body["region"]))
        if offer is None or offer["Provider"] != body["provider"]:
            return 404, {"error": f"Offer {body['offerId']} not found in {body['region']}"}
        if body["region"] in self.capacity_out:
            return 400, {"error": f"No capacity available for {body['offerId']} in {body['region']}"}
        with self.lock:
            key = self.ssh_keys.get(body["sshKeyId"])
            if key is None:
                return 400, {"error": f"SSH key {body['sshKeyId']} not found"}
            ip = self.adopter.allocate() if self.adopter else f"192.0.2.{next(self._ids) % 250 + 1}"
            deployment = {
                "id": f"dep-{next(self._ids)}", "name": body["name"], "status": "deploying", "region": body["region"],
                "provider": body["provider"], "offerId": body["offerId"], "instanceType": body["instanceType"],
                # camelCase address fields, as SkyPilot's get_cluster_info reads them.
                "ipAddress": ip, "sshPort": 22, "user": "root", "teamId": body.get("teamId"),
            }
            self.deployments[deployment["id"]] = deployment
        if self.adopter:
            self.adopter.adopt(ip, key["publicKey"])
        return 201, dict(deployment)

    def _terminate(self, deployment: dict[str, Any]) -> tuple[int, Any]:
        # DELETE answers 400 {"canTerminate": false, "currentStatus", "timeRemaining", "minimumRuntime"}
        # before an offer's minimum runtime (SkyPilot's delete_deployment); a gone one reports its status so.
        if deployment["status"] in GONE:
            return 400, {"canTerminate": False, "currentStatus": deployment["status"]}
        left = self.minimum_runtime.get(deployment["id"])
        if left:
            return 400, {"canTerminate": False, "currentStatus": deployment["status"], "timeRemaining": left, "minimumRuntime": 60}
        deployment["status"] = "terminated"
        if self.adopter and deployment.get("ipAddress"):
            self.adopter.release(deployment["ipAddress"])
        return 200, {"message": "Deployment terminated", "id": deployment["id"]}
