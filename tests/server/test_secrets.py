"""Secret values never show: not in any argv (`ps`), log, stored request, database or API answer.

A job with `secrets:` gets its values from `--secret NAME` (read from the
caller's environment), `--secret NAME=VALUE` and `--env NAME` (a bare name
fills a declared secret from the environment, as SkyPilot does). While it
runs, every process's command line is watched; afterwards every file under
SKYHOP_HOME (state database and its WAL, request logs, server log) except
the node's own job table (the job needs the values; its permissions are
tested elsewhere) and every API answer are searched for each value.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from e2e_support import Sky, cluster_processes

TASK = """\
envs:
  PLAIN: visible-value
secrets:
  API_TOKEN: null
  DB_PASSWORD: null
run: |
  echo "lengths ${#API_TOKEN} ${#DB_PASSWORD} ${#EXTRA_KEY} $PLAIN"
  sleep 4
"""


class ArgvWatch:
    """Scans every process's command line (what `ps` shows) until stopped; remembers any hit."""

    def __init__(self, values: list[bytes]) -> None:
        self.values = values
        self.hits: list[str] = []
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        argv = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if any(v in argv for v in self.values):
                        self.hits.append(argv.replace(b"\0", b" ").decode(errors="replace")[:300])
            ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True).stdout
            if any(v in ps for v in self.values):
                self.hits.append("ps -eww shows a secret")
            self.scans += 1
            self._stop.wait(0.05)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _files_with(root: Path, values: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("jobs.db"):  # the node's job table holds them by design
            continue
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}" for v in values if v in data]
    return found


@pytest.mark.slow
def test_secrets_stay_out_of_argv_logs_state_and_answers(isolated_home: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    sky = Sky(isolated_home, workdir)
    api_token, db_password, extra = (f"sv-{name}-{secrets.token_hex(12)}" for name in ("token", "db", "extra"))
    values = [v.encode() for v in (api_token, db_password, extra)]
    env = dict(sky.env, API_TOKEN=api_token, DB_PASSWORD=db_password, EXTRA_KEY=extra)
    task = sky.task("secret.yaml", TASK)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "skyhop.cli.main", *args], capture_output=True, env=env, cwd=workdir, timeout=300)

    try:
        with ArgvWatch(values) as watch:
            launched = cli("launch", "-y", "-c", "sec", task, "--secret", "API_TOKEN", "--env", "DB_PASSWORD", "--secret", "EXTRA_KEY")
            executed = cli("exec", "sec", task, "--secret", "API_TOKEN", "--env", "DB_PASSWORD", "--secret", "EXTRA_KEY")
        assert launched.returncode == 0, launched.stderr.decode()[-2000:]
        assert executed.returncode == 0, executed.stderr.decode()[-2000:]
        expected = f"lengths {len(api_token)} {len(db_password)} {len(extra)} visible-value"
        assert expected in launched.stdout.decode() and expected in executed.stdout.decode()
        assert watch.scans > 5 and not watch.hits, watch.hits

        info = json.loads((sky.skyhop_home / "api" / "server.json").read_text())
        answers = []
        for path in ("/api/v1/requests?limit=100", "/api/v1/clusters", "/api/v1/clusters/sec/jobs", "/api/v1/cost-report"):
            answers.append(_get(info, path))
        for record in json.loads(answers[0]):
            answers.append(_get(info, f"/api/v1/requests/{record['request_id']}"))
            answers.append(_get(info, f"/api/v1/requests/{record['request_id']}/events?follow=false"))
        for answer in answers:
            assert not any(v.decode() in answer for v in values), answer[:2000]
        assert '"API_TOKEN": "<redacted>"' in answers[0] or '"API_TOKEN":"<redacted>"' in answers[0]
        for result in (launched, executed):
            assert not any(v in result.stdout + result.stderr for v in values)
        assert not _files_with(sky.skyhop_home, values)
    finally:
        cli("down", "--all", "-y")
        cli("api", "stop")
        assert not cluster_processes(sky.skyhop_home)


def _get(info: dict, path: str) -> str:
    import urllib.request

    request = urllib.request.Request(info["url"] + path, headers={"Authorization": f"Bearer {info['token']}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


def test_a_bare_name_missing_from_the_environment_is_a_clear_error(isolated_home: Path):
    from helpers import run_cli

    for flag in ("--secret", "--env"):
        done = run_cli(isolated_home, "launch", "-y", flag, "SURELY_NOT_SET_XYZ", "echo hi")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert flag in done.stderr and "SURELY_NOT_SET_XYZ is not set in your environment" in done.stderr
    done = run_cli(isolated_home, "launch", "-y", "--secret", "=hunter2-value", "echo hi")
    assert done.returncode == 1 and "--secret" in done.stderr and "hunter2-value" not in done.stderr


def test_secret_flags_make_secrets_and_bare_env_names_read_the_environment(monkeypatch):
    from skyhop.cli.task_options import load_pipeline

    monkeypatch.setenv("FROM_ENV", "env-value")
    monkeypatch.setenv("HF_TOKEN", "hf-value")
    task = load_pipeline(None, {"envs": ("FROM_ENV", "PLAIN=1"), "secrets": ("HF_TOKEN", "OTHER=x=y")}).tasks[0]
    assert task.envs == {"FROM_ENV": "env-value", "PLAIN": "1"}
    assert task.secrets == {"HF_TOKEN": "hf-value", "OTHER": "x=y"}
    assert "hf-value" not in repr(task) and "hf-value" not in str(task.to_dict())
