"""A fault-injecting HTTP proxy in front of moto_server.

moto cannot run out of capacity, hit a quota or time out, so the tests put this
proxy between the code under test and moto (`AWS_ENDPOINT_URL` names the proxy).
It forwards every request unchanged and returns moto's answer unchanged, except
for placement-group calls, which moto lacks (cloudsim/aws_placement.py answers
them), and for calls a `Rule` matches: those get AWS's documented error answer
(cloudsim/aws_wire.py), or are held first (an API that does not answer in
time). It logs every call, so tests can assert the exact sequence of EC2 calls.

A rule matches on the action and, where given, region, zone, instance type and
market. The zone of a RunInstances is `Placement.AvailabilityZone`, or the zone
of its subnet (`SubnetId` or `NetworkInterface.1.SubnetId`; the test network
tells the proxy which subnet is where).

With an `Adopter` (cloudsim/adopter.py) the proxy also stands in for the
machines moto does not make: when RunInstances succeeds it gives each new
instance's private address to a namespace host that accepts the key pair's
public key (seen on the wire in ImportKeyPair's `PublicKeyMaterial`), before
the answer reaches the client; Stop/Start/TerminateInstances pause, resume and
release those hosts.

moto never reclaims a spot instance; `reclaim` does it the way EC2 reports it:
the instance is terminated (in moto, behind the client's back) and from then on
DescribeInstances shows it with the spot StateReason, code
`Server.SpotInstanceTermination`
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html).
"""

from __future__ import annotations

import base64
import http.client
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Mapping
from urllib.parse import urlsplit

from cloudsim import aws_placement
from cloudsim.aws_wire import Call, error_response, parse_call
from cloudsim.http_stub import take

if TYPE_CHECKING:
    from cloudsim.adopter import Adopter

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"})


@dataclass(frozen=True)
class Rule:
    """Answer matching calls with error `code` (HTTP `status`), after holding them `hold_s` seconds.

    With no `code` a held call is then forwarded (a slow API). `times` limits how
    many calls the rule answers (None: all)."""

    action: str
    code: str | None = None
    message: str = ""
    status: int = 400
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    market: str | None = None  # "spot" or "on-demand"
    hold_s: float = 0.0
    times: int | None = None


@dataclass(frozen=True)
class Logged:
    call: Call
    zone: str | None
    status: int
    injected: bool  # answered by a rule, not by moto


