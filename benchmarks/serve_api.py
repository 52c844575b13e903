"""`serve up` and `serve status` at scale: N services of R replicas each, one API server without controllers.

    .venv/bin/python benchmarks/serve_api.py --services 100 --replicas 10 [--json]

The server is the real app (`create_app`) on a real port, hosted in this process with no
controllers, so that nothing launches the replicas: the rows are what `serve up` wrote (through
HTTP, timed) plus replica rows written straight into its store (as a controller would). It then
times `GET /api/v1/serve` (every service), `GET /api/v1/serve?name=` (one) over raw HTTP, and the
CLI `skyhop serve status` (a new process each time) against the same server.

Nothing here is a unit test: numbers move with the machine's load (benchmarks/README.md,
"Serve API at scale").
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from managed_jobs import Api, spread  # noqa: E402  (benchmarks/ is no package)
from run import scratch_env, skyhop_command  # noqa: E402

TASK = {"resources": {"cpus": 0.25}, "run": "python3 -m http.server 8080", "service": {"readiness_probe": "/", "replicas": 2}}


def _serve(store, token: str) -> tuple[Any, str]:
    """The app on 127.0.0.1 in a thread of this process; (the uvicorn server, its URL)."""
    import uvicorn

    from skyhop.server.app import create_app
    from skyhop.server.auth.principal import local
    from skyhop.server.middleware import LocalToken

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(create_app(store, LocalToken(token, local('bench'))), log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _ms(call: Callable[[], Any]) -> tuple[Any, float]:
    """What `call` returned, and how many milliseconds it took."""
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def bench(services: int, replicas: int, http_samples: int = 20, cli_samples: int = 6) -> dict[str, Any]:
    import os

    scratch = Path(tempfile.mkdtemp(prefix="skyhop-serve-"))
    env = scratch_env((REPO.parent / "shared" / "catalogs" / "v8").resolve(), scratch / "home")
    os.environ.update(HOME=env["HOME"], SKYHOP_HOME=env["SKYHOP_HOME"])  # this process's store and service folders
    from skyhop.state.services import Services
    from skyhop.state.store import StateStore

    token = secrets.token_urlsafe(24)
    store = StateStore()
    server, url = _serve(store, token)
    try:
        (scratch / "home" / ".skyhop" / "api").mkdir(parents=True, exist_ok=True)
        (scratch / "home" / ".skyhop" / "api" / "server.json").write_text(json.dumps({"url": url, "token": token, "pid": os.getpid()}))
        api = Api(scratch / "home" / ".skyhop")
        up = [_ms(lambda i=index: api.call("POST", "/api/v1/serve/up", {"task": TASK, "service_name": f"svc-{i}"}))[1] for index in range(services)]
        rows = Services(store)
        for index in range(services):
            for _ in range(replicas):
                rows.add_replica(f"svc-{index}", 1, use_spot=False, status="READY")
        listings = [_ms(lambda: api.call("GET", "/api/v1/serve")) for _ in range(http_samples)]
        every, size = [ms for _, ms in listings], len(json.dumps(listings[-1][0]))
        one = [_ms(lambda: api.call("GET", "/api/v1/serve?name=svc-0"))[1] for _ in range(http_samples)]
        cli_env = dict(env, SKYHOP_API_SERVER_URL=url, SKYHOP_API_TOKEN=token)
        status = skyhop_command() + ["serve", "status"]
        cli = [_ms(lambda: subprocess.run(status, env=cli_env, check=True, capture_output=True))[1] for _ in range(cli_samples)]
    finally:
        server.should_exit = True
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "services": services, "replicas_each": replicas, "status_bytes": size, "up_http_ms": spread(up),
        "status_all_http_ms": spread(every), "status_one_http_ms": spread(one), "status_cli_ms": spread(cli),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = bench(args.services, args.replicas)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
