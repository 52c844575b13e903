"""`skyhop serve up|status|update|logs|down` as a user runs them, through the real CLI and its API server.

The server hosts no controller (conftest.py): what the serve controller would write (an endpoint, a replica
on a cluster, a failed cleanup) the test writes into the state database; the replica's cluster is a real one.
"""

from __future__ import annotations

import json
import os
import signal
import time

from skyhop.serve import files
from skyhop.state.services import Services
from skyhop.state.store import StateStore

SERVICE = "name: web\nresources: {cpus: 0.25}\nrun: python3 -m http.server 8080\nservice: {readiness_probe: /, replicas: 2}\n"


def test_up_status_update_logs_and_down_and_mistakes(quiet_sky):
    sky = quiet_sky
    path = sky.task("web.yaml", SERVICE)
    up = sky("serve", "up", "-y", path, check=True)
    assert "Service 'web' is starting (version 1). Watch it: skyhop serve status web" in up.out
    assert "skyhop serve status web --endpoint" in up.out
    api = json.loads(sky("serve", "up", "-y", "-n", "api", "--cpus", "0.5", path, "--output", "json", check=True).out)
    assert api == {"name": "api", "endpoint": None, "version": 1}
    taken = sky("serve", "up", "-y", path)
    assert taken.code == 1 and "Service 'web' already exists" in taken.err

    table = sky("serve", "status", check=True).out
    assert "Services" in table and "Service Replicas" not in table
    web_line = next(line for line in table.splitlines() if line.startswith("web "))
    assert web_line.split()[:2] == ["web", "1"] and "CONTROLLER_INIT" in web_line and "0/0" in web_line
    no_endpoint = sky("serve", "status", "web", "--endpoint")
    assert no_endpoint.code == 1 and "no endpoint yet (CONTROLLER_INIT)" in no_endpoint.err

    services = Services(StateStore())
    services.set("web", endpoint="http://127.0.0.1:30001", status="READY")
    assert sky("serve", "status", "web", "--endpoint", check=True).out == "http://127.0.0.1:30001\n"
    replica = services.add_replica("web", 1, use_spot=False, status="READY")
    services.set_replica("web", replica.replica_id, url="http://127.0.0.1:8080")
    files.launch_log("web", replica.replica_id).write_text("launched web-1\n")
    sky("launch", "-y", "-c", replica.cluster, "--cpus", "0.25", "echo replica-says-hi", check=True)
    full = sky("serve", "status", "web", "-a", check=True).out
    replica_line = next(line for line in full.splitlines() if line.startswith("web ") and "web-1" not in line and "http://127.0.0.1:8080" in line)
    assert "READY" in replica_line and "local" in replica_line and "Fixed 2 replicas" in full
    (status,) = sky.json("serve", "status", "web")
    assert status["replicas"][0]["infra"].startswith("local") and status["ready_replicas"] == 1
    logs = sky("serve", "logs", "web", "1", "--no-follow", check=True).out
    assert logs.startswith("launched web-1\n") and "replica-says-hi" in logs
    files.controller_log("web").write_text("controller: probing\n")
    assert sky("serve", "logs", "web", "--controller", "--no-follow", check=True).out == "controller: probing\n"
    neither = sky("serve", "logs", "web")
    assert neither.code == 1 and "Give a replica id, --controller or --load-balancer" in neither.err

    v2 = sky.task("web-v2.yaml", SERVICE.replace("replicas: 2", "replicas: 3"))
    updated = sky("serve", "update", "-y", "--mode", "blue_green", "web", v2, check=True)
    assert "Service 'web' is moving to version 2 (blue_green)" in updated.out
    assert sky.json("serve", "status", "web")[0]["policy"] == "Fixed 3 replicas"

    services.set("web", status="FAILED_CLEANUP")
    skipped = sky("serve", "down", "-y", "web")
    assert skipped.code == 1 and "skyhop serve down --purge web" in skipped.err
    purged = sky("serve", "down", "-y", "--purge", "web", check=True)
    assert "Purged service(s) web" in purged.out
    assert sky.clusters() == {} and [s["name"] for s in sky.json("serve", "status")] == ["api"]
    assert "Taking down service(s) api" in sky("serve", "down", "-y", "-a", check=True).out
    assert sky.json("serve", "status")[0]["status"] == "SHUTTING_DOWN"

    _mistakes_are_one_sentence(sky)
    files.controller_log("api").write_text("controller: api down\n")
    follower = sky.popen("serve", "logs", "api", "--controller")  # follows while the service exists: no controller ends it here
    time.sleep(1)
    os.kill(sky.server_pid(), signal.SIGKILL)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1 and out == "controller: api down\n" and "Traceback" not in err, err
    assert "stopped streaming" in err and "the service goes on" in err and "skyhop serve logs api --controller" in err, err


def _mistakes_are_one_sentence(sky) -> None:
    """Each mistake is one sentence on stderr, no traceback (on the test's server: another start costs seconds)."""
    plain = sky.task("plain.yaml", "resources: {cpus: 0.25}\nrun: echo hi\n")
    web = sky.task("web.yaml", SERVICE)
    cases = [
        (("serve", "up", "-y", "missing.yaml"), "Task file missing.yaml does not exist"),
        (("serve", "up", "-y", "run.sh"), "run.sh is not a task file"),
        (("serve", "up", "-y", plain), "has no `service:` section"),
        (("serve", "up", "-y", "-n", "Web", web), "Service name 'Web' is not valid"),
        (("serve", "up", "-y", "--env", "1BAD=x", web), "--env"),
        (("serve", "update", "-y", "nope", web), "No service named 'nope'"),
        (("serve", "status", "nope"), "No service(s) named 'nope'"),
        (("serve", "status", "--endpoint"), "--endpoint prints the endpoint of one service"),
        (("serve", "logs", "nope", "--controller"), "No service named 'nope'"),
        (("serve", "down", "-y"), "Give service names or -a"),
        (("serve", "down", "-y", "nope"), "No service(s) named 'nope'"),
    ]
    for args, message in cases:
        result = sky(*args)
        assert result.code != 0 and message in result.err, (args, result.err)
    assert sky("serve", "logs", "web", "0").code == 2  # a usage error: ids start at 1
    assert sky("serve", "update", "-y", "--mode", "sideways", "web", web).code == 2
