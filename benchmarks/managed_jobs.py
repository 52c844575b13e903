"""Managed jobs at scale: N concurrent managed jobs on the local provider, one API server.

    .venv/bin/python benchmarks/managed_jobs.py --jobs 1000 --sleep 300
    .venv/bin/python benchmarks/managed_jobs.py --jobs 100 --sleep 60 --json   # ...and benchmarks/out/managed-jobs-<N>.json
    .venv/bin/python benchmarks/managed_jobs.py --jobs 1000 --sleep 1 --pool 16   # through a pool of 16 workers
    .venv/bin/python benchmarks/managed_jobs.py --jobs 5000 --queue-only          # `jobs queue` alone, idle server

One request submits N copies of a task (`num_jobs`); without pools each job
launches its own 1-node local cluster, so N jobs mean N agent daemons beside
the server. With `--pool W` a pool of W 1-node local workers is applied first
(and waited for: all READY), the N jobs are submitted with `pool`, and the
pool is taken down at the end (`clusters_left` then counts its workers too).
While the jobs run it samples, from /proc, the server's RSS and the
summed RSS of every process of the scratch home's clusters (agents, job
drivers, the jobs' `sleep`s); it times `jobs queue` over raw HTTP (every ~2 s)
and as the CLI (every ~10 s), and counts what is active. Each job appends
`start <time>` and `end <time>` to a marker file named by its SKYPILOT_TASK_ID,
so afterwards it checks: every job SUCCEEDED, none ran twice (one `start` per
marker), none is stuck (non-terminal at the deadline), no cluster is left. The
controller finds a finished job on its next poll, so `attempt.ended_at - end`
over all N jobs (ending at uniformly spread times relative to their polls) is
the poll gap as the jobs saw it: its maximum is the "longest gap" reported.

Nothing here is a unit test: numbers move with the machine's load (see
benchmarks/README.md, "Managed jobs at scale").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from run import scratch_env, skyhop_command  # noqa: E402  (benchmarks/ is no package)

TERMINAL = {"SUCCEEDED", "FAILED", "FAILED_SETUP", "FAILED_PRECHECKS", "FAILED_NO_RESOURCE", "FAILED_CONTROLLER", "CANCELLED"}
POOL = "scale-pool"
CLUSTER_ENV = b"SKYHOP_LOCAL_CLUSTER="  # the marker every local cluster process carries (providers/local)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cluster_processes(home: Path) -> list[int]:
    """Processes of this home's local clusters (their environment names a cluster directory under it)."""
    needle = CLUSTER_ENV + str(home).encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if needle in Path(entry.path, "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Api:
    """Raw HTTP to the scratch home's API server (url and token from its server.json)."""

    def __init__(self, home: Path) -> None:
        info = json.loads((home / "api" / "server.json").read_text())
        self.url, self.token, self.pid = info["url"], info["token"], int(info["pid"])

    def call(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "p50": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1), "max": round(max(values), 1)}


def apply_pool(api: Api, workers: int, timeout_s: float) -> float:
    """Apply a pool of `workers` 1-node local workers and wait until all are READY; seconds that took."""
    started = time.time()
    api.call("POST", "/api/v1/managed-jobs/pools", {"name": POOL, "task": {"pool": {"workers": workers}, "resources": {"infra": "local"}}})
    while time.time() < started + timeout_s:
        if api.call("GET", f"/api/v1/managed-jobs/pools?name={POOL}")[0]["ready"] == workers:
            return round(time.time() - started, 1)
        time.sleep(2.0)
    raise SystemExit(f"the pool's {workers} workers were not all READY after {timeout_s:g} s")


