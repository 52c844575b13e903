"""The API server as a user meets it: start/status/stop, auth, OpenAPI docs, reuse."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _info(sky) -> dict:
    return json.loads((sky.skyhop_home / "api" / "server.json").read_text())


def test_api_start_status_stop_and_reuse(sky):
    started = sky("api", "start", check=True)
    assert "started at http://127.0.0.1:" in started.out
    info = _info(sky)
    assert oct((sky.skyhop_home / "api" / "server.json").stat().st_mode & 0o777) == "0o600"
    assert "already running" in sky("api", "start", check=True).out
    sky("status", check=True)
    assert _info(sky)["pid"] == info["pid"]  # reused, not restarted
    status = sky.json("api", "status")
    assert status["running"] and status["url"] == info["url"]
    assert "API server stopped." in sky("api", "stop", check=True).out
    assert not (sky.skyhop_home / "api" / "server.json").exists()
    assert sky.json("api", "status")["running"] is False


def test_requests_need_the_token_and_docs_are_served(sky):
    sky("api", "start", check=True)
    url = _info(sky)["url"]
    try:
        urllib.request.urlopen(f"{url}/api/v1/clusters", timeout=10)
        raise AssertionError("an unauthenticated request was served")
    except urllib.error.HTTPError as error:
        assert error.code == 401
    request = urllib.request.Request(f"{url}/api/v1/clusters", headers={"Authorization": f"Bearer {_info(sky)['token']}"})
    assert json.loads(urllib.request.urlopen(request, timeout=10).read()) == []
    docs = urllib.request.urlopen(f"{url}/docs", timeout=10).read().decode()
    assert "swagger" in docs.lower()
    schema = json.loads(urllib.request.urlopen(f"{url}/openapi.json", timeout=10).read())
    assert "/api/v1/requests" in schema["paths"]


def test_env_file_and_secrets_stay_out_of_stored_requests(sky, tmp_path):
    env_file = tmp_path / "vars.env"
    env_file.write_text("# comment\nexport GREETING='hello there'\nTOKEN=s3cr3t-value\n")
    task = sky.task("envs.yaml", "envs:\n  GREETING: null\nsecrets:\n  TOKEN: null\nrun: echo \"$GREETING / ${#TOKEN}\"\n")
    result = sky("launch", "-y", "-c", "envs", task, "--env-file", str(env_file), check=True)
    assert "hello there / 12" in result.out
    stored = json.dumps(sky.json("api", "status"))
    assert "s3cr3t-value" not in stored and "<redacted>" in stored
    bad = tmp_path / "bad.env"
    bad.write_text("hunter2-not-a-pair\n")
    result = sky("launch", "-y", task, "--env-file", str(bad))
    assert result.code != 0 and "bad.env:1" in result.err and "hunter2" not in result.err  # the line may be a secret
    result = sky("launch", "-y", task, "--env-file", "/dev/zero")  # read in bounded pieces, refused
    assert result.code != 0 and "larger than" in result.err


def test_relaunch_with_other_resources_is_refused(sky):
    sky("launch", "-y", "-c", "fixed", "echo hi", check=True)
    result = sky("launch", "-y", "-c", "fixed", "--gpus", "H100:1", "echo hi")
    assert result.code != 0
    assert "Cluster 'fixed' is local" in result.err and "H100:1" in result.err and "skyhop down fixed" in result.err


def test_status_refresh_sees_a_cluster_removed_behind_our_back(sky):
    import shutil

    sky("launch", "-y", "-c", "gone", "echo hi", check=True)
    sky("stop", "-y", "gone", check=True)
    shutil.rmtree(sky.skyhop_home / "clusters" / "gone")
    assert "gone" not in [r["name"] for r in sky.json("status", "--refresh")]
    row = next(r for r in sky.json("cost-report") if r["cluster"] == "gone")
    assert row["status"] == "TERMINATED"


def test_relaunch_fits_when_any_alternative_fits(sky):
    """any_of: the cluster serves the task if one alternative fits, even when an earlier one does not."""
    sky("launch", "-y", "-c", "alt", "echo hi", check=True)
    task = sky.task("alt.yaml", "resources:\n  any_of:\n    - accelerators: H100:1\n    - cpus: 1\nrun: echo fits\n")
    result = sky("exec", "alt", task, check=True)
    assert "fits" in result.out


def test_a_server_command_that_wraps_or_forks_the_server_is_used_and_its_own_server_is_found(sky):
    """SKYHOP_API_SERVER_COMMAND replaces `python -m skyhop.server`: a wrapper that execs it (`env ...`), and one
    whose server is another process than the one started (a shell that forks it): the client finds the server of
    its own start by the name it gave that start, not by the pid it started."""
    python = sys.executable
    sky.env["SKYHOP_API_SERVER_COMMAND"] = f"env SKYHOP_WRAPPED=yes {python} -m skyhop.server"
    sky("api", "start", check=True)
    pid = _info(sky)["pid"]
    assert b"SKYHOP_WRAPPED=yes" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    sky("api", "stop", check=True)

    sky.env["SKYHOP_API_SERVER_COMMAND"] = f"sh -c '{python} -m skyhop.server & wait'"
    sky("api", "start", check=True)
    forked = _info(sky)["pid"]
    assert Path(f"/proc/{forked}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"skyhop.server"]
    assert sky.json("status") == []
    sky("api", "stop", check=True)


@pytest.mark.parametrize(("command", "said"), [
    ("sh -c 'exit 3", "SKYHOP_API_SERVER_COMMAND is not a command line (No closing quotation)"),
    ("false", "The API server failed to start (exit code 1)"),
    ("/no/such/program", "No such file or directory"),
])
def test_a_server_command_that_cannot_start_a_server_is_one_clear_error(sky, command, said):
    sky.env["SKYHOP_API_SERVER_COMMAND"] = command
    result = sky("status")
    assert result.code == 1 and said in result.err, result.err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_state_database_the_server_cannot_open_is_one_paragraph_not_a_traceback(sky, tmp_path, workers):
    """The server's own error (here: the file is not a database) is what the user reads, not its traceback."""
    bad = tmp_path / "not-a-db"
    bad.write_text("plain text\n")
    sky.env["SKYHOP_DB_URL"] = f"sqlite:///{bad}"
    result = sky("api", "start", "--team", "--port", "0", "--workers", workers)
    assert result.code == 1, result.err
    assert "Traceback" not in result.err and "failed to start: Cannot open the state database" in result.err, result.err
    assert "file is not a database" in result.err


def test_a_database_that_does_not_answer_is_one_paragraph_too(sky):
    """psycopg's message has several lines ("connection refused" then a hint): still the server's own error, whole."""
    sky.env["SKYHOP_DB_URL"] = "postgresql+psycopg://nobody:SECRETPW@127.0.0.1:9/nowhere"
    result = sky("api", "start", "--team", "--port", "0")
    assert result.code == 1 and "failed to start: Cannot open the state database" in result.err, result.err
    assert "INFO" not in result.err and "SECRETPW" not in result.err and "Is the server running" in result.err, result.err


def test_a_server_command_that_hands_the_server_on_and_exits_is_waited_for(sky):
    """A wrapper that starts the server and exits 0 at once (`systemd-run`, `cmd &`) is not a failed start: the
    client waits for the server.json that names its start."""
    sky.env["SKYHOP_API_SERVER_COMMAND"] = f"sh -c '{sys.executable} -m skyhop.server & exit 0'"
    sky("api", "start", check=True)
    assert sky.json("status") == []
    sky("api", "stop", check=True)
