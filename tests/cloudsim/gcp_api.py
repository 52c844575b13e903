"""A replay of the Compute Engine v1 REST API and Google's OAuth token endpoint, for the GCP provider's tests.

No GCP can be reached from here, so this small threaded server answers the
calls skyhop makes with the documented request and response shapes, each
cited below. It is the boundary, nothing more: instances are records whose
`networkIP` a namespace host adopts (cloudsim/adopter.py), so skyhop's real SSH
path reaches "the VM". Operations finish on their first read (`RUNNING` when
returned by the call, `DONE` when polled), so the client's polling runs.

Tests steer it with `Rule`s (an operation error such as
ZONE_RESOURCE_POOL_EXHAUSTED for inserts in one zone, an HTTP error such as a
401 for any call), `preempt` (a spot reclaim), and read `calls` (the call
log) and `instances`/`firewalls` (what exists).

Tokens: the test's service-account JSON names this server's `/token` as its
`token_uri`, so google-auth signs a real JWT assertion with the test's key and
posts it here; the server verifies the signature with the public half and
issues a bearer token that every Compute call must carry.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cloudsim.http_stub import read_body, send_json, serve, take, url_of

PREFIX = "/compute/v1/projects/"
# A service account's JWT assertion is addressed to Google's token endpoint whatever `token_uri` it is posted to.
AUDIENCE = "https://oauth2.googleapis.com/token"
ZONE = re.compile(r"[a-z]+-[a-z]+\d+-[a-z]")
# The filter forms skyhop sends: `(field = "value")` expressions (all must hold) or `field eq "RE2"`
# (https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList, `filter`).
_EXPRESSION = re.compile(r'\(\s*([\w.-]+)\s*=\s*"([^"]*)"\s*\)')
_REGEX = re.compile(r'^\s*([\w.-]+)\s+eq\s+"([^"]*)"\s*$')


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def google_error(status: int, message: str, reason: str, status_name: str) -> dict[str, Any]:
    """Google's standard error body (https://cloud.google.com/apis/design/errors#http_mapping;
    https://cloud.google.com/compute/docs/api/how-tos/api-requests-responses#handling_api_errors)."""
    return {"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}], "status": status_name}}


HTTP_ERRORS = {
    401: ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
          "authError", "UNAUTHENTICATED"),
    403: ("Required 'compute.instances.create' permission for 'projects/{project}'", "forbidden", "PERMISSION_DENIED"),
    404: ("The resource '{what}' was not found", "notFound", "NOT_FOUND"),
    409: ("The resource '{what}' already exists", "alreadyExists", "ALREADY_EXISTS"),
}


@dataclass(frozen=True)
class Rule:
    """Answer matching calls (`verb`: insert, get, list, aggregatedList, stop, start, delete, firewall-insert, ...;
    `zone` when given) with an HTTP error `http_status`, or (for calls that make an operation) with a DONE
    operation whose `error.errors[0].code` is `operation_error`, or one that stays RUNNING (`hold`). `times` limits how often (None: always)."""

    verb: str
    zone: str | None = None
    http_status: int | None = None
    operation_error: str | None = None
    message: str = ""
    quota_metric: str | None = None
    hold: bool = False  # the operation stays RUNNING until `release` (a slow VM, a stuck API)
    times: int | None = None


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    verb: str
    zone: str | None
    status: int


