"""A region's EC2 clients are made once per process and remade as soon as what boto3 reads changes (making them
costs about half a CPU second, and the server asked for them on every poll of every cluster)."""

from __future__ import annotations

import os

from skyhop.providers.aws.ec2 import shared


def test_clients_are_shared_until_a_variable_or_the_credentials_file_changes(tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIAONE\naws_secret_access_key = one\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))  # absent: its absence is part of the key
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)

    first = shared("us-east-1")
    assert shared("us-east-1") is first
    assert shared("us-west-2") is not first and shared("us-east-1", 5.0) is not first
    # Every region's clients come from the one session (each service model parsed once per process).
    assert shared("us-west-2")._session is first._session and shared("us-west-2")._retrying.meta.region_name == "us-west-2"

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    pointed = shared("us-east-1")
    assert pointed is not first and pointed._retrying.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert shared("us-east-1") is first  # back to what made it

    credentials.write_text("[default]\naws_access_key_id = AKIATWO\naws_secret_access_key = two\n")
    os.utime(credentials, ns=(1, 1))  # a new mtime even within the file system's clock tick
    rotated = shared("us-east-1")
    assert rotated is not first and rotated.credentials()["access_key_id"] == "AKIATWO"
    assert rotated._session is not first._session and shared("us-west-2")._session is rotated._session

    (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
    assert shared("us-east-1") is not rotated


def test_a_credential_process_without_expiration_is_asked_again_once_the_clients_are_old(tmp_path, monkeypatch):
    """boto3 treats what a `credential_process` answers without an Expiration as static, never asking it again:
    with one client set for the server's life, a process that hands out rotating keys had its first answer used
    until a restart (each poll used to make new clients, so it was asked every time)."""
    from skyhop.providers.aws import ec2

    counter = tmp_path / "n"
    script = tmp_path / "creds.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}\n"
        'printf \'{"Version": 1, "AccessKeyId": "AKIAPROCESS%d", "SecretAccessKey": "secret%d"}\\n\' $n $n\n'
    )
    script.chmod(0o700)
    config = tmp_path / "config"
    config.write_text(f"[default]\ncredential_process = {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))  # absent
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)

    first = shared("eu-west-1")
    assert first.credentials()["access_key_id"] == "AKIAPROCESS1"
    assert shared("eu-west-1") is first  # young clients are shared
    monkeypatch.setattr(ec2, "_CLIENTS_TTL_S", 0.0)  # from here on every set of clients is past its age
    again = shared("eu-west-1")
    assert again is not first and again.credentials()["access_key_id"] == "AKIAPROCESS2"


def test_sessions_share_one_loader_of_service_models_unless_a_data_path_is_set(tmp_path, monkeypatch):
    """Each boto3 session parsed EC2's service model again (0.4 CPU s): sessions now read it through one
    loader, whose search path does not grow with every session boto3 makes; a custom data path keeps its own."""
    from skyhop.providers.aws.ec2 import Ec2

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    first, second = Ec2("us-east-1")._session._loader, Ec2("us-west-2")._session._loader
    paths = list(first.search_paths)
    assert second is first and Ec2("us-east-2")._session._loader.search_paths == paths

    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "models"))
    own = Ec2("us-east-1")._session._loader
    assert own is not first and str(tmp_path / "models") in own.search_paths
