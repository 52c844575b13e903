"""Budgets end to end on the local provider at $3,600/h ($1 a second): the real CLI, the real API server and its enforcer.

A budget warns at 80% (the CLI's notice, the webhook to a local HTTP server),
and reached mid-run it stops the running cluster (never removes it), pauses the
managed job (its cluster torn down, the job and its attempts kept), and the
next launch is refused with the budget's name and numbers.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from e2e_support import wait_for

from managed_jobs.conftest import FAST
from skyhop.identity import current_user

pytestmark = pytest.mark.slow

BUDGETS = FAST + "budgets:\n  tick_seconds: 0.3\n  memo_seconds: 0\nlocal:\n  hourly_price: 3600\n"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server that keeps every JSON body POSTed to it."""
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def _spent(sky) -> float:
    return sum(line["cost"] for line in sky.json("cost-report"))


def _job(sky, job_id: int) -> dict:
    return next(r for r in sky.json("jobs", "queue") if r["id"] == job_id)


def test_a_budget_warns_then_stops_the_cluster_pauses_the_job_and_refuses_launches(jobs_cli, fast_jobs, webhook):
    sky, (url, received) = jobs_cli, webhook
    fast_jobs.write_text(BUDGETS)
    me = current_user()
    sky("launch", "-y", "-d", "-c", "dev", "sleep 600", check=True, timeout=120)
    assert sky.clusters()["dev"]["hourly_price"] == 3600
    sky("stop", "-y", "dev", check=True, timeout=60)  # the spend stops growing: the warning phase is stable

    # 85% of the budget: warned once (webhook, CLI notice), nothing refused.
    limit = round(_spent(sky) / 0.85, 2)
    command = [sys.executable, "-m", "skyhop.cli.main", "budgets", "set", "--user", me, "--monthly", str(limit), "--action", "refuse_and_stop", "--webhook", "-"]
    given = subprocess.run(command, input=url + "\n", env=sky.env, cwd=sky.cwd, capture_output=True, text=True, timeout=60)  # the URL on stdin
    assert given.returncode == 0 and url not in given.stdout + given.stderr, given.stderr
    wait_for(lambda: [r["kind"] for r in received] == ["warned"], 30, "the 80% webhook")
    hook = received[0]
    assert hook["budget"] == f"user {me}" and hook["limit"] == limit and 0.8 <= hook["fraction"] < 1 and "spent (8" in hook["text"]
    notice = sky("status", check=True).err
    assert f"Budget notice: Budget for user {me}" in notice and f"of ${limit:,.2f} spent (8" in notice
    assert "Budget notice" not in sky("status", check=True).err  # once an hour, not on every call
    assert (sky.skyhop_home / "budget_notices.json").stat().st_mode & 0o777 == 0o600
    (listed,) = sky.json("budgets", "list")
    assert listed["events"] == ["warned"] and listed["action"] == "refuse_and_stop"

    # Raised: the cluster and a managed job run; then lowered to what is spent plus $3: reached mid-run.
    sky("budgets", "set", "--user", me, "--monthly", "100000", "--action", "refuse_and_stop", "--webhook", url, check=True)
    sky("start", "-y", "dev", check=True, timeout=60)
    submitted = sky("jobs", "launch", "-y", "-d", "--output", "json", "-n", "long", "sleep 600", check=True, timeout=120)
    job_id = json.loads(submitted.out)["job_ids"][0]
    wait_for(lambda: _job(sky, job_id)["status"] == "RUNNING", 60, "the managed job running")
    job_cluster = _job(sky, job_id)["cluster"]
    sky("budgets", "set", "--user", me, "--monthly", str(round(_spent(sky) + 3, 2)), "--action", "refuse_and_stop", "--webhook", url, check=True)

    wait_for(lambda: _job(sky, job_id)["status"] == "PAUSED", 60, "the managed job paused")
    wait_for(lambda: job_cluster not in sky.clusters(), 60, "the paused job's cluster torn down")
    dev = sky.clusters()["dev"]
    assert dev["status"] == "STOPPED" and f"budget for user {me}" in dev["status_reason"]  # stopped, never removed
    row = _job(sky, job_id)
    assert [a["outcome"] for a in row["attempts"]] == ["paused"] and f"budget for user {me}" in row["failure_reason"]
    assert "exceeded" in [r["kind"] for r in received]

    # Nothing runs any more, so the spend stands still: per day it adds up to the month, all of it this user's.
    month = time.strftime("%Y-%m", time.gmtime())
    lines = sky.json("cost-report", "--month", month, "--user", me)
    days = sky.json("cost-report", "--daily", "--month", month)
    assert {d["user"] for d in days} == {me} and sum(d["cost"] for d in days) == pytest.approx(sum(line["cost"] for line in lines), abs=0.01)
    assert sum(line["cost"] for line in lines) >= float(sky.json("budgets", "list")[0]["monthly_limit"])
    assert "2026-13" in sky("cost-report", "--month", "2026-13").err

    # The next launch is refused with the budget's name and numbers, and so is a resume.
    refused = sky("launch", "-y", "-d", "-c", "another", "echo hi", timeout=60)
    assert refused.code != 0 and f"Budget for user {me} (" in refused.err and "new launches are refused until" in refused.err
    assert "$" in refused.err and "skyhop budgets set --user" in refused.err and "another" not in sky.clusters()
    assert "Budget for user" in sky("jobs", "resume", str(job_id), timeout=60).err
    assert "Budget for user" in sky("start", "-y", "dev", timeout=60).err
    service = sky.task("svc.yaml", "run: sleep 100\nservice:\n  readiness_probe: /\n  replicas: 1\n")
    assert "Budget for user" in sky("serve", "up", "-y", "-n", "svc", service, timeout=60).err
    pool = sky.task("pool.yaml", "run: sleep 100\npool:\n  workers: 1\n")
    assert "Budget for user" in sky("jobs", "pool", "apply", "-y", "-p", "workers", pool, timeout=60).err

    # Raised again: the paused job resumes from PENDING and runs a new attempt.
    sky("budgets", "set", "--user", me, "--monthly", "100000", check=True)
    sky("jobs", "resume", str(job_id), check=True)
    wait_for(lambda: _job(sky, job_id)["status"] == "RUNNING", 60, "the resumed job running")

    # Reached again with `refuse` (nothing is stopped), then the job is preempted: its recovery is a launch the
    # budget refuses, so the job is paused instead of relaunched.
    sky("budgets", "set", "--user", me, "--monthly", str(round(_spent(sky) + 0.2, 2)), check=True)
    wait_for(lambda: sky.json("budgets", "list")[0]["fraction"] >= 1, 30, "the budget reached")
    sky("chaos", "preempt", _job(sky, job_id)["cluster"], check=True)
    wait_for(lambda: _job(sky, job_id)["status"] == "PAUSED", 60, "the refused recovery paused the job")
    row = _job(sky, job_id)
    assert [a["outcome"] for a in row["attempts"]] == ["paused", "preempted"] and "Budget for user" in row["failure_reason"]
