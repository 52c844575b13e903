"""The container recipe (Dockerfile) matches the code: no docker here, so its promises are checked by reading it.

Its entrypoint's flags must be options of `skyhop api start`, its health check
must ask a route the app serves without a token, and what it copies must exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _one(keyword: str) -> str:
    found = [rest for key, rest in _instructions() if key == keyword]
    assert len(found) == 1, f"one {keyword} in the Dockerfile, found {len(found)}"
    return found[0]


def _command() -> list[str]:
    entrypoint, cmd = json.loads(_one("ENTRYPOINT")), json.loads(_one("CMD"))
    assert entrypoint[:3] == ["skyhop", "api", "start"]
    return entrypoint[3:] + cmd


def _start_options() -> set[str]:
    from skyhop.cli.api_cmd import start

    return {option for param in start.params for option in param.opts}


def test_the_image_runs_as_a_user_from_the_slim_base_with_the_postgres_extra() -> None:
    assert _one("FROM") == "python:3.11-slim"
    user = _one("USER")
    assert user not in ("root", "0")
    installs = [rest for key, rest in _instructions() if key == "RUN" and "pip install" in rest]
    extras = re.findall(r'pip install "\.\[([a-z,]+)\]"', " ".join(installs))
    pyproject = (ROOT / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    declared = set(re.findall(r"^([a-z][a-z0-9_-]*) = \[", section, re.MULTILINE))
    assert extras and all(extra in declared for group in extras for extra in group.split(",")), (extras, declared)
    for key, rest in _instructions():
        if key == "COPY":
            *sources, _ = rest.split()
            assert all((ROOT / source).exists() for source in sources), rest


def test_the_health_check_asks_the_open_readiness_route_on_the_published_port() -> None:
    from skyhop.server.middleware import OPEN_PATHS
    from skyhop.server.routers import ALL

    url = re.search(r"http://[^'\"]+", _one("HEALTHCHECK")).group(0)
    path, port = urlsplit(url).path, urlsplit(url).port
    assert path in {route.path for router in ALL for route in router.routes}, "a route the app mounts"
    assert path in OPEN_PATHS, "an orchestrator has no token"
    assert path == "/api/v1/ready", "readiness, not liveness: a process without its database must not get traffic"
    command = _command()
    assert command[command.index("--port") + 1] == str(port) == _one("EXPOSE")


def test_each_flag_of_the_entrypoint_is_an_option_of_api_start() -> None:
    flags = [arg for arg in _command() if arg.startswith("--")]
    assert {"--team", "--foreground", "--host", "--port", "--workers"} <= set(flags)
    assert set(flags) <= _start_options(), f"`skyhop api start` has no {sorted(set(flags) - _start_options())}"
