"""What a team server pays per request to check a token: `Users.authenticate` on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/token_lookup.py [--calls 2000] [--pg postgresql+psycopg:///postgres?host=/var/run/postgresql] [--json]
    .venv/bin/python benchmarks/token_lookup.py --http [--calls 1000]

`--http` instead times `GET /api/v1/whoami` over one kept-alive connection against two real server
processes on SQLite, a single-user one (its token compared in memory on the event loop) and a
`--team` one (the lookup, on a worker thread): the difference is what team mode adds per request.

Each call is what the middleware runs for every request of a team server (TeamTokens): one query
by the token's primary key joining its user and memberships, an HMAC-SHA256 and a constant-time
compare; no cache, so revocation is at once. `last_used_at` is written at most once a minute, so the
steady state timed here is read-only (the first call, which writes it, is left out). For scale, the
same number of `StateStore.get_cluster` calls (an ORM primary-key read on a fresh session: the
plan's 0.42/1.43 ms stand-in) and of the HMAC alone. PostgreSQL runs on a database made for the
run and dropped after. Numbers move with the machine's load (benchmarks/README.md, "Token lookup").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_PG = "postgresql+psycopg:///postgres?host=/var/run/postgresql"


def timed(calls: int, call: Callable[[], object]) -> dict[str, float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 4), "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 4),
            "mean_ms": round(statistics.fmean(samples), 4)}


def measure(url: str, calls: int) -> dict[str, Any]:
    import hashlib
    import hmac

    from skyhop.state.records import ClusterRecord
    from skyhop.state.store import StateStore
    from skyhop.state.users import Users

    with StateStore(url) as store:
        users = Users(store, b"p" * 32)
        users.create_user("alice")
        for extra in range(3):
            users.create_workspace(f"w{extra}")
            users.add_member(f"w{extra}", "alice")
        token = users.mint("alice").secret
        for _ in range(50):  # other users' tokens, so the table is not a single row
            users.mint("alice")
        assert users.authenticate(token) is not None  # writes last_used_at: the next minute is read-only
        store.add_cluster(ClusterRecord(name="c1", provider="p", region="r", num_nodes=1, resources={}, handle={}, hourly_price=0.0, user="alice"))
        return {
            "authenticate": timed(calls, lambda: users.authenticate(token)),
            "refused (wrong secret)": timed(calls, lambda: users.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B"))),
            "get_cluster (PK read, ORM)": timed(calls, lambda: store.get_cluster("c1")),
            "hmac alone": timed(calls, lambda: hmac.new(b"p" * 32, token.encode(), hashlib.sha256).digest()),
        }


def _server(home: Path, *args: str) -> tuple[Any, str, str]:
    """A real server process in `home`: (process, host:port, a token it accepts)."""
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "SKYHOP_HOME": str(home)}
    out = home / "out"
    home.mkdir(parents=True)
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "skyhop.server", "--port", "0", *args], env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    info = home / "api" / "server.json"
    deadline = time.monotonic() + 120
    while not info.exists() or ("--team" in args and "listening" not in out.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the server did not start: {out.read_text()}")
        time.sleep(0.05)
    data = json.loads(info.read_text())
    token = data.get("token") or re.search(r"shp_\S+", out.read_text()).group(0)  # type: ignore[union-attr]
    return proc, data["url"].removeprefix("http://"), token


def measure_http(calls: int) -> dict[str, Any]:
    import http.client

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for mode, args in (("single-user", ()), ("team", ("--team",))):
            proc, where, token = _server(Path(scratch) / mode, *args)
            try:
                host, port = where.split(":")
                conn = http.client.HTTPConnection(host, int(port), timeout=30)
                headers = {"Authorization": f"Bearer {token}"}

                def whoami() -> None:
                    conn.request("GET", "/api/v1/whoami", headers=headers)
                    answer = conn.getresponse()
                    answer.read()
                    assert answer.status == 200, answer.status

                for _ in range(50):
                    whoami()
                results[mode] = timed(calls, whoami)
                conn.close()
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pg", default=DEFAULT_PG, help="an admin URL of a PostgreSQL server (a database is made and dropped); '' to skip")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--http", action="store_true", help="time GET /api/v1/whoami on a single-user and a team server instead")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    if args.http:
        results["whoami over HTTP"] = measure_http(args.calls)
        print(json.dumps(results, indent=2) if args.json else "\n".join(
            f"{mode:<12} median {n['median_ms']:.3f} ms  p99 {n['p99_ms']:.3f} ms  mean {n['mean_ms']:.3f} ms"
            for mode, n in results["whoami over HTTP"].items()))
        return
    with tempfile.TemporaryDirectory() as scratch:
        results["sqlite"] = measure(f"sqlite:///{Path(scratch) / 'state.db'}", args.calls)
    if args.pg:
        import sqlalchemy
        from sqlalchemy.engine import make_url

        admin = sqlalchemy.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        name = f"skyhop_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            results["postgresql"] = measure(make_url(args.pg).set(database=name).render_as_string(hide_password=False), args.calls)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for backend, rows in results.items():
        print(backend)
        for what, numbers in rows.items():
            print(f"  {what:<28} median {numbers['median_ms']:.3f} ms  p99 {numbers['p99_ms']:.3f} ms  mean {numbers['mean_ms']:.3f} ms")


if __name__ == "__main__":
    main()
