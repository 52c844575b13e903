"""launch / status / exec / queue / down through the real CLI and auto-started server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import cluster_processes, wait_for


def test_hello_launch_status_down(sky, hello_yaml):
    launched = sky("launch", "-y", "-c", "hello", hello_yaml)
    assert launched.code == 0, launched.err
    assert "setting up (runs once per cluster)" in launched.out
    assert "hello from" in launched.out and "node 0 of 1" in launched.out
    rows = sky.clusters()
    assert rows["hello"]["status"] == "UP" and rows["hello"]["provider"] == "local"
    assert rows["hello"]["hourly_price"] == 0
    assert sky.node_dir("hello").is_dir() and cluster_processes(sky.skyhop_home)
    down = sky("down", "-y", "hello", check=True)
    assert "removed" in down.out
    assert sky.clusters() == {}
    assert not sky.node_dir("hello").exists()
    assert cluster_processes(sky.skyhop_home) == []
    again = sky("down", "-y", "hello", check=True)
    assert "does not exist; nothing to do" in again.out


@pytest.mark.fresh_home  # a newcomer's first run: the server creates the state database
def test_readme_flow_without_naming_the_cluster(sky, hello_yaml):
    """The quick start as a newcomer runs it: launch, status --output json, down -y."""
    launched = sky("launch", "-y", hello_yaml, check=True)
    assert "hello from" in launched.out
    rows = sky.json("status")
    assert len(rows) == 1 and rows[0]["status"] == "UP" and rows[0]["name"].startswith("skyhop-")
    down = sky("down", "-y", check=True)
    assert f"Cluster '{rows[0]['name']}' is removed." in down.out
    assert sky.json("status") == [] and cluster_processes(sky.skyhop_home) == []
    assert "No clusters." in sky("down", "-y", check=True).out
    sky("launch", "-y", "-c", "one", "echo 1", check=True)
    sky("launch", "-y", "-c", "two", "echo 2", check=True)
    ambiguous = sky("down", "-y")
    assert ambiguous.code != 0 and "one, two" in ambiguous.err


def test_multi_node_ranks_and_ips(sky):
    task = sky.task(
        "multi.yaml",
        "num_nodes: 3\nresources:\n  infra: local\nrun: |\n"
        '  echo "rank=$SKYPILOT_NODE_RANK twin=$SKYHOP_NODE_RANK n=$SKYPILOT_NUM_NODES ips=$(echo "$SKYPILOT_NODE_IPS" | paste -sd,)"\n',
    )
    result = sky("launch", "-y", "-c", "multi", task)
    assert result.code == 0, result.err
    lines = sorted(line.split(") ", 1)[-1] for line in result.out.splitlines() if "rank=" in line)
    assert lines == [f"rank={r} twin={r} n=3 ips=127.0.0.1,127.0.0.1,127.0.0.1" for r in range(3)]
    assert sky.clusters()["multi"]["num_nodes"] == 3
    assert all(sky.node_dir("multi", r).is_dir() for r in range(3))


def test_setup_runs_once_per_launch_and_run_per_job(sky):
    task = sky.task("t.yaml", "setup: echo SETUP-RAN\nrun: echo RUN-RAN\n")
    first = sky("launch", "-y", "-c", "s", task, check=True)
    assert first.out.count("SETUP-RAN") == 1 and first.out.count("RUN-RAN") == 1
    second = sky("launch", "-y", "-c", "s", task, check=True)
    assert "SETUP-RAN" not in second.out and "RUN-RAN" in second.out
    third = sky("exec", "s", task, check=True)
    assert "SETUP-RAN" not in third.out and "RUN-RAN" in third.out
    changed = sky.task("t2.yaml", "setup: echo SETUP-CHANGED\nrun: echo RUN-RAN\n")
    fourth = sky("launch", "-y", "-c", "s", changed, check=True)
    assert "SETUP-CHANGED" in fourth.out
    jobs = sky.jobs("s")
    assert sorted(jobs) == [1, 2, 3, 4] and {j["status"] for j in jobs.values()} == {"SUCCEEDED"}


def test_workdir_and_file_mounts_reach_every_node(sky, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.txt").write_text("from the workdir\n")
    extra = tmp_path / "extra.txt"
    extra.write_text("mounted\n")
    task = sky.task(
        "files.yaml",
        f"num_nodes: 2\nworkdir: {src}\nfile_mounts:\n  ~/mnt/extra.txt: {extra}\n"
        "run: cat data.txt; cat ~/mnt/extra.txt 2>/dev/null || cat ../mnt/extra.txt\n",
    )
    result = sky("launch", "-y", "-c", "files", task)
    assert result.code == 0, result.err
    assert result.out.count("from the workdir") == 2 and result.out.count("mounted") == 2


def test_failing_job_exit_code_and_status(sky):
    result = sky("launch", "-y", "-c", "fail", "exit 3")
    assert result.code == 3
    assert "FAILED" in result.err
    job = sky.jobs("fail")[1]
    assert job["status"] == "FAILED" and job["exit_code"] == 3
    exec_result = sky("exec", "fail", "echo fine")
    assert exec_result.code == 0 and "fine" in exec_result.out


def test_failing_setup_is_failed_setup(sky):
    task = sky.task("bad-setup.yaml", "setup: echo broken; exit 5\nrun: echo never\n")
    result = sky("launch", "-y", "-c", "badsetup", task)
    assert result.code == 5
    assert "never" not in result.out and "broken" in result.out
    assert sky.jobs("badsetup")[1]["status"] == "FAILED_SETUP"


def test_detached_run_and_logs(sky):
    result = sky("launch", "-y", "-d", "-c", "det", "for i in 1 2 3; do echo line$i; sleep 0.2; done", check=True)
    assert "line1" not in result.out
    logs = sky("logs", "det", "1", check=True)
    assert [line for line in logs.out.splitlines() if line.startswith("line")] == ["line1", "line2", "line3"]
    status = sky("logs", "det", "1", "--status", check=True)
    assert "SUCCEEDED" in status.out
    assert sky.jobs("det")[1]["status"] == "SUCCEEDED"


def test_dryrun_creates_nothing(sky, hello_yaml):
    result = sky("launch", "--dryrun", "-c", "dry", hello_yaml, check=True)
    assert "Dry run" in result.out and "local" in result.out
    assert sky.clusters() == {}


def test_jobs_queue_when_cpus_are_busy(sky):
    cpus = str(os.cpu_count())
    sky("launch", "-y", "-c", "q", "--cpus", cpus, "echo ready", check=True)
    sky("exec", "q", "-d", "--cpus", cpus, "sleep 300", check=True)
    sky("exec", "q", "-d", "--cpus", cpus, "echo second-ran", check=True)
    wait_for(lambda: sky.jobs("q")[2]["status"] == "RUNNING", what="job 2 running")
    assert sky.jobs("q")[3]["status"] == "PENDING"
    sky("cancel", "q", "2", check=True)
    wait_for(lambda: sky.jobs("q")[3]["status"] == "SUCCEEDED", what="job 3 to run once job 2 was cancelled")
    assert sky.jobs("q")[2]["status"] == "CANCELLED"
    assert "second-ran" in sky("logs", "q", "3", "--no-follow", check=True).out


def test_a_script_file_runs_as_a_command(sky):
    script = sky.cwd / "run.sh"
    script.write_text("echo from-the-script\n")
    sky("launch", "-y", "-c", "sh", "echo ready", check=True)
    result = sky("exec", "sh", f"bash {script}", check=True)
    assert "from-the-script" in result.out
    missing = sky("launch", "-y", "nope.yaml")
    assert missing.code != 0 and "nope.yaml does not exist" in missing.err


def test_modules_in_the_callers_directory_do_not_shadow_the_servers(sky):
    """`python -m` puts the working directory first on sys.path: the server must not start in the user's."""
    sky.env.pop("SKYHOP_API_SERVER_COMMAND", None)  # the server itself, as `python -m skyhop.server` (not the suite's zygote)
    shadows = [sky.cwd / f"{name}.py" for name in ("re", "json", "logging")]
    for shadow in shadows:
        shadow.write_text('raise SystemExit("a project module shadowed the stdlib")\n')
    # The installed `skyhop` script, as users run it (`python -m` here would shadow the CLI itself).
    script = Path(sys.executable).parent / "skyhop"
    try:
        done = subprocess.run([str(script), "launch", "-y", "-c", "shadow", "echo still fine"], capture_output=True, text=True, env=sky.env, cwd=sky.cwd, timeout=300)
    finally:
        for shadow in shadows:  # the fixture's teardown runs `python -m` in this directory
            shadow.unlink()
    assert done.returncode == 0 and "still fine" in done.stdout, done.stderr[-2000:]
