"""Concurrent `status` calls against one API server: latency, errors and the server's memory.

    .venv/bin/python benchmarks/status_load.py                        # SQLite and PostgreSQL, 100 clusters, 50 clients, 1,000 calls
    .venv/bin/python benchmarks/status_load.py --db sqlite --calls 5000
    .venv/bin/python benchmarks/status_load.py --json                 # ...and benchmarks/out/status-load.json
    .venv/bin/python benchmarks/status_load.py --mode team            # a team server: a user's token, looked up at every call

Issue 13's benchmark (SkyPilot #6079 reported 30 GB of server memory for 1,000 status calls):
a fresh SKYHOP_HOME whose state database holds `--clusters` UP clusters (written straight into
the store, on a provider whose `status` reads the store only: the calls measure the server, not a
cloud), one API server started as users start it (`skyhop api start`), then `--clients` threads
sending `--calls` `GET /api/v1/clusters` in all over keep-alive connections (each client its own),
as fast as they are answered. It reports the calls' p50/p99 latency, errors, calls per second and
the server process's peak RSS (sampled from /proc every 20 ms). PostgreSQL runs in a database of
its own on the server tests/setup_system.sh starts (`SKYHOP_TEST_PG_URL` to use another), dropped
afterwards. `--mode team` starts a team server (`api start --team`) and calls with a user's token,
which the server looks up in the database at every call; the clusters are that user's, and as many
again belong to another user (each caller's listing is filtered in SQL).

Nothing here is a unit test: numbers move with the machine's load (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from managed_jobs import percentile, rss_mib  # noqa: E402  (benchmarks/ is no package)
from run import scratch_env, skyhop_command  # noqa: E402

PG_ADMIN = "postgresql+psycopg:///postgres?host=/var/run/postgresql"
#: A provider whose clusters `status` shows from the store alone (no cheap query): the server is what is measured.
PROVIDER = "aws"


def seed(url: str, clusters: int, owners: tuple[str, ...]) -> None:
    """`clusters` UP clusters for each of `owners` (the caller first)."""
    from skyhop.state.records import ClusterRecord
    from skyhop.state.store import StateStore

    with StateStore(url) as store:
        for owner in owners:
            for i in range(clusters):
                record = ClusterRecord(
                    name=f"{owner}-{i}", provider=PROVIDER, region="us-east-1", zone="us-east-1a", num_nodes=1 + i % 4,
                    resources={"cloud": PROVIDER, "instance_type": "m6i.large", "cpus": 2, "memory_gib": 8, "use_spot": i % 3 == 0},
                    hourly_price=0.096, user=owner,
                )
                store.add_cluster(record)
            store.set_cluster_status(record.name, "UP")


def pg_database() -> tuple[str, str]:
    """(an admin URL, the URL of a new empty database)."""
    import sqlalchemy

    admin = os.environ.get("SKYHOP_TEST_PG_URL") or PG_ADMIN
    name = f"skyhop_bench_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return admin, sqlalchemy.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)


def drop_database(admin: str, url: str) -> None:
    import sqlalchemy

    name = sqlalchemy.engine.make_url(url).database
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def load(url: str, token: str, clients: int, calls: int) -> tuple[list[float], int, float]:
    """(latencies in ms, errors, wall seconds) of `calls` GETs spread over `clients` threads."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    shares = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(count: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        mine: list[float] = []
        bad = 0
        start.wait()
        for _ in range(count):
            t0 = time.perf_counter()
            try:
                connection.request("GET", "/api/v1/clusters", headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or not body.startswith(b"["):
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            mine.append((time.perf_counter() - t0) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - t0


def team_token(url: str) -> str:
    """A token of user `bench` (role user), minted straight into the store with the pepper the server will read."""
    from skyhop.state.store import StateStore
    from skyhop.state.users import Users

    with StateStore(url) as store:
        users = Users(store)
        users.create_user("bench")
        return users.mint("bench", name="status-load").secret


def bench(db: str, clusters: int, clients: int, calls: int, mode: str = "single") -> dict[str, Any]:
    from skyhop.identity import current_user

    scratch = Path(tempfile.mkdtemp(prefix="skyhop-status-load-"))
    home = scratch / "home" / ".skyhop"
    home.mkdir(parents=True, mode=0o700)
    env = scratch_env((REPO.parent / "shared" / "catalogs" / "v8").resolve(), scratch / "home")
    pepper = os.urandom(24).hex()
    env["SKYHOP_TOKEN_PEPPER"] = os.environ["SKYHOP_TOKEN_PEPPER"] = pepper
    admin = None
    if db == "postgresql":
        admin, url = pg_database()
        env["SKYHOP_DB_URL"] = url
    else:
        url = f"sqlite:///{home / 'state.db'}"
    sky = skyhop_command()
    try:
        if mode == "team":
            seed(url, clusters, ("bench", "other"))
            token = team_token(url)
            subprocess.run(sky + ["api", "start", "--team", "--port", "0", "--db", url], env=env, check=True, capture_output=True)
            info = json.loads((home / "api" / "server.json").read_text())
        else:
            seed(url, clusters, (current_user(),))  # a single-user server lists its user's clusters
            subprocess.run(sky + ["api", "start"], env=env, check=True, capture_output=True)
            info = json.loads((home / "api" / "server.json").read_text())
            token = info["token"]
        pid = int(info["pid"])
        idle_rss = rss_mib(pid)
        peak = [idle_rss]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], rss_mib(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        latencies, errors, wall = load(info["url"], token, clients, calls)
        done.set()
        sampler.join()
        after_rss = rss_mib(pid)
    finally:
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)
        if admin is not None:
            drop_database(admin, url)
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "db": db, "mode": mode, "clusters": clusters, "clients": clients, "calls": calls, "errors": errors,
        "p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
        "calls_per_s": round(calls / wall, 1), "rss_idle_mib": round(idle_rss, 1), "rss_peak_mib": round(peak[0], 1),
        "rss_after_mib": round(after_rss, 1),
    }


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    cli.add_argument("--clusters", type=int, default=100)
    cli.add_argument("--clients", type=int, default=50)
    cli.add_argument("--calls", type=int, default=1000)
    cli.add_argument("--mode", choices=("single", "team", "both"), default="both", help="single-user server, team server, or both")
    cli.add_argument("--json", action="store_true", help="also write benchmarks/out/status-load.json")
    args = cli.parse_args(argv)
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    modes = ("single", "team") if args.mode == "both" else (args.mode,)
    rows = [bench(db, args.clusters, args.clients, args.calls, mode) for mode in modes for db in dbs]
    print(f"{os.cpu_count()} CPUs; {args.clusters} clusters of the caller's, {args.clients} clients, {args.calls} status calls")
    print("| server | db | calls/s | p50 | p99 | errors | server RSS idle / peak / after |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['mode']} | {r['db']} | {r['calls_per_s']:,.0f} | {r['p50_ms']} ms | {r['p99_ms']} ms | {r['errors']} | "
              f"{r['rss_idle_mib']} / {r['rss_peak_mib']} / {r['rss_after_mib']} MiB |")
    if args.json:
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        (out / "status-load.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
