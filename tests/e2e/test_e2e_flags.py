"""SkyPilot's CLI flags, typed into the real `skyhop` (subprocesses, the auto-started
API server, local clusters), each checked for what it does and for a hostile value."""

from __future__ import annotations

import re
import stat
import time

import pytest


def _request_id(out: str) -> str:
    match = re.search(r"Submitted \w+ request (\S+)\.", out)
    assert match, out
    return match.group(1)


@pytest.mark.slow
def test_launch_and_exec_flags(sky, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker.txt").write_text("from-workdir\n")

    # -n/--name and --workdir override the task; the workdir is synced and is the job's cwd.
    done = sky("launch", "-y", "-c", "f1", "-n", "named-task", "--workdir", str(src), "cat marker.txt", check=True)
    assert "from-workdir" in done.out
    assert sky.jobs("f1")[1]["name"] == "named-task"
    bad = sky("launch", "-y", "-c", "f1", "--workdir", str(tmp_path / "missing"), "true")
    assert bad.code != 0 and "is not a directory" in bad.err
    empty = sky("launch", "-y", "-c", "f1", "-n", "", "true")
    assert empty.code != 0 and "'--name'" in empty.err

    # --cloud/--region/--zone spell --infra; not both; a bad name is blamed on the flag typed.
    assert "legacy" in sky("launch", "-y", "-c", "f1", "--cloud", "local", "echo legacy", check=True).out
    both = sky("launch", "-y", "-c", "f1", "--cloud", "local", "--infra", "local", "true")
    assert both.code != 0 and "cannot be combined with --cloud" in both.err
    typo = sky("launch", "-y", "-c", "f1", "--cloud", "locl", "true")
    assert typo.code != 0 and "'--cloud'" in typo.err and "local" in typo.err
    slash = sky("launch", "-y", "-c", "f1", "--cloud", "local", "--zone", "a/../../b", "true")
    assert slash.code != 0 and "'--zone'" in slash.err

    # Resource flags for features this machine does not offer: accepted, refused at launch by name.
    for flags, field in (
        (("--disk-size", "1TB"), "--disk-size"),
        (("--disk-tier", "high"), "--disk-tier"),
        (("--image-id", "docker:ubuntu:22.04"), "--image-id"),
    ):
        refused = sky("launch", "-y", "-c", "f9", *flags, "true")
        assert refused.code != 0 and f"or {field}) is not supported yet on local" in refused.err, refused.err
    hostile = sky("launch", "-y", "-c", "f9", "--ports", "8080;reboot", "true")
    assert hostile.code != 0 and "'--ports'" in hostile.err
    assert "f9" not in sky.clusters()

    # --fast on an up cluster skips setup even though it changed; without it setup re-runs.
    task = sky.task("setup.yaml", "setup: echo one >> ~/setup.log\nrun: cat ~/setup.log\n")
    sky("launch", "-y", "-c", "f1", task, check=True)
    changed = sky.task("setup2.yaml", "setup: echo two >> ~/setup.log\nrun: cat ~/setup.log\n")
    fast = sky("launch", "-y", "--fast", "-c", "f1", changed, check=True)
    assert "one" in fast.out and "two" not in fast.out
    slow = sky("launch", "-y", "-c", "f1", changed, check=True)
    assert "two" in slow.out

    # -r: a launch that comes up at once is just a launch.
    assert "retry-ok" in sky("launch", "-y", "-r", "-c", "f1", "echo retry-ok", check=True).out

    # --async returns the request id at once; the request runs in the server.
    started = time.monotonic()
    submitted = sky("launch", "-y", "--async", "-c", "f1", "sleep 2; echo async-done", check=True)
    assert time.monotonic() - started < 30
    request_id = _request_id(submitted.out)
    assert "async-done" in sky("api", "logs", request_id, check=True).out
    as_json = sky.json("launch", "-y", "--async", "-c", "f1", "echo json-async")
    assert as_json["name"] == "launch" and as_json["cluster"] == "f1" and as_json["request_id"]
    sky("api", "logs", as_json["request_id"], check=True)

    # exec takes -n, --workdir and --async too.
    assert "from-workdir" in sky("exec", "f1", "-n", "exec-named", "--workdir", str(src), "cat marker.txt", check=True).out
    assert max(sky.jobs("f1").values(), key=lambda j: j["job_id"])["name"] == "exec-named"
    exec_id = _request_id(sky("exec", "f1", "--async", "echo exec-async", check=True).out)
    assert "exec-async" in sky("api", "logs", exec_id, check=True).out


@pytest.mark.slow
def test_cluster_and_job_flags(sky, isolated_home):
    sky("launch", "-y", "-c", "g1", "echo first-job", check=True)
    row = sky.clusters()["g1"]

    # status --ip / --endpoint(s) / -v / -u
    assert row["head_ip"]
    assert sky("status", "--ip", "g1", check=True).out.strip() == row["head_ip"]
    no_name = sky("status", "--ip")
    assert no_name.code != 0 and "exactly one cluster name" in no_name.err
    for flags, message in ((("--endpoints",), "has no endpoints: it was launched without ports"), (("--endpoint", "8080"), "has no port 8080 open")):
        ports = sky("status", *flags, "g1")
        assert ports.code != 0 and message in ports.err, ports.err
    assert sky("status", "--endpoint", "70000", "g1").code == 2
    verbose = sky("status", "-v", check=True).out
    assert "HEAD IP" in verbose.splitlines()[0] and row["head_ip"] in verbose
    assert "g1" in sky("status", "-u", check=True).out and "g1" in sky("status", check=True).out

    # queue -s hides finished jobs; cancel --all takes the caller's running ones.
    sky("exec", "g1", "-d", "sleep 300", check=True)
    running = sky.json("queue", "g1", "-s")
    assert [j["status"] for j in running] in (["RUNNING"], ["PENDING"])
    assert len(sky.json("queue", "g1", "-u")) == 2
    assert "Cancelled job(s) 2" in sky("cancel", "g1", "--all", "-y", check=True).out
    assert sky.json("queue", "g1", "-s") == []
    assert "Give job ids or --all/--all-users" in sky("cancel", "g1", "1", "-u").err

    # logs -s saves each node's output privately.
    saved = sky("logs", "g1", "1", "-s", check=True).out
    path = isolated_home / "skyhop_logs" / "g1" / "job-1" / "node-0.log"
    assert str(path.parent) in saved and "first-job" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    # stop --async; start -i/--down/--force.
    stop_id = _request_id(sky("stop", "g1", "-y", "--async", check=True).out)
    sky("api", "logs", stop_id, check=True)
    assert sky.clusters()["g1"]["status"] == "STOPPED"
    assert "--down needs -i" in sky("start", "g1", "--down").err
    started = sky("start", "g1", "-i", "30", "--down", check=True).out
    assert "is up" in started and "torn down after 30 idle minute(s)" in started
    assert sky.clusters()["g1"]["autostop_minutes"] == 30 and sky.clusters()["g1"]["autostop_down"]
    assert "already up" in sky("start", "g1", check=True).out
    assert "agent was re-installed" in sky("start", "g1", "--force", check=True).out
    assert "second-job" in sky("exec", "g1", "echo second-job", check=True).out  # the re-installed agent works

    # cost-report --days/--all; down --async.
    assert "g1" in sky("cost-report", "--days", "1", check=True).out
    assert sky("cost-report", "--days", "0").code == 2
    down_id = _request_id(sky("down", "g1", "-y", "--async", check=True).out)
    sky("api", "logs", down_id, check=True)
    assert "g1" in sky("cost-report", "--all", check=True).out
    assert sky.clusters() == {}


def test_other_users_clusters_and_jobs_need_u(sky):
    """A team server holds other users' clusters: listed only with -u (or by name), both filtered by the server."""
    import time as clock

    from skyhop.state.records import ClusterRecord, JobRecord
    from skyhop.state.store import StateStore

    store = StateStore()  # this test's SKYHOP_HOME, the same database the API server uses
    store.add_cluster(ClusterRecord(name="bobs", provider="ssh", region="lab", user="bob-the-other"))
    store.set_cluster_status("bobs", "STOPPED")
    try:
        assert "bobs" not in {r["name"] for r in sky.json("status")}
        everyone = {r["name"]: r for r in sky.json("status", "-u")}
        assert everyone["bobs"]["user"] == "bob-the-other"
        assert [r["name"] for r in sky.json("status", "bobs")] == ["bobs"]
        assert "bob-the-other" in sky("status", "-u", "-v", check=True).out
    finally:
        store.remove_cluster("bobs")

    # Whoever may see a cluster sees all its jobs (a job's user is its cluster's owner: only an admin could
    # run one on another's cluster, and it is then labelled with the owner); `queue -u` adds others' clusters.
    sky("launch", "-y", "-c", "shared", "echo mine", check=True)
    store.upsert_jobs("shared", [JobRecord(job_id=99, status="SUCCEEDED", submitted_at=clock.time(), name="by-admin", user="bob-the-other")])
    assert sorted(j["job_id"] for j in sky.json("queue", "shared")) == [1, 99]
    assert sky.json("queue", "-u", "-s") == []
