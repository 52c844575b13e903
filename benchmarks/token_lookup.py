"""What a team server pays per request to check a token: `Users.authenticate` on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/token_lookup.py [--calls 2000] [--pg postgresql+psycopg:///postgres?host=/var/run/postgresql] [--json]

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--pg", default=DEFAULT_PG, help="an admin URL of a PostgreSQL server (a database is made and dropped); '' to skip")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
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
