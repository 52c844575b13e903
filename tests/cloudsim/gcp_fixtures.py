"""GCP against the Compute Engine replay server (cloudsim/gcp_api.py), with credentials google-auth really uses.

`gcp_api`: the replay server with no machines behind it (error mapping, API calls;
no root needed). `gcp_farm`: the same with namespace hosts adopting each
instance's networkIP (end-to-end launches; root only, as `cloud_farm`). Both
write a service-account key whose `token_uri` is the replay server's, point
`GOOGLE_APPLICATION_CREDENTIALS` at it, and write the `gcp:` section of this
test's config.yaml (the replay server's endpoint, internal IPs, root login as
the namespace hosts have).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cloudsim.gcp_api import GcpApi, service_account

PROJECT = "skyhop-test-project"


def _serve(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopter) -> Iterator[GcpApi]:
    key_file = tmp_path / "gcp-service-account.json"
    key_file.write_text("")
    server = GcpApi(PROJECT, b"", adopter)
    server.public_key_pem = service_account(key_file, PROJECT, server.token_uri)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    skyhop_home = home / ".skyhop"
    skyhop_home.mkdir(mode=0o700, exist_ok=True)
    settings = {"compute_endpoint": server.compute_endpoint, "use_internal_ips": True, "ssh_user": "root"}
    (skyhop_home / "config.yaml").write_text(yaml.safe_dump({"gcp": settings}))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcp_api(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcpApi]:
    yield from _serve(isolated_home, tmp_path, monkeypatch, None)


@pytest.fixture
def gcp_farm(isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud_farm) -> Iterator[GcpApi]:
    yield from _serve(isolated_home, tmp_path, monkeypatch, cloud_farm)