def bench(jobs: int, sleep_s: float, timeout_s: float, config: str | None, keep: bool, pool: int | None = None) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="skyhop-mjobs-"))
    home = scratch / "home" / ".skyhop"
    home.mkdir(parents=True, mode=0o700)
    markers = scratch / "markers"
    markers.mkdir()
    if config:
        (home / "config.yaml").write_text(config)
    catalog = (REPO.parent / "shared" / "catalogs" / "v8").resolve()
    env = scratch_env(catalog, scratch / "home")
    sky = skyhop_command()
    subprocess.run(sky + ["api", "start"], env=env, check=True, capture_output=True)
    api = Api(home)
    result: dict[str, Any] = {"jobs": jobs, "sleep_s": sleep_s, "config": config, "cpus": os.cpu_count(), "pool_workers": pool}
    samples: list[dict[str, float]] = []
    http_ms: list[tuple[int, float]] = []  # (active jobs when sampled, ms)
    cli_ms: list[tuple[int, float]] = []
    stop = threading.Event()
    baseline = rss_mib(api.pid)

    def sample_memory() -> None:
        while not stop.is_set():
            pids = cluster_processes(home)
            samples.append({"t": time.time(), "server": rss_mib(api.pid), "clusters": sum(rss_mib(p) for p in pids), "processes": len(pids)})
            stop.wait(2.0)

    run = (
        f'echo "start $(date +%s.%N)" >> {markers}/"$SKYPILOT_TASK_ID"; sleep {sleep_s}; '
        f'echo "end $(date +%s.%N)" >> {markers}/"$SKYPILOT_TASK_ID"'
    )
    task = {"name": "scale", "run": run, "resources": {"infra": "local"}}
    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    try:
        body: dict[str, Any] = {"tasks": [task], "num_jobs": jobs, "name": "scale"}
        if pool:
            result["pool_ready_s"] = apply_pool(api, pool, timeout_s)
            body["pool"] = POOL
        started = time.time()
        ids = api.call("POST", "/api/v1/managed-jobs", body, timeout=600)["job_ids"]
        result["submit_s"] = round(time.time() - started, 2)
        deadline = started + timeout_s
        statuses: Counter[str] = Counter()
        last_cli = 0.0
        first_all_running = None
        while time.time() < deadline:
            t0 = time.perf_counter()
            rows = api.call("GET", "/api/v1/managed-jobs?all_users=true")
            elapsed = (time.perf_counter() - t0) * 1000
            statuses = Counter(r["status"] for r in rows)
            active = sum(n for s, n in statuses.items() if s not in TERMINAL)
            http_ms.append((active, elapsed))
            if statuses.get("RUNNING", 0) == min(jobs, pool or jobs) and first_all_running is None:
                first_all_running = time.time() - started
            if active == 0:
                break
            if time.time() - last_cli >= 10:
                t0 = time.perf_counter()
                subprocess.run(sky + ["jobs", "queue", "-a", "-u"], env=env, check=True, capture_output=True)
                cli_ms.append((active, (time.perf_counter() - t0) * 1000))
                last_cli = time.time()
            time.sleep(2.0)
        result["all_running_after_s"] = None if first_all_running is None else round(first_all_running, 1)
        result["all_ended_after_s"] = round(time.time() - started, 1) if not (set(statuses) - TERMINAL) else None
        result["statuses"] = dict(statuses)
        result["stuck"] = sum(n for s, n in statuses.items() if s not in TERMINAL)
        rows = api.call("GET", "/api/v1/managed-jobs?all_users=true")
        result.update(check_markers(rows, markers, len(ids)))
    finally:
        stop.set()
        sampler.join()
        subprocess.run(sky + ["jobs", "cancel", "-a", "-y"], env=env, capture_output=True)
        if pool:
            take_down_pool(api)
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)
    left = home / "clusters"
    result["clusters_left"] = len(list(left.iterdir())) if left.is_dir() else 0
    result["server_rss_mib"] = {"idle": round(baseline, 1), "peak": round(max((s["server"] for s in samples), default=0.0), 1)}
    busy = [s for s in samples if s["processes"]]
    steady = busy[len(busy) // 2 : len(busy) * 3 // 4] or busy  # the middle of the run, after the launches
    result["server_rss_mib"]["steady"] = round(statistics.median(s["server"] for s in steady), 1) if steady else None
    result["cluster_processes_peak"] = max((s["processes"] for s in samples), default=0)
    result["cluster_rss_mib_peak"] = round(max((s["clusters"] for s in samples), default=0.0), 1)
    result["queue_http_ms_all_active"] = spread([ms for active, ms in http_ms if active == jobs])
    result["queue_http_ms_any"] = spread([ms for _, ms in http_ms])
    result["queue_cli_ms_all_active"] = spread([ms for active, ms in cli_ms if active == jobs])
    result["queue_cli_ms_any"] = spread([ms for _, ms in cli_ms])
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        result["scratch"] = str(scratch)
    return result


def take_down_pool(api: Api, timeout_s: float = 300.0) -> None:
    """`jobs pool down`, then wait until the pool is gone (its controller tears the workers down)."""
    api.call("POST", "/api/v1/managed-jobs/pools/down", {"names": [POOL]})
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(p["name"] == POOL for p in api.call("GET", "/api/v1/managed-jobs/pools")):
        time.sleep(2.0)


def queue_bench(jobs: int, http_samples: int = 20, cli_samples: int = 6) -> dict[str, Any]:
    """`jobs queue` alone: N RUNNING jobs (one attempt each) written straight into a fresh store, an idle server.

    The rows belong to another user, so this server's controller never drives
    them (it takes over only its own user's jobs) and nothing but the queue runs.
    """
    from skyhop.state.managed import ManagedJobs
    from skyhop.state.store import StateStore

    scratch = Path(tempfile.mkdtemp(prefix="skyhop-mqueue-"))
    home = scratch / "home" / ".skyhop"
    home.mkdir(parents=True, mode=0o700)
    env = scratch_env((REPO.parent / "shared" / "catalogs" / "v8").resolve(), scratch / "home")
    now = time.time()
    with StateStore(f"sqlite:///{home / 'state.db'}") as store:
        managed = ManagedJobs(store)
        entry = {"name": "scale", "user": "someone-else", "tasks": [{"run": "sleep 1"}], "resources": ["1x 1 CPU"], "pool": POOL}
        for record in managed.create([entry] * jobs):
            attempt = managed.add_attempt(record.id, 0, f"{POOL}-w{record.id % 16}", False)
            managed.update_attempt(attempt.id, provider="local", launched_at=now, agent_job_id=1)
            managed.update(record.id, status="RUNNING", started_at=now, cluster=attempt.cluster, agent_job_id=1)
    sky = skyhop_command()
    subprocess.run(sky + ["api", "start"], env=env, check=True, capture_output=True)
    try:
        api = Api(home)
        http, newest, size = [], [], 0
        for _ in range(http_samples):
            t0 = time.perf_counter()
            size = len(json.dumps(api.call("GET", "/api/v1/managed-jobs?all_users=true")))
            http.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            api.call("GET", "/api/v1/managed-jobs?all_users=true&limit=51")  # what the CLI's table asks for
            newest.append((time.perf_counter() - t0) * 1000)
        cli = []
        for _ in range(cli_samples):
            t0 = time.perf_counter()
            subprocess.run(sky + ["jobs", "queue", "-a", "-u"], env=env, check=True, capture_output=True)
            cli.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        subprocess.run(sky + ["--help"], env=env, check=True, capture_output=True)
        help_ms = (time.perf_counter() - t0) * 1000
    finally:
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "jobs": jobs, "queue_bytes": size, "queue_http_ms": spread(http), "queue_http_newest_ms": spread(newest),
        "queue_cli_ms": spread(cli), "help_ms": round(help_ms, 1),
    }


