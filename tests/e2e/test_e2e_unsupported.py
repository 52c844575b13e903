"""Task files that parse (SkyPilot accepts them) but use features skyhop does
not run yet are refused at launch, before any machine exists, naming the field."""

from __future__ import annotations

CASES = {
    "pool": ("pool:\n  workers: 2\nrun: echo hi\n", "pool: worker pools"),
    "volumes": ("volumes:\n  /mnt/data:\n    name: existing0\n    sub_path: a/b\nrun: echo hi\n", "volumes./mnt/data: mounting volumes is not supported yet"),
    "source-list": (
        "file_mounts:\n  /in:\n    name: bkt\n    source: [./a, ./b]\n    store: s3\nrun: echo hi\n",
        "file_mounts./in.source: uploading a list of local paths into a bucket is not supported yet",
    ),
    "empty-bucket-name": ("envs:\n  B: ''\nfile_mounts:\n  /out:\n    name: $B\n    mode: MOUNT\nrun: echo hi\n", "file_mounts./out: the bucket name is empty"),
    "ports": ("resources:\n  ports: 8080\nrun: echo hi\n", "(resources.ports or --ports) is not supported yet on local, ssh"),
    "disk-size-unit": ("resources:\n  infra: local\n  disk_size: 1TB\nrun: echo hi\n", "(resources.disk_size or --disk-size) is not supported yet on local"),
    "api-server-access": ("api_server_access: true\nrun: echo hi\n", "api_server_access: giving jobs access"),
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