class GcpApi:
    def __init__(self, project: str, public_key_pem: bytes, adopter: Any = None, host: str = "127.0.0.1") -> None:
        self.project = project
        self.public_key_pem = public_key_pem
        self.adopter = adopter
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}  # (zone, name) -> Instance
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self._adopted: set[str] = set()  # addresses a namespace host holds
        self._held: set[str] = set()  # operations that stay RUNNING until `release`
        self._rules: list[Rule] = []
        self._log: list[Logged] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._fake_ip = itertools.count(2)
        self.httpd, self.thread = serve(self._handle, host)

    # --- what tests use -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return url_of(self.httpd)

    @property
    def compute_endpoint(self) -> str:
        return f"{self.url}/compute/v1"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def calls(self, verb: str | None = None) -> list[Logged]:
        with self._lock:
            return [c for c in self._log if verb is None or c.verb == verb]

    def clear(self) -> None:
        """No more injected errors."""
        with self._lock:
            self._rules.clear()

    def release(self) -> None:
        """Held operations may finish now."""
        with self._lock:
            self._held.clear()

    def revoke_tokens(self) -> None:
        """Credentials expiring: every token issued so far is refused (401) from now on."""
        with self._lock:
            self.tokens.clear()

    def preempt(self, zone: str, name: str) -> None:
        """GCP reclaims a spot VM whose termination action is STOP: it becomes TERMINATED, and a
        `compute.instances.preempted` operation records why
        (https://cloud.google.com/compute/docs/instances/spot#detect-preemption)."""
        with self._lock:
            instance = self.instances[(zone, name)]
            instance["status"] = "TERMINATED"
            ip = instance["networkInterfaces"][0]["networkIP"]
            operation = self._operation("compute.instances.preempted", zone, name, done=True)
            self.operations[operation["name"]]["statusMessage"] = "Instance was preempted."
        if self.adopter is not None:
            self.adopter.pause(ip)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        for key in list(self.instances):
            self._release(self.instances.pop(key))

    # --- the wire -----------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = read_body(request)
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        verb, zone = "token", None
        try:
            if url.path == "/token":
                status, answer = self._token(raw)
            else:
                verb, zone, handler, args = self._route(request.command, url.path)
                status, answer = self._serve(request, verb, zone, handler, args, raw, query)
        except KeyError as missing:
            status, answer = 404, self._error(404, what=str(missing.args[0]))
        with self._lock:
            self._log.append(Logged(request.command, url.path, verb, zone, status))
        send_json(request, status, answer, "application/json; charset=UTF-8")

    def _error(self, status: int, *, what: str = "", message: str = "") -> dict[str, Any]:
        text, reason, name = HTTP_ERRORS.get(status, ("Backend Error", "backendError", "UNAVAILABLE"))
        return google_error(status, message or text.format(project=self.project, what=what), reason, name)

    def _token(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """The OAuth 2.0 token endpoint for a service account's JWT bearer grant
        (https://developers.google.com/identity/protocols/oauth2/service-account#httprest):
        form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`, answered
        `{"access_token", "expires_in", "token_type"}`, or 400 `{"error": "invalid_grant", "error_description"}`."""
        from google.auth import exceptions, jwt

        form = dict(urllib.parse.parse_qsl(raw.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        try:
            jwt.decode(form.get("assertion", ""), certs=self.public_key_pem, audience=AUDIENCE)
        except (exceptions.GoogleAuthError, ValueError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        token = "ya29." + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _route(self, method: str, path: str) -> tuple[str, str | None, Any, tuple[str, ...]]:
        """(verb, zone, handler, path arguments) for a Compute path under `projects/<project>`."""
        if not path.startswith(PREFIX):
            raise KeyError(path)
        project, _, rest = path[len(PREFIX):].partition("/")
        if project != self.project:
            raise KeyError(f"projects/{project}")
        parts = rest.split("/") if rest else []
        table: list[tuple[str, str, str, Any]] = [
            ("GET", "", "project", self._project),
            ("POST", "zones/*/instances", "insert", self._insert),
            ("GET", "zones/*/instances", "list", self._list),
            ("GET", "zones/*/instances/*", "get", self._get),
            ("DELETE", "zones/*/instances/*", "delete", self._delete),
            ("POST", "zones/*/instances/*/stop", "stop", self._stop),
            ("POST", "zones/*/instances/*/start", "start", self._start),
            ("GET", "aggregated/instances", "aggregatedList", self._aggregated),
            ("GET", "zones/*/operations", "operations", self._zone_operations),
            ("GET", "zones/*/operations/*", "operation", self._zone_operation),
            ("POST", "zones/*/operations/*/wait", "operation", self._zone_operation),
            ("GET", "global/operations/*", "operation", self._global_operation),
            ("POST", "global/operations/*/wait", "operation", self._global_operation),
            ("POST", "global/firewalls", "firewall-insert", self._firewall_insert),
            ("GET", "global/firewalls", "firewall-list", self._firewall_list),
            ("GET", "global/firewalls/*", "firewall-get", self._firewall_get),
            ("PATCH", "global/firewalls/*", "firewall-patch", self._firewall_patch),
            ("DELETE", "global/firewalls/*", "firewall-delete", self._firewall_delete),
        ]
        for wanted_method, pattern, verb, handler in table:
            shape = pattern.split("/") if pattern else []
            if method == wanted_method and len(shape) == len(parts) and all(s in ("*", p) for s, p in zip(shape, parts)):
                args = tuple(p for s, p in zip(shape, parts) if s == "*")
                zone = parts[1] if parts[:1] == ["zones"] else None
                return verb, zone, handler, args
        raise KeyError(path)

    def _serve(self, request: BaseHTTPRequestHandler, verb: str, zone: str | None, handler: Any, args: tuple[str, ...],
               raw: bytes, query: dict[str, str]) -> tuple[int, Any]:
        given = request.headers.get("Authorization", "")
        with self._lock:
            known = given.startswith("Bearer ") and given[len("Bearer "):] in self.tokens
        if not known:
            return 401, self._error(401)
        if zone is not None and not ZONE.fullmatch(zone):
            return 404, self._error(404, what=f"projects/{self.project}/zones/{zone}")
        rule = self._match(verb, zone)
        if rule is not None and rule.http_status:
            return rule.http_status, self._error(rule.http_status, message=rule.message, what=verb)
        body = json.loads(raw) if raw else None
        with self._lock:
            return handler(*args, body=body, query=query, rule=rule)

    def _match(self, verb: str, zone: str | None) -> Rule | None:
        with self._lock:
            return take(self._rules, lambda rule: rule.verb == verb and (rule.zone is None or rule.zone == zone))

    # --- operations ---------------------------------------------------------------------------------

    def _operation(self, kind: str, zone: str | None, target: str, *, done: bool = False, rule: Rule | None = None) -> dict[str, Any]:
        """An Operation (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations#Operation):
        RUNNING when returned by the call that made it, DONE (with `error` if a rule says so) once read."""
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}"
        collection = "firewalls" if zone is None else "instances"
        scope = f"zones/{zone}" if zone else "global"
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}"
        operation: dict[str, Any] = {
            "kind": "compute#operation", "id": str(next(self._ids)), "name": name, "operationType": kind,
            "targetLink": f"{base}/{scope}/{collection}/{target}", "status": "DONE" if done else "RUNNING", "progress": 100 if done else 0,
            "insertTime": now(), "startTime": now(), "selfLink": f"{base}/{scope}/operations/{name}", "user": "skyhop-test@example.iam.gserviceaccount.com",
        }
        if zone:
            operation["zone"] = f"{base}/zones/{zone}"
        if done:
            operation["endTime"] = now()
        if rule is not None and rule.operation_error:
            operation["_error"] = self._operation_error(rule, zone)
        if rule is not None and rule.hold:
            self._held.add(name)
        self.operations[name] = operation
        return dict((k, v) for k, v in operation.items() if not k.startswith("_"))

    def _operation_error(self, rule: Rule, zone: str | None) -> dict[str, Any]:
        """The `error` of a failed DONE operation; capacity text as in
        https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-resource-availability, quota details per
        the Operation schema's `errorDetails[].quotaInfo`."""
        code = rule.operation_error or ""
        if code.startswith("ZONE_RESOURCE_POOL_EXHAUSTED"):
            message = rule.message or (f"The zone 'projects/{self.project}/zones/{zone}' does not have enough resources available to fulfill the request.  "
                                       "Try a different zone, or try again later.")
            entry: dict[str, Any] = {"code": code, "message": message}
        elif code == "QUOTA_EXCEEDED":
            metric = rule.quota_metric or "CPUS"
            region = zone.rsplit("-", 1)[0] if zone else "global"
            entry = {"code": code, "message": rule.message or f"Quota '{metric}' exceeded.  Limit: 0.0 in region {region}.",
                     "errorDetails": [{"quotaInfo": {"metricName": f"compute.googleapis.com/{metric.lower()}", "limitName": f"{metric}-per-project-region",
                                                     "dimensions": {"region": region}, "limit": 0}}]}
        else:
            entry = {"code": code, "message": rule.message or code}
        return {"errors": [entry]}

    def _read_operation(self, name: str) -> dict[str, Any]:
        operation = self.operations[name]
        if operation["status"] != "DONE" and name not in self._held:
            operation.update(status="DONE", progress=100, endTime=now())
            failure = operation.get("_error")
            if failure is not None:
                operation.get("_failed", lambda: None)()
                operation["error"] = failure
                operation["httpErrorStatusCode"], operation["httpErrorMessage"] = (403, "FORBIDDEN") if "QUOTA" in json.dumps(failure) else (503, "SERVICE UNAVAILABLE")
            else:
                operation.get("_then", lambda: None)()
        return {k: v for k, v in operation.items() if not k.startswith("_")}

    def _zone_operation(self, zone: str, name: str, **_: Any) -> tuple[int, Any]:
        """zoneOperations.get / wait (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/get)."""
        return 200, self._read_operation(name)

    def _global_operation(self, name: str, **_: Any) -> tuple[int, Any]:
        """globalOperations.get / wait (https://cloud.google.com/compute/docs/reference/rest/v1/globalOperations/get)."""
        return 200, self._read_operation(name)

    def _zone_operations(self, zone: str, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """zoneOperations.list (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/list)."""
        items = [{k: v for k, v in op.items() if not k.startswith("_")} for op in self.operations.values() if op.get("zone", "").endswith(f"/zones/{zone}")]
        return 200, {"kind": "compute#operationList", "id": f"projects/{self.project}/zones/{zone}/operations", "items": _filtered(items, query.get("filter"))}

    def _then(self, operation: dict[str, Any], action: Any) -> dict[str, Any]:
        """What the operation does to the resources, applied when it turns DONE without an error."""
        self.operations[operation["name"]]["_then"] = action
        return operation

    # --- instances ----------------------------------------------------------------------------------

    def _project(self, **_: Any) -> tuple[int, Any]:
        """projects.get (https://cloud.google.com/compute/docs/reference/rest/v1/projects/get)."""
        return 200, {"kind": "compute#project", "id": "4242", "name": self.project, "selfLink": f"https://www.googleapis.com/compute/v1/projects/{self.project}"}

    def _insert(self, zone: str, *, body: dict[str, Any], rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """instances.insert (https://cloud.google.com/compute/docs/reference/rest/v1/instances/insert): the Instance
        in the body; the answer is a zone Operation. The instance exists at once (PROVISIONING, so it can be
        deleted before the operation ends); it runs once the operation is DONE, or goes if that failed."""
        name = body.get("name", "")
        if (zone, name) in self.instances:
            return 409, self._error(409, what=f"projects/{self.project}/zones/{zone}/instances/{name}")
        self.instances[(zone, name)] = instance = self._record(zone, body)
        operation = self._operation("insert", zone, name, rule=rule)
        self.operations[operation["name"]]["_failed"] = lambda: self.instances.pop((zone, name), None)
        return 200, self._then(operation, lambda: self._boot(instance))

    def _record(self, zone: str, body: dict[str, Any]) -> dict[str, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project}/zones/{zone}"
        ip = self.adopter.allocate() if self.adopter is not None else f"10.128.0.{next(self._fake_ip)}"
        interface = dict(body["networkInterfaces"][0], networkIP=ip, name="nic0")
        if interface.get("accessConfigs"):
            interface["accessConfigs"] = [dict(interface["accessConfigs"][0], natIP=ip)]
        instance = dict(body, id=str(next(self._ids)), kind="compute#instance", status="PROVISIONING", zone=base, selfLink=f"{base}/instances/{body['name']}",
                        creationTimestamp=now(), networkInterfaces=[interface])
        instance["machineType"] = f"{base}/machineTypes/{body['machineType'].rsplit('/', 1)[-1]}"
        return instance

    def _boot(self, instance: dict[str, Any]) -> None:
        """The VM runs: its address is adopted by a namespace host that accepts the `ssh-keys` key."""
        if not any(i is instance for i in self.instances.values()):
            return  # deleted while it was provisioning
        instance.update(status="RUNNING", lastStartTimestamp=now())
        key = next((str(i["value"]).partition(":")[2] for i in (instance.get("metadata") or {}).get("items") or [] if i.get("key") == "ssh-keys"), None)
        if self.adopter is not None:
            ip = instance["networkInterfaces"][0]["networkIP"]
            self.adopter.adopt(ip, key)
            self._adopted.add(ip)

    def _release(self, instance: dict[str, Any]) -> None:
        ip = instance["networkInterfaces"][0]["networkIP"]
        if self.adopter is not None and ip in self._adopted:
            self._adopted.discard(ip)
            self.adopter.release(ip)

    def _get(self, zone: str, name: str, **_: Any) -> tuple[int, Any]:
        """instances.get (https://cloud.google.com/compute/docs/reference/rest/v1/instances/get)."""
        return 200, self.instances[(zone, name)] if (zone, name) in self.instances else self._missing(zone, name)

    def _missing(self, zone: str, name: str) -> Any:
        raise KeyError(f"projects/{self.project}/zones/{zone}/instances/{name}")

    def _list(self, zone: str, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """instances.list (https://cloud.google.com/compute/docs/reference/rest/v1/instances/list)."""
        items = [i for (z, _n), i in self.instances.items() if z == zone]
        return 200, {"kind": "compute#instanceList", "items": _filtered(items, query.get("filter"))}

    def _aggregated(self, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """instances.aggregatedList (https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList):
        `items` keyed by `zones/<zone>`, each holding `instances` (or a `warning` when it has none)."""
        items: dict[str, Any] = {}
        for (zone, _n), instance in self.instances.items():
            if _filtered([instance], query.get("filter")):
                items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(instance)
        return 200, {"kind": "compute#instanceAggregatedList", "id": f"projects/{self.project}/aggregated/instances", "items": items}

    def _delete(self, zone: str, name: str, *, rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """instances.delete (https://cloud.google.com/compute/docs/reference/rest/v1/instances/delete)."""
        if (zone, name) not in self.instances:
            self._missing(zone, name)
        self.instances[(zone, name)]["status"] = "STOPPING"
        return 200, self._then(self._operation("delete", zone, name, rule=rule), lambda: self._release(self.instances.pop((zone, name))))

    def _stop(self, zone: str, name: str, *, rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """instances.stop (https://cloud.google.com/compute/docs/reference/rest/v1/instances/stop): a stopped VM's status is TERMINATED."""
        return self._power(zone, name, "stop", rule, {"status": "TERMINATED", "lastStopTimestamp": ""})

    def _start(self, zone: str, name: str, *, rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """instances.start (https://cloud.google.com/compute/docs/reference/rest/v1/instances/start)."""
        return self._power(zone, name, "start", rule, {"status": "RUNNING", "lastStartTimestamp": ""})

    def _power(self, zone: str, name: str, verb: str, rule: Rule | None, fields: dict[str, str]) -> tuple[int, Any]:
        """Stop or start: once DONE the instance gets `fields` (timestamps now) and its host pauses or resumes."""
        instance = self.instances[(zone, name)] if (zone, name) in self.instances else self._missing(zone, name)

        def done() -> None:
            instance.update({key: value or now() for key, value in fields.items()})
            if self.adopter is not None:
                ip = instance["networkInterfaces"][0]["networkIP"]
                self.adopter.pause(ip) if verb == "stop" else self.adopter.resume(ip)

        return 200, self._then(self._operation(verb, zone, name, rule=rule), done)

    # --- firewalls ----------------------------------------------------------------------------------

    def _firewall_insert(self, *, body: dict[str, Any], rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """firewalls.insert (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/insert): a global Operation."""
        name = body["name"]
        if name in self.firewalls:
            return 409, self._error(409, what=f"projects/{self.project}/global/firewalls/{name}")
        record = dict(body, id=str(next(self._ids)), kind="compute#firewall", creationTimestamp=now())
        return 200, self._then(self._operation("insert", None, name, rule=rule), lambda: self.firewalls.__setitem__(name, record))

    def _firewall_get(self, name: str, **_: Any) -> tuple[int, Any]:
        """firewalls.get (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/get)."""
        if name not in self.firewalls:
            raise KeyError(f"projects/{self.project}/global/firewalls/{name}")
        return 200, self.firewalls[name]

    def _firewall_list(self, *, query: dict[str, str], **_: Any) -> tuple[int, Any]:
        """firewalls.list (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/list)."""
        return 200, {"kind": "compute#firewallList", "items": _filtered(list(self.firewalls.values()), query.get("filter"))}

    def _firewall_patch(self, name: str, *, body: dict[str, Any], rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """firewalls.patch (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/patch)."""
        record = self._firewall_get(name)[1]
        return 200, self._then(self._operation("patch", None, name, rule=rule), lambda: record.update(body))

    def _firewall_delete(self, name: str, *, rule: Rule | None, **_: Any) -> tuple[int, Any]:
        """firewalls.delete (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/delete)."""
        self._firewall_get(name)
        return 200, self._then(self._operation("delete", None, name, rule=rule), lambda: self.firewalls.pop(name, None))


def _field(item: dict[str, Any], dotted: str) -> Any:
    value: Any = item
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _filtered(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    if not expression:
        return items
    regex = _REGEX.match(expression)
    if regex:
        return [i for i in items if re.fullmatch(regex.group(2), str(_field(i, regex.group(1)) or ""))]
    wanted = _EXPRESSION.findall(expression)
    if not wanted:
        raise ValueError(f"filter form this replay does not know: {expression!r}")
    return [i for i in items if all(str(_field(i, f)) == v for f, v in wanted)]


def service_account(path: Path, project: str, token_uri: str) -> bytes:
    """Write a service-account key file (the JSON the Cloud console downloads,
    https://cloud.google.com/iam/docs/keys-create-delete) holding a throwaway RSA key; returns its public half (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = {
        "type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20), "private_key": private,
        "client_email": f"skyhop-test@{project}.iam.gserviceaccount.com", "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
    }
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return public
