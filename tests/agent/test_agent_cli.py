"""The CLI contract: one JSON object out, or a JSON error on stderr with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import Agent


def test_unknown_job_ids_are_clear_errors(cluster: Agent) -> None:
    known = cluster.submit(run="true")
    assert cluster.error("status", str(known), "7") == "No job 7 on cluster c."
    assert cluster.error("cancel", "7") == "No job 7 on cluster c."
    assert cluster.error("logs", "7") == "No job 7 on cluster c."
    assert cluster.error("wait", "7") == "No job 7 on cluster c."
    assert "invalid int value" in cluster.error("status", "seven")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"run": "true", "colour": "red"}', "unknown keys ['colour']"),
        ('{"run": 5}', "'run' must be a string"),
        ('{"run": "true", "num_nodes": 0}', "'num_nodes' must be a whole number >= 1"),
        ('{"run": "true", "cpus": "lots"}', "'cpus' must be a number"),
        ('{"run": "true", "cpus": NaN}', "'cpus' must be a number"),
        ('{"run": "true", "gpus": {"H100": 0.5}}', "GPU count for H100"),
        ('{"run": "true", "envs": {"A": null}}', "env A must be a string"),
    ],
)
def test_malformed_specs_are_rejected(cluster: Agent, spec: str, expected: str) -> None:
    assert expected in cluster.error("submit", "--spec", "-", input=spec)


def test_spec_from_a_file_and_a_missing_file(cluster: Agent, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"run": "echo from file"}')
    job_id = cluster.ok("submit", "--spec", str(spec))["job_id"]
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert "Cannot read the job spec" in cluster.error("submit", "--spec", str(tmp_path / "nope.json"))


def test_a_base_without_init_is_an_error(tmp_path: Path) -> None:
    agent_root = Path(__file__).resolve().parents[2] / "src"
    for verb in (["health"], ["queue"], ["status", "1"], ["daemon-start"], ["submit", "--spec", "-"]):
        result = subprocess.run(
            [sys.executable, "-m", "skyhop_agent", "--base", str(tmp_path / "nothing"), *verb],
            input="{}",
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(agent_root), "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 2 and result.stdout == "", verb
        assert "run `init` first" in json.loads(result.stderr)["error"]


def test_usage_errors_are_json(cluster: Agent) -> None:
    assert "invalid choice: 'frobnicate'" in cluster.error("frobnicate")
    assert "the following arguments are required: --spec" in cluster.error("submit")
    assert "give job ids or --all" in cluster.error("cancel")
    assert "not allowed with" in cluster.error("autostop", "--idle-minutes", "5", "--cancel")


def test_init_validates_and_is_idempotent(cluster: Agent, tmp_path: Path) -> None:
    job_id = cluster.submit(run="true")
    cluster.wait(job_id)
    config = tmp_path / "again.json"
    config.write_text((cluster.base / "cluster.json").read_text())
    assert cluster.ok("init", "--config", str(config)) == {"ok": True}
    assert [job["job_id"] for job in cluster.ok("queue")["jobs"]] == [job_id]
    assert cluster.submit(run="true") == job_id + 1

    bad = json.loads(config.read_text())
    bad["nodes"][0]["rank"] = 3
    config.write_text(json.dumps(bad))
    assert "node ranks must be 0..0" in cluster.error("init", "--config", str(config))
    bad = dict(json.loads((cluster.base / "cluster.json").read_text()), resources={"cpus": 0})
    config.write_text(json.dumps(bad))
    assert "'resources.cpus' must be a positive number" in cluster.error("init", "--config", str(config))


def test_health_reports_the_cluster(cluster: Agent) -> None:
    health = cluster.ok("health")
    assert health["ok"] is True and health["cluster_name"] == "c" and health["version"]
    assert (health["daemon_pid"], health["daemon_alive"], health["stopped"]) == (None, False, False)


def test_autostop_setting(cluster: Agent) -> None:
    assert cluster.ok("autostop") == {"idle_minutes": None, "down": False, "set_at": None}
    setting = cluster.ok("autostop", "--idle-minutes", "2.5", "--down")
    assert (setting["idle_minutes"], setting["down"]) == (2.5, True) and setting["set_at"] > 0
    assert cluster.ok("autostop") == setting
    assert json.loads((cluster.base / "autostop.json").read_text()) == setting
    assert cluster.ok("autostop", "--cancel")["idle_minutes"] is None
    assert not (cluster.base / "autostop.json").exists()
    assert ">= 0" in cluster.error("autostop", "--idle-minutes", "-1")
    assert ">= 0" in cluster.error("autostop", "--idle-minutes", "nan")


def test_children_run_the_copied_package(cluster: Agent) -> None:
    agent = cluster
    job_id = agent.submit(run=f'{sys.executable} -c "import skyhop_agent; print(skyhop_agent.__file__)"')
    agent.wait(job_id)
    assert agent.log(job_id).strip() == str(agent.agent_root / "skyhop_agent" / "__init__.py")
