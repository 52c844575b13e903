"""The head's own stop/delete call for autostop on a cloud VM (skyhop_agent/cloudstop.py).

The SigV4 signature is checked against botocore's signer for the same request
and moment (an independent implementation of the same spec); the EC2 calls
run against moto_server, which stops and terminates a real emulated
instance; the plain-HTTP kind against a local server that records what came.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import threading

import pytest
from cloudsim.aws import CREDENTIALS, MOTO_IMAGE, client

from skyhop_agent import cloudstop


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLE"])
def test_the_signature_is_the_one_botocore_computes(token):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    moment = datetime.datetime(2026, 11, 29, 12, 34, 56, tzinfo=datetime.timezone.utc)
    url = "https://ec2.eu-west-3.amazonaws.com/"
    body = b"Action=StopInstances&Version=2016-11-15&InstanceId.1=i-0abc&InstanceId.2=i-0def"
    ours = cloudstop.sigv4_headers(
        method="POST", url=url, body=body, region="eu-west-3", service="ec2",
        access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token=token, now=moment,
    )
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": ours["content-type"]})
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "ec2", "eu-west-3")
    request.context["timestamp"] = moment.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert ours["authorization"].endswith(f"Signature={expected}")
    assert ours["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/eu-west-3/ec2/aws4_request, SignedHeaders=")


def _private_file(tmp_path, content: dict) -> str:
    path = tmp_path / "cloudstop.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out)
    return str(path)


def test_stop_then_down_against_moto(aws_cloud, moto_server, tmp_path):
    ec2 = client("ec2", "us-east-1", moto_server.url)
    subnet = next(iter(aws_cloud.subnets["us-east-1"].values())).subnet_id
    instance = ec2.run_instances(ImageId=MOTO_IMAGE, InstanceType="m6i.large", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    credentials = {"access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    call = {"kind": "aws", "endpoint": moto_server.url, "region": "us-east-1", "instance_ids": [instance], "credentials": credentials}
    path = _private_file(tmp_path, {"stop": dict(call, action="StopInstances"), "down": dict(call, action="TerminateInstances")})

    def state() -> str:
        return ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]

    assert cloudstop.main([path, "stop"]) == 0
    assert state() == "stopped"
    assert cloudstop.main([path, "down"]) == 0
    assert state() == "terminated"


def test_a_refusal_is_reported_not_raised(aws_cloud, moto_server, tmp_path, capsys):
    call = {"kind": "aws", "endpoint": moto_server.url, "region": "us-east-1", "instance_ids": ["i-00000000000000000"],
            "credentials": {"access_key_id": "AKIATEST", "secret_access_key": "x"}, "action": "StopInstances"}
    assert cloudstop.main([_private_file(tmp_path, {"stop": call}), "stop"]) == 1
    assert "EC2 StopInstances answered 400" in capsys.readouterr().err


def test_a_file_others_can_read_is_refused(tmp_path, capsys):
    path = _private_file(tmp_path, {"stop": {"kind": "http", "requests": []}})
    os.chmod(path, 0o644)
    assert cloudstop.main([path, "stop"]) == 1
    assert "mode 0600" in capsys.readouterr().err


def test_plain_http_calls_carry_their_headers(tmp_path):
    seen: list[tuple[str, str, str | None, bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.command, self.path, self.headers.get("Authorization"), body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/instance-operations/terminate"
        call = {"kind": "http", "requests": [{"method": "POST", "url": url, "headers": {"Authorization": "Bearer secret-key"}, "body": {"instance_ids": ["abc"]}}]}
        assert cloudstop.main([_private_file(tmp_path, {"down": call}), "down"]) == 0
    finally:
        server.shutdown()
    assert seen == [("POST", "/api/v1/instance-operations/terminate", "Bearer secret-key", b'{"instance_ids": ["abc"]}')]


def test_usage_errors_exit_2(capsys):
    assert cloudstop.main(["only-one"]) == 2 and "usage" in capsys.readouterr().err


def test_a_gce_vm_signs_with_its_own_service_account_token(tmp_path):
    """GCP: the token comes from the metadata server (asked with Metadata-Flavor: Google), and a
    delete of an instance that is already gone (404) counts as done."""
    seen: list[tuple[str, str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            if self.headers.get("Metadata-Flavor") != "Google":
                return self._answer(403, b"")
            self._answer(200, json.dumps({"access_token": "ya29.vm-token", "expires_in": 3599, "token_type": "Bearer"}).encode())

        def do_DELETE(self):  # noqa: N802
            seen.append(("DELETE", self.path, self.headers.get("Authorization")))
            self._answer(404 if self.path.endswith("/gone") else 200, b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        call = {"kind": "http", "bearer_from_metadata": f"{base}/token",
                "requests": [{"method": "DELETE", "url": f"{base}/zones/z/instances/{n}", "ok_statuses": [404]} for n in ("head", "gone")]}
        assert cloudstop.main([_private_file(tmp_path, {"down": call}), "down"]) == 0
    finally:
        server.shutdown()
    assert seen == [("DELETE", "/zones/z/instances/head", "Bearer ya29.vm-token"), ("DELETE", "/zones/z/instances/gone", "Bearer ya29.vm-token")]
