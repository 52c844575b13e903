"""cancel, stop/start, autostop, cost-report through the real CLI."""

from __future__ import annotations

import time

from e2e_support import pid_gone, wait_for


def test_cancel_kills_the_whole_process_tree(sky):
    sky("launch", "-y", "-c", "tree", "echo up", check=True)
    script = "sleep 300 & echo $! > child.pid; setsid sleep 301 & echo $! > detached.pid; echo $$ > main.pid; wait"
    sky("exec", "tree", "-d", script, check=True)
    node = sky.node_dir("tree")
    wait_for(lambda: all((node / f).is_file() and (node / f).read_text().strip() for f in ("child.pid", "detached.pid", "main.pid")), what="pid files")
    pids = [int((node / f).read_text()) for f in ("child.pid", "detached.pid", "main.pid")]
    assert not any(pid_gone(p) for p in pids)
    result = sky("cancel", "tree", "2", check=True)
    assert "Cancelled job(s) 2" in result.out
    wait_for(lambda: all(pid_gone(p) for p in pids), timeout=30, what="every process of the job to be gone")
    assert sky.jobs("tree")[2]["status"] == "CANCELLED"


def test_stop_start_keeps_job_history(sky):
    sky("launch", "-y", "-c", "ss", "echo first", check=True)
    sky("stop", "-y", "ss", check=True)
    assert sky.clusters()["ss"]["status"] == "STOPPED"
    refused = sky("exec", "ss", "echo nope")
    assert refused.code != 0 and "stopped" in refused.err
    sky("start", "ss", check=True)
    assert sky.clusters()["ss"]["status"] == "UP"
    sky("exec", "ss", "echo second", check=True)
    jobs = sky.jobs("ss")
    assert sorted(jobs) == [1, 2] and jobs[1]["status"] == "SUCCEEDED"


def test_autostop_stops_then_autodown_removes(sky):
    sky("launch", "-y", "-c", "auto", "-i", "0.05", "echo idle-soon", check=True)
    wait_for(lambda: sky.clusters()["auto"]["status"] == "STOPPED", timeout=90, what="autostop")
    # Started again without -i, it has no autostop (SkyPilot's `start`): the 3 s setting from before
    # the stop would otherwise stop it again the moment its daemon starts.
    sky("start", "auto", check=True)
    time.sleep(5)
    row = sky.clusters()["auto"]
    assert row["status"] == "UP" and row["autostop_minutes"] is None
    assert sky.jobs("auto")[1]["status"] == "SUCCEEDED"
    sky("autostop", "auto", "-i", "0.02", "--down", check=True)
    wait_for(lambda: "auto" not in sky.clusters(), timeout=90, what="autodown")
    assert not sky.node_dir("auto").exists()


def test_launch_down_flag_removes_cluster_after_job(sky):
    result = sky("launch", "-y", "-c", "once", "--down", "echo bye", check=True)
    assert "bye" in result.out
    assert "once" not in sky.clusters()


def test_cost_report_lists_clusters(sky):
    sky("launch", "-y", "-c", "cost", "echo x", check=True)
    sky("down", "-y", "cost", check=True)
    rows = sky.json("cost-report")
    row = next(r for r in rows if r["cluster"] == "cost")
    assert row["status"] == "TERMINATED" and row["cost"] == 0 and row["duration_s"] > 0 and row["provider"] == "local"
    assert "Total: $0.00" in sky("cost-report", check=True).out


def test_exec_on_a_cluster_whose_agent_an_older_skyhop_installed(sky):
    """Upgrading skyhop leaves running clusters' agents as they were: their shorter submit answer still works."""
    sky("launch", "-y", "-c", "old", "echo first", check=True)
    cli = sky.node_dir("old") / "agent" / "skyhop_agent" / "cli.py"
    source = cli.read_text()
    newer = '"job": job.record(layout)}'
    assert newer in source
    cli.write_text(source.replace(newer, "}").replace(', "status": job.status, }', ', "status": job.status}'))
    result = sky("exec", "old", "echo second", check=True)
    assert "second" in result.out
    assert sky.jobs("old")[2]["status"] == "SUCCEEDED"
