"""The AWS wire format, as far as the test servers need it: which call a request is, and an error answer
in the shape the service documents, so that real botocore parses it.

- EC2 speaks the EC2 query protocol: a form body `Action=RunInstances&...`, errors as
  `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html;
  moto answers the same shape).
- STS speaks the plain query protocol: errors as `<ErrorResponse><Error><Type/><Code/><Message/></Error>
  <RequestId/></ErrorResponse>` (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
- SSM speaks JSON 1.1: `X-Amz-Target: AmazonSSM.GetParameter`, errors as `{"__type": CODE, "message": ...}`
  (https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html).

The service and region come from the SigV4 credential scope
(`Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

# EC2's own wording for a capacity error (as EC2 returns it to RunInstances; quoted in AWS SDK test fixtures).
CAPACITY_MESSAGE = (
    "We currently do not have sufficient {type} capacity in the Availability Zone you requested ({zone}). "
    "Our system will be working on provisioning additional capacity. You can currently get {type} capacity "
    "by not specifying an Availability Zone in your request or choosing {others}."
)


@dataclass(frozen=True)
class Call:
    """One API request, as the servers see it."""

    service: str  # ec2, sts, ssm, ... ("" when unsigned)
    region: str
    action: str
    params: Mapping[str, str] = field(default_factory=dict)  # query params (first value each) or the JSON body's top level


def parse_call(headers: Mapping[str, str], body: bytes) -> Call:
    service, region = "", ""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    if "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 5:
            region, service = scope[2], scope[3]
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    if target:
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {}
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in document.items()} if isinstance(document, dict) else {}
        return Call(service, region, target.rsplit(".", 1)[-1], params)
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return Call(service, region, params.get("Action", ""), params)


def error_response(service: str, code: str, message: str, status: int) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of an AWS error answer in `service`'s documented shape."""
    request_id = str(uuid.uuid4())
    if service == "ssm":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, body
    if service == "ec2":
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(code)}</Code>'
               f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
    else:
        kind = "Sender" if status < 500 else "Receiver"
        xml = (f'<ErrorResponse xmlns="https://{service or "sts"}.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type>'
               f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    return status, {"Content-Type": "text/xml;charset=UTF-8", "x-amzn-RequestId": request_id}, xml.encode()
