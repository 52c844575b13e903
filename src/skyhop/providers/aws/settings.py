"""The `aws:` section of config.yaml, read once per call and checked, so a typo is one clear message.

Key names follow SkyPilot's `aws.*` config where it has one (`vpc_name`,
`use_internal_ips`); the others are skyhop's (`image_ssm_parameter`,
`use_placement_group`, `ssh_user`, `api_timeout_s`; `remote_identity` is
SkyPilot's name, with its values LOCAL_CREDENTIALS and NO_UPLOAD). The endpoint is not a key
here: botocore honours `AWS_ENDPOINT_URL` itself (the tests point it at moto).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from skyhop.errors import ConfigError
from skyhop.providers.aws.selfstop import IDENTITIES, LOCAL_CREDENTIALS

# Public SSM parameters AWS and Canonical keep pointing at the newest image of each line
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-systems-manager-parameter-to-find-AMI.html).
GPU_IMAGE_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id"
CPU_IMAGE_PARAMETER = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"


@dataclass(frozen=True)
class AwsSettings:
    vpc_name: str | None = None  # None: the region's default VPC
    use_internal_ips: bool = False  # SSH to the private address (skyhop runs inside the VPC)
    image_ssm_parameter: str | None = None  # None: the GPU or CPU default above
    use_placement_group: bool = False  # a cluster placement group for multi-node clusters
    ssh_user: str = "ubuntu"  # the login of the image (Ubuntu images: ubuntu)
    api_timeout_s: float = 60.0  # how long one EC2 call may take before the region counts as not answering
    remote_identity: str = LOCAL_CREDENTIALS  # what signs the head's own stop/terminate (providers/aws/selfstop.py)


_TYPES: dict[str, tuple[type, ...]] = {
    "vpc_name": (str,), "use_internal_ips": (bool,), "image_ssm_parameter": (str,), "use_placement_group": (bool,),
    "ssh_user": (str,), "api_timeout_s": (int, float), "remote_identity": (str,),
}


def parse(section: Any) -> AwsSettings:
    if section is None:
        return AwsSettings()
    if not isinstance(section, Mapping):
        raise ConfigError("config.yaml: aws: expected a mapping of settings.")
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in _TYPES:
            raise ConfigError(f"config.yaml: aws.{key}: unknown setting (known: {', '.join(sorted(_TYPES))}).")
        wanted = _TYPES[key]
        if not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool)):
            raise ConfigError(f"config.yaml: aws.{key}: expected {' or '.join(t.__name__ for t in wanted)}, got {value!r}.")
        values[key] = value
    if values.get("remote_identity", LOCAL_CREDENTIALS) not in IDENTITIES:
        raise ConfigError(f"config.yaml: aws.remote_identity: expected {' or '.join(IDENTITIES)}, got {values['remote_identity']!r}.")
    user = values.get("ssh_user")
    if user is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", user):
        raise ConfigError(f"config.yaml: aws.ssh_user: expected a login name, got {user!r}.")
    if "api_timeout_s" in values and values["api_timeout_s"] <= 0:
        raise ConfigError("config.yaml: aws.api_timeout_s: expected a positive number of seconds.")
    return AwsSettings(**values)


def load() -> AwsSettings:
    from skyhop.config import load_config

    return parse(load_config().get("aws"))
