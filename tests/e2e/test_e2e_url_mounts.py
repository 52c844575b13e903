"""file_mounts with URL sources: fetched by the node itself over real HTTP."""

from __future__ import annotations

import pytest
from e2e_support import serve_directory

from skyhop.errors import SkyhopError
from skyhop.execution.url_mounts import check_url_mount, shown


@pytest.fixture
def http_files(tmp_path):
    """A real HTTP server on this machine serving `served/`; yields (base URL, directory)."""
    served = tmp_path / "served"
    served.mkdir()
    with serve_directory(served) as url:
        yield url, served


def test_http_source_is_fetched_on_every_node(sky, http_files):
    url, served = http_files
    (served / "weights.bin").write_bytes(b"w" * 1000)
    task = sky.task("t.yaml", f"""
num_nodes: 2
resources: {{cpus: 0.5}}
file_mounts:
  ~/models/weights.bin: {url}/weights.bin
run: wc -c < models/weights.bin  # local nodes: ~/ is the node directory, where jobs start
""")
    out = sky("launch", "-y", "-c", "fetch", task, check=True).out
    assert out.count("1000") == 2


def test_a_failed_fetch_names_the_mount_and_hides_credentials(sky, http_files):
    url, _ = http_files
    secret_url = url.replace("http://", "http://alice:s3cret@") + "/missing.bin?token=abc"
    result = sky("launch", "-y", "-c", "nofetch", "--env", "X=1", sky.task("t.yaml", f"file_mounts:\n  ~/m.bin: {secret_url}\nrun: echo never\n"))
    assert result.code != 0
    assert "file_mounts.~/m.bin: fetching" in result.err and "missing.bin" in result.err
    assert "s3cret" not in result.err + result.out and "token=abc" not in result.err + result.out
    assert sky.clusters() == {}  # the new cluster was removed


def test_unsupported_url_sources_fail_before_anything_is_created(sky):
    for source, expected in (("r2://bucket/x", "r2:// sources are not supported yet"), ("{source: s3://b/x, mode: MOUNT}", "mode MOUNT")):
        result = sky("launch", "-y", "-c", "never", sky.task("t.yaml", f"file_mounts:\n  /data: {source}\nrun: echo\n"))
        assert result.code != 0 and expected in result.err, result.err
    assert sky.clusters() == {}


def test_shown_urls_drop_credentials_and_queries():
    assert shown("https://u:p@host:8443/a/b.bin?sig=x#f") == "https://host:8443/a/b.bin"
    assert shown("s3://bucket/dir/") == "s3://bucket/dir/"
    with pytest.raises(SkyhopError, match="supported: gs://, http://, https://, s3://"):
        check_url_mount("file_mounts./d", "az://c/x", None)
