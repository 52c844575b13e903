"""Helpers of the AWS provider tests: the server's AWS settings for emulated AWS, and what is left on moto."""

from __future__ import annotations

from pathlib import Path

from cloudsim.aws import AL2023, VPC_NAME, client

from skyhop.providers import _owned


def configure_aws(home: Path, **extra: object) -> None:
    """The server's config.yaml for emulated AWS: the test VPC, moto's image, SSH as root to private addresses
    (`extra` adds or changes settings; None leaves one out)."""
    import yaml

    settings = {"vpc_name": VPC_NAME, "image_ssm_parameter": AL2023, "use_internal_ips": True, "ssh_user": "root", **extra}
    path = home / ".skyhop" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"aws": {k: v for k, v in settings.items() if v is not None}}))


def cli_on_aws(home: Path, catalog: Path, tmp_path: Path, migrated_state_db: Path):
    """The real CLI for a test on emulated AWS (e2e_support.Sky): its home, the catalog with the AWS rows,
    a state database already migrated. The caller runs `teardown()` when the test ends."""
    from e2e_support import Sky

    work = tmp_path / "work"
    work.mkdir()
    runner = Sky(home, work)
    runner.env["SKYHOP_CATALOG_DIR"] = str(catalog)
    runner.seed_state(migrated_state_db)
    return runner


def aws_leftovers(moto_url: str, cluster: str, region: str = "us-east-1") -> dict[str, list[str]]:
    """What moto holds with the cluster's tag that still costs or clutters: live instances, groups, key pairs."""
    ec2 = client("ec2", region, moto_url)
    tag = [{"Name": f"tag:{_owned.CLUSTER}", "Values": [cluster]}]
    live = [i["InstanceId"] for r in ec2.describe_instances(Filters=tag)["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    groups = [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
    keys = [k["KeyName"] for k in ec2.describe_key_pairs(Filters=tag)["KeyPairs"]]
    return {k: v for k, v in {"instances": live, "security groups": groups, "key pairs": keys}.items() if v}


def aws_instances(moto_url: str, cluster: str, region: str = "us-east-1") -> list[dict]:
    """The cluster's instances that are not terminated, by launch index."""
    ec2 = client("ec2", region, moto_url)
    tag = [{"Name": f"tag:{_owned.CLUSTER}", "Values": [cluster]}]
    found = [i for r in ec2.describe_instances(Filters=tag)["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    return sorted(found, key=lambda i: i["AmiLaunchIndex"])
