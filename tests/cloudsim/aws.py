"""moto_server on loopback, and the test network it describes.

One moto_server per pytest worker (it takes seconds to start on a loaded
machine); each test starts from `reset` (moto's `POST /moto-api/reset`, which
forgets every resource) and `seed`, which creates, in each test region, a VPC
named `skyhop-test` whose CIDR is a namespace farm's /24 and one /27 subnet per
availability zone from .32 up. moto hands out private IPs inside the subnet
given to RunInstances (from offset 4), so an instance's IP is an address a
farm host can adopt (tests/netns_hosts.py: hosts keep to .2-.31).

The code under test finds moto through `AWS_ENDPOINT_URL`, which botocore
honours since 1.31 (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
and takes any key pair: moto checks no signatures unless told to.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

REGIONS = ("us-east-1", "us-east-2", "us-west-2")
VPC_NAME = "skyhop-test"
SUBNET_SIZE = 32  # /27
FIRST_SUBNET = 32  # above the farm's hosts (.2-.31)
# An Amazon Linux 2023 image moto knows (DescribeImages finds it; the public SSM parameter
# /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 resolves to it).
MOTO_IMAGE = "ami-0d27e0fb3bac4d724"
# The public SSM parameter the tests' clusters take their image from (aws.image_ssm_parameter): the Amazon
# Linux one moto serves (its Canonical and DLAMI parameters do not exist there).
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIATESTSKYHOP000000", "AWS_SECRET_ACCESS_KEY": "skyhop-test-secret"}


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    cidr: str
    zone: str  # the name, e.g. us-east-1a
    zone_id: str  # the account-independent id the AWS catalog uses, e.g. use1-az6


@dataclass(frozen=True)
class AwsNetwork:
    """What `seed` created: per region the VPC and its subnets, by zone name."""

    prefix: str  # the farm's first three octets, e.g. 10.213.57
    vpcs: Mapping[str, str]  # region -> vpc id
    subnets: Mapping[str, Mapping[str, Subnet]]  # region -> zone name -> subnet

    def zone_of_subnet(self) -> dict[str, str]:
        return {s.subnet_id: s.zone for zones in self.subnets.values() for s in zones.values()}


def moto_available() -> str | None:
    """Why moto_server cannot run here, or None."""
    try:
        import boto3  # noqa: F401
        import flask  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as error:
        return f"moto_server needs the test extra (pip install -e '.[test]'): {error}"
    return None


def _test_images() -> list[dict]:
    """moto's own records of MOTO_IMAGE and of the images AL2023 names in the test regions ([] when this
    moto lays its data out otherwise: then it loads all of its images, as by default)."""
    import gzip

    import moto

    data = Path(moto.__file__).parent
    wanted = {MOTO_IMAGE}
    records: dict[str, dict] = {}
    try:
        for region in REGIONS:
            with gzip.open(data / "ssm" / "resources" / "ami-amazon-linux-latest" / f"{region}.json.gz") as f:
                wanted |= {p["Value"] for p in json.load(f) if p["Name"] == AL2023}
        for region in REGIONS:
            with gzip.open(data / "ec2" / "resources" / "latest_amis" / f"{region}.json.gz") as f:
                records.update({image["ami_id"]: image for image in json.load(f) if image["ami_id"] in wanted})
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return list(records.values()) if set(records) == wanted else []


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto_server process on `host` (127.0.0.1 unless a namespace must reach it)."""

    def __init__(self, log: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = _free_port(host)
        self.log = log
        script = shutil.which("moto_server", path=str(Path(sys.executable).parent))
        argv = [script] if script else [sys.executable, "-m", "moto.server"]
        env = dict(os.environ)
        images = _test_images()
        if images:
            # moto loads its ~100 bundled images into every region's backend after each reset, two thirds of
            # what a reset and seed cost it (1.4 CPU s per test); MOTO_AMIS_PATH, moto's documented override,
            # makes that the few images the tests use.
            env["MOTO_AMIS_PATH"] = str(log.with_name("moto_amis.json"))
            Path(env["MOTO_AMIS_PATH"]).write_text(json.dumps(images))
        with log.open("ab") as out:
            self.process = subprocess.Popen([*argv, "-H", host, "-p", str(self.port)], stdout=out, stderr=subprocess.STDOUT, env=env)
        self._wait_until_up()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}; see {self.log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not listen on {self.url} within {timeout} s; see {self.log}")

    def reset(self) -> None:
        """Forget every resource (moto's documented reset endpoint)."""
        request = urllib.request.Request(self.url + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def client(service: str, region: str, endpoint: str):
    """A boto3 client of the test's own (not the code under test's), straight to `endpoint`."""
    import boto3

    return boto3.client(
        service, region_name=region, endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def seed(endpoint: str, prefix: str, regions: tuple[str, ...] = REGIONS) -> AwsNetwork:
    """Create the `skyhop-test` VPC (CIDR `prefix`.0/24) and a /27 subnet per zone in each region."""
    vpcs: dict[str, str] = {}
    subnets: dict[str, dict[str, Subnet]] = {}
    for region in regions:
        ec2 = client("ec2", region, endpoint)
        vpc_id = ec2.create_vpc(CidrBlock=f"{prefix}.0/24")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": VPC_NAME}])
        vpcs[region] = vpc_id
        zones = sorted(ec2.describe_availability_zones()["AvailabilityZones"], key=lambda z: z["ZoneName"])
        if FIRST_SUBNET + SUBNET_SIZE * len(zones) > 256:
            raise ValueError(f"{region} has {len(zones)} zones: more /27 subnets than fit above .{FIRST_SUBNET}")
        subnets[region] = {}
        for index, zone in enumerate(zones):
            cidr = f"{prefix}.{FIRST_SUBNET + SUBNET_SIZE * index}/27"
            made = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone["ZoneName"])["Subnet"]
            subnets[region][zone["ZoneName"]] = Subnet(made["SubnetId"], cidr, zone["ZoneName"], zone["ZoneId"])
    return AwsNetwork(prefix, vpcs, subnets)


def environment(endpoint: str) -> dict[str, str]:
    """What the code under test needs in its environment to use the emulated AWS, and nothing real:
    the endpoint, a fake key pair, and no profile or config file that could point elsewhere."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


# Variables that would make boto3 use something else than `environment` says (a real profile, a session token).
FOREIGN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
           "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSM", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
           "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