class AwsProxy:
    def __init__(self, upstream: str, zone_of_subnet: Mapping[str, str] | None = None, host: str = "127.0.0.1",
                 adopter: "Adopter | None" = None) -> None:
        target = urlsplit(upstream)
        self.adopter = adopter
        self._keys: dict[str, str] = {}  # key pair name -> public key line
        self._addresses: dict[str, str] = {}  # instance id -> private address
        self.placement_groups = aws_placement.PlacementGroups()  # moto has none: answered here
        self._reclaimed: set[str] = set()  # instance ids EC2 "took back"
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.zone_of_subnet = dict(zone_of_subnet or {})
        self._rules: list[Rule] = []
        self._log: list[Logged] = []
        self._lock = threading.Lock()
        self._holding: list[str] = []  # actions a rule has held (in flight: the caller waits for them)
        self._release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                proxy._handle(self)

            do_GET = do_POST
            do_DELETE = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every rule and let held calls go on."""
        with self._lock:
            self._rules.clear()
            self._log.clear()
        self._release.set()
        self._release = threading.Event()

    def holding(self) -> list[str]:
        """The actions of the calls a rule has held so far (a test kills the caller while one is in flight)."""
        with self._lock:
            return list(self._holding)

    def calls(self, action: str | None = None) -> list[Logged]:
        with self._lock:
            return [entry for entry in self._log if action is None or entry.call.action == action]

    def stop(self) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def reclaim(self, instance_id: str, region: str = "us-east-1") -> None:
        """A spot reclaim of one instance: terminated in moto, reported with EC2's spot reason from now on."""
        from cloudsim.aws import client

        with self._lock:
            self._reclaimed.add(instance_id)
            ip = self._addresses.get(instance_id)
        host, port = self.upstream
        client("ec2", region, f"http://{host}:{port}").terminate_instances(InstanceIds=[instance_id])
        if self.adopter is not None and ip:
            self.adopter.release(ip)

    def _zone(self, call: Call) -> str | None:
        zone = call.params.get("Placement.AvailabilityZone")
        subnet = call.params.get("SubnetId") or call.params.get("NetworkInterface.1.SubnetId")
        return zone or (self.zone_of_subnet.get(subnet) if subnet else None)

    def _match(self, call: Call, zone: str | None) -> Rule | None:
        market = "spot" if call.params.get("InstanceMarketOptions.MarketType") == "spot" else "on-demand"
        def matches(rule: Rule) -> bool:
            return (
                rule.action == call.action and rule.region in (None, call.region) and rule.zone in (None, zone)
                and rule.instance_type in (None, call.params.get("InstanceType")) and rule.market in (None, market)
            )

        with self._lock:
            return take(self._rules, matches)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        headers = {name: value for name, value in request.headers.items()}
        call = parse_call(headers, body)
        zone = self._zone(call)
        rule = self._match(call, zone)
        if rule is not None and rule.hold_s:
            with self._lock:
                self._holding.append(call.action)
            self._release.wait(rule.hold_s)
        if rule is not None and rule.code:
            status, answer_headers, answer = error_response(call.service, rule.code, rule.message, rule.status)
        elif call.service == "ec2" and call.action in aws_placement.ACTIONS:
            status, answer_headers, answer = self.placement_groups.answer(call)
        else:
            status, answer_headers, answer = self._forward(request.command, request.path, headers, body)
        injected = rule is not None and bool(rule.code)
        if not injected and status == 200:
            self._observe(call, answer)
            if call.action == "DescribeInstances" and self._reclaimed:
                answer = _with_spot_reason(answer, set(self._reclaimed))
        with self._lock:
            self._log.append(Logged(call, zone, status, injected=injected))
        try:
            request.send_response(status)
            for name, value in answer_headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    request.send_header(name, value)
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            request.wfile.write(answer)
        except OSError:
            pass  # the client gave up (its read timeout): nothing to answer

    def _observe(self, call: Call, answer: bytes) -> None:
        """What a successful call means for the machines behind moto (only with an adopter)."""
        if call.action == "ImportKeyPair":
            material = call.params.get("PublicKeyMaterial", "")
            with self._lock:
                self._keys[call.params.get("KeyName", "")] = base64.b64decode(material).decode().strip()
        if self.adopter is None:
            return
        if call.action == "RunInstances":
            key = self._keys.get(call.params.get("KeyName", ""))
            for instance_id, ip in _launched(answer):
                with self._lock:
                    self._addresses[instance_id] = ip
                self.adopter.adopt(ip, key)
            return
        act = {"StopInstances": self.adopter.pause, "StartInstances": self.adopter.resume, "TerminateInstances": self.adopter.release}.get(call.action)
        if act is not None:
            for name, value in call.params.items():
                if name.startswith("InstanceId.") and value in self._addresses:
                    act(self._addresses[value])

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            connection.request(method, path, body=body, headers={k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP})
            answer = connection.getresponse()
            return answer.status, dict(answer.getheaders()), answer.read()
        finally:
            connection.close()


def _launched(answer: bytes) -> list[tuple[str, str]]:
    """(instance id, private address) of each instance in a RunInstances answer
    (`instancesSet/item/{instanceId,privateIpAddress}`,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html)."""
    root = ET.fromstring(answer)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    out = []
    for item in root.findall("./instancesSet/item"):
        instance_id, ip = item.findtext("instanceId"), item.findtext("privateIpAddress")
        if instance_id and ip:
            out.append((instance_id, ip))
    return out


SPOT_REASON = ("Server.SpotInstanceTermination", "Server.SpotInstanceTermination: Spot instance termination")


def _with_spot_reason(answer: bytes, reclaimed: set[str]) -> bytes:
    """A DescribeInstances answer whose reclaimed instances carry the spot `stateReason` instead of moto's."""
    namespace = answer.split(b'xmlns="', 1)[1].split(b'"', 1)[0].decode() if b'xmlns="' in answer else ""
    ET.register_namespace("", namespace)
    root = ET.fromstring(answer)
    prefix = f"{{{namespace}}}" if namespace else ""
    for item in root.iter(f"{prefix}item"):
        if item.findtext(f"{prefix}instanceId") not in reclaimed:
            continue
        for old in item.findall(f"{prefix}stateReason"):
            item.remove(old)
        reason = ET.SubElement(item, f"{prefix}stateReason")
        ET.SubElement(reason, f"{prefix}code").text = SPOT_REASON[0]
        ET.SubElement(reason, f"{prefix}message").text = SPOT_REASON[1]
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
