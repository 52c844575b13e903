"""Autostop on a cloud VM: the head asks its cloud to stop or delete the cluster's own machines.

When autostop fires there may be no client and no API server around, so the
head does it itself (`autostop_hooks` in cluster.json run
`python3 -m skyhop_agent.cloudstop FILE stop|down`). FILE is written by the
provider at launch, 0600 in the cluster's directory, and says per action
which call to make; the credentials it holds are the explicit, documented
ones (docs/architecture.md, "Self-stop credentials"): the launching
credentials, or `"imds"` for an instance role read from the machine's metadata
service. Standard library only (the agent runs on any Python >= 3.8).

Two kinds of call:
- `aws`: one EC2 Query API action (`StopInstances`, `TerminateInstances`)
  signed with Signature Version 4
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html);
- `http`: a list of plain HTTPS requests with the headers the cloud wants
  (a bearer token: Lambda's terminate, RunPod's podStop, a plugin's API); a
  GraphQL answer with `errors` is a failure even with status 200. With
  `bearer_from_metadata` the token is the VM's own service account's, from
  the GCE metadata server (GCP: nothing secret is written to the VM).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Tuple

EC2_API_VERSION = "2016-11-15"
IMDS = "http://169.254.169.254"
TIMEOUT_S = 30


class StopFailed(Exception):
    """The call could not be made or the cloud refused it; the message says which."""


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_headers(
    *, method: str, url: str, body: bytes, region: str, service: str, access_key: str, secret_key: str,
    session_token: Optional[str] = None, now: Optional[datetime.datetime] = None, content_type: str = "application/x-www-form-urlencoded; charset=utf-8",
) -> Dict[str, str]:
    """The headers that sign one request with AWS Signature Version 4 (Authorization among them)."""
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    parts = urllib.parse.urlsplit(url)
    headers = {"content-type": content_type, "host": parts.netloc, "x-amz-date": amz_date}
    if session_token:
        headers["x-amz-security-token"] = session_token
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in sorted(headers))
    query = "&".join(sorted(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    canonical = "\n".join([method, urllib.parse.quote(parts.path or "/", safe="/-_.~"), query, canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return headers


def _send(method: str, url: str, body: Optional[bytes], headers: Mapping[str, str]) -> Tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            return answer.status, answer.read(1 << 20)
    except urllib.error.HTTPError as error:
        return error.code, error.read(1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise StopFailed(f"{url} could not be reached: {getattr(error, 'reason', error)}") from None


def _imds_credentials() -> Dict[str, str]:
    """The instance role's credentials from IMDSv2 (a token first, then the role's keys)."""
    status, token = _send("PUT", f"{IMDS}/latest/api/token", b"", {"X-aws-ec2-metadata-token-ttl-seconds": "300"})
    if status != 200:
        raise StopFailed(f"the instance metadata service refused a token ({status})")
    auth = {"X-aws-ec2-metadata-token": token.decode()}
    status, role = _send("GET", f"{IMDS}/latest/meta-data/iam/security-credentials/", None, auth)
    if status != 200 or not role.strip():
        raise StopFailed("this instance has no IAM role (aws.remote_identity is an instance profile, but none is attached)")
    status, raw = _send("GET", f"{IMDS}/latest/meta-data/iam/security-credentials/{role.decode().split()[0]}", None, auth)
    if status != 200:
        raise StopFailed(f"the instance role's credentials could not be read ({status})")
    found = json.loads(raw)
    return {"access_key_id": found["AccessKeyId"], "secret_access_key": found["SecretAccessKey"], "session_token": found.get("Token", "")}


def _aws(call: Mapping[str, Any]) -> None:
    credentials = call["credentials"]
    if credentials == "imds":
        credentials = _imds_credentials()
    form: List[Tuple[str, str]] = [("Action", call["action"]), ("Version", EC2_API_VERSION)]
    form += [(f"InstanceId.{i}", instance) for i, instance in enumerate(call["instance_ids"], start=1)]
    body = urllib.parse.urlencode(form).encode()
    url = call["endpoint"].rstrip("/") + "/"
    headers = sigv4_headers(
        method="POST", url=url, body=body, region=call["region"], service="ec2",
        access_key=credentials["access_key_id"], secret_key=credentials["secret_access_key"],
        session_token=credentials.get("session_token") or None,
    )
    status, answer = _send("POST", url, body, headers)
    if status != 200:
        raise StopFailed(f"EC2 {call['action']} answered {status}: {answer[:500].decode(errors='replace')}")


def _metadata_token(url: str) -> str:
    """An access token for the VM's own service account from the GCE metadata server
    (https://cloud.google.com/compute/docs/access/authenticate-workloads#applications)."""
    status, answer = _send("GET", url, None, {"Metadata-Flavor": "Google"})
    if status != 200:
        raise StopFailed(f"the metadata server gave no token ({status}): does the VM have a service account with the compute scope?")
    return str(json.loads(answer)["access_token"])


def _http(call: Mapping[str, Any]) -> None:
    token = _metadata_token(call["bearer_from_metadata"]) if call.get("bearer_from_metadata") else None
    for request in call["requests"]:
        body = request.get("body")
        data = None if body is None else json.dumps(body).encode()
        headers = dict(request.get("headers") or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
        status, answer = _send(request["method"], request["url"], data, headers)
        if not 200 <= status < 300 and status not in request.get("ok_statuses", []):
            raise StopFailed(f"{request['method']} {request['url']} answered {status}: {answer[:500].decode(errors='replace')}")
        errors = _graphql_errors(answer)
        if errors:
            raise StopFailed(f"{request['url']} refused: {errors[:500]}")


def _graphql_errors(answer: bytes) -> str:
    """A GraphQL API answers a refused mutation with 200 and an `errors` list: that is a failure too."""
    try:
        decoded = json.loads(answer or b"null")
    except ValueError:
        return ""
    return json.dumps(decoded["errors"]) if isinstance(decoded, dict) and decoded.get("errors") else ""


def _load(path: str) -> Dict[str, Any]:
    """The provider's file; refused unless it is this user's own and private (it holds credentials)."""
    info = os.stat(path)
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise StopFailed(f"{path} must be owned by this user with mode 0600")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def run(path: str, action: str) -> None:
    call = _load(path).get(action)
    if not isinstance(call, dict):
        raise StopFailed(f"{path} says nothing about '{action}'")
    {"aws": _aws, "http": _http}[call["kind"]](call)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[1] not in ("stop", "down"):
        print("usage: python3 -m skyhop_agent.cloudstop FILE stop|down", file=sys.stderr)
        return 2
    try:
        run(args[0], args[1])
    except (StopFailed, OSError, ValueError, KeyError) as error:
        print(f"cloudstop: {args[1]} failed: {error}", file=sys.stderr)
        return 1
    print(f"cloudstop: {args[1]} asked of the cloud", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
