"""What an AWS head needs to stop or terminate its own cluster when autostop fires (skyhop_agent/cloudstop.py).

The calls are EC2's StopInstances and TerminateInstances on the cluster's
instances, signed on the head with SigV4. Which credentials sign them is
explicit (`aws.remote_identity`, SkyPilot's name): `LOCAL_CREDENTIALS` (the
default) writes the credentials this launch used into the 0600 self-stop file
on the head; `NO_UPLOAD` writes none, and the head signs with its instance
profile from IMDSv2, which must allow ec2:StopInstances/TerminateInstances
on its own instances. The endpoint is the one skyhop itself used
(`AWS_ENDPOINT_URL`) or the region's public one. What terminating leaves (the
cluster's security group and key pair) is removed at the next `status
--refresh`, which finds the instances gone and removes the rest.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

LOCAL_CREDENTIALS = "LOCAL_CREDENTIALS"
NO_UPLOAD = "NO_UPLOAD"
IDENTITIES = (LOCAL_CREDENTIALS, NO_UPLOAD)


def endpoint(region: str) -> str:
    return os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL") or f"https://ec2.{region}.amazonaws.com"


def calls(region: str, instance_ids: Sequence[str], *, spot: bool, credentials: dict[str, str] | str) -> dict[str, Any]:
    """The cloudstop calls per autostop action; one-time spot instances cannot stop, so spot clusters only go down."""
    base = {"kind": "aws", "endpoint": endpoint(region), "region": region, "instance_ids": list(instance_ids), "credentials": credentials}
    out: dict[str, Any] = {"down": dict(base, action="TerminateInstances")}
    if not spot:
        out["stop"] = dict(base, action="StopInstances")
    return out


def actions(spot: bool) -> tuple[str, ...]:
    return ("down",) if spot else ("stop", "down")
