"""Task files that parse (SkyPilot accepts them) but use features skyhop does
not run yet are refused at launch, before any machine exists, naming the field."""

from __future__ import annotations

CASES = {
    "pool": ("pool:\n  workers: 2\nrun: echo hi\n", "pool: a pool file is not launched: create the pool with `skyhop jobs pool apply"),
    "volumes": ("volumes:\n  /mnt/data:\n    name: existing0\n    sub_path: a/b\nrun: echo hi\n", "volumes./mnt/data: mounting volumes is not supported yet"),
    "source-list": (
        "file_mounts:\n  /in:\n    name: bkt\n    source: [./a, ./b]\n    store: s3\nrun: echo hi\n",
        "file_mounts./in.source: uploading a list of local paths into a bucket is not supported yet",
    ),
    "empty-bucket-name": ("envs:\n  B: ''\nfile_mounts:\n  /out:\n    name: $B\n    mode: MOUNT\nrun: echo hi\n", "file_mounts./out: the bucket name is empty"),
}


def test_launch_refuses_what_is_not_supported_yet(sky):
    # One server for every case: each launch is refused before provisioning.
    for case, (text, message) in sorted(CASES.items()):
        path = sky.task(f"{case}.yaml", text)
        assert sky("optimize", path).code == 0, case  # the file itself is valid
        result = sky("launch", "-y", "-c", "unsup", path)
        assert result.code != 0, case
        assert message in result.err, (case, result.err)
    assert sky.clusters() == {}  # refused before any machine was made


def test_provider_features_are_planned_only_where_they_are_honoured(sky):
    # Images and disks depend on the provider (`Capabilities.features`), so planning (not an
    # up-front refusal) answers: optimize, launch --dryrun and launch say the same, naming the provider.
    disk = sky.task("disk.yaml", "resources:\n  infra: local\n  disk_size: 1TB\nrun: echo hi\n")
    message = "choosing the disk size (resources.disk_size or --disk-size) is not supported yet on local"
    for verb in (("optimize", disk), ("launch", "--dryrun", "-c", "unsup", disk), ("launch", "-y", "-c", "unsup", disk)):
        result = sky(*verb)
        assert result.code != 0 and message in result.err and "Traceback" not in result.err, (verb, result.err)
    assert sky.clusters() == {}
    # Ports need no opening on this machine: the cluster lists them as its endpoints.
    sky("launch", "-y", "-c", "web", "--ports", "8080", "echo hi", check=True)
    head = sky.clusters()["web"]["head_ip"]
    assert sky("status", "--endpoints", "web", check=True).out.split() == [f"{head}:8080"]
    assert sky("status", "--endpoint", "8080", "web", check=True).out.strip() == f"{head}:8080"
    closed = sky("status", "--endpoint", "9090", "web")
    assert closed.code != 0 and "has no port 9090 open (its ports: 8080)" in closed.err
    # An existing cluster is not planned again: what its provider does not honour is a mismatch, for launch and exec.
    sky("launch", "-y", "-c", "up", "echo hi", check=True)
    for verb in (("launch", "-y", "-c", "up"), ("exec", "up")):
        result = sky(*verb, "--disk-size", "100", "echo again")
        assert result.code != 0 and "disk_size 100 (choosing the disk size is not supported yet on local)" in result.err, (verb, result.err)