def check_markers(rows: list[dict[str, Any]], markers: Path, submitted: int) -> dict[str, Any]:
    """Ran twice (two `start`s), never ran, and the poll gaps seen (controller's attempt end minus the job's own end)."""
    twice = never = 0
    gaps = []
    ended_at = {}
    for row in rows:
        finished = [a for a in row["attempts"] if a["outcome"] == "succeeded" and a["ended_at"]]
        if finished:
            ended_at[row["id"]] = finished[-1]["ended_at"]
    files = {p.name: p.read_text().split("\n") for p in markers.iterdir()}
    for name, lines in files.items():
        starts = [line for line in lines if line.startswith("start ")]
        twice += len(starts) > 1
        ends = [float(line.split()[1]) for line in lines if line.startswith("end ")]
        job_id = int(name.rsplit("-", 1)[1])  # skyhop-managed-<id> (skyhop.jobs.names.task_id)
        if ends and job_id in ended_at:
            gaps.append(ended_at[job_id] - ends[-1])
    never = submitted - len(files)
    return {"ran_twice": twice, "never_ran": never, "poll_gap_s": spread(gaps)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--sleep", type=float, default=300.0, help="each job's run time (long enough that all N run at once)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up (and count the rest as stuck) after this")
    parser.add_argument("--config", default=None, help="config.yaml text for the scratch home (e.g. jobs: poll_seconds)")
    parser.add_argument("--pool", type=int, default=None, metavar="WORKERS", help="run the jobs on a pool of this many 1-node workers")
    parser.add_argument("--queue-only", action="store_true", help="time `jobs queue` alone on N jobs written into a fresh store")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (logs, state.db)")
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/managed-jobs-<N>.json")
    args = parser.parse_args(argv)
    if args.queue_only:
        print(json.dumps(queue_bench(args.jobs), indent=2))
        return 0
    result = bench(args.jobs, args.sleep, args.timeout, args.config, args.keep, args.pool)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        suffix = f"-pool{args.pool}" if args.pool else ""
        (out / f"managed-jobs-{args.jobs}{suffix}.json").write_text(text + "\n")
    return 0 if result["stuck"] == 0 and result["ran_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
