"""Which AMI the instances boot: the task's `image_id`, or the newest one a public SSM parameter names.

The default parameter is AWS's Deep Learning Base AMI (NVIDIA driver) for
GPU offers and Canonical's Ubuntu 22.04 otherwise; `aws.image_ssm_parameter`
replaces both (an organisation's golden image, or the tests' parameter moto
serves). Either way DescribeImages checks the id before any instance is
asked for, so a wrong image is one clear sentence, and its root device name is
what the disk size and tier apply to.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyhop.providers.aws.ec2 import Ec2
from skyhop.providers.aws.settings import CPU_IMAGE_PARAMETER, GPU_IMAGE_PARAMETER, AwsSettings
from skyhop.providers.errors import REGION, NotSupportedError, ProviderError


@dataclass(frozen=True)
class Image:
    image_id: str
    root_device: str | None


def resolve(api: Ec2, image_id: str | None, gpu: bool, settings: AwsSettings) -> Image:
    if image_id and image_id.startswith("docker:"):
        raise NotSupportedError(f"Container images ({image_id}) are not supported on AWS by skyhop yet; give an AMI id as image_id.")
    if not image_id:
        parameter = settings.image_ssm_parameter or (GPU_IMAGE_PARAMETER if gpu else CPU_IMAGE_PARAMETER)
        image_id = api.parameter(parameter)
        if not image_id:
            raise ProviderError(
                f"The SSM parameter {parameter} does not exist in {api.region}, so skyhop has no default image there. "
                "Set image_id in the task, or aws.image_ssm_parameter in config.yaml.", scope=REGION,
            )
    found = api.call("DescribeImages", ImageIds=[image_id]).get("Images", [])
    if not found:
        raise ProviderError(f"The image {image_id} does not exist in {api.region} or is not visible to this account. Set image_id to an AMI of that region.")
    return Image(image_id, found[0].get("RootDeviceName"))
