"""`python -m skyhop.serve.lb --dir DIR --host H --port P --policy NAME ...`: one service's load balancer process.

Started and stopped (SIGTERM) by the serve controller, which writes DIR/routes.json and reads
DIR/lb-stats.json. Silent on success; errors go to stderr.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from skyhop.serve.lb.ledger import DEFAULT_POLICY
from skyhop.spec.service import LOAD_BALANCING_POLICIES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m skyhop.serve.lb", description="skyhop's load balancer for one service.")
    parser.add_argument("--dir", required=True, type=Path, help="the service's LB directory (0700, ours): routes.json in, lb-stats.json out")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--policy", default=DEFAULT_POLICY, choices=LOAD_BALANCING_POLICIES)
    parser.add_argument("--service", help="the service's name, for messages (default: the directory's name)")
    parser.add_argument("--tls-keyfile", type=Path)
    parser.add_argument("--tls-certfile", type=Path)
    parser.add_argument("--wait-timeout", type=float, default=600.0, help="seconds a request waits for a first ready replica before 503")
    parser.add_argument("--idle-timeout", type=float, default=75.0, help="seconds a client connection may stay silent outside a request (a request head gets at most 30 s, or this if shorter)")
    parser.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024, help="largest request body (buffered so it can be retried)")
    return parser.parse_args(argv)


def check_directory(directory: Path) -> str | None:
    """Why DIR is unusable (missing, not ours, readable by others), or None: it holds the routes we obey."""
    try:
        info = directory.stat()
    except OSError as error:
        return f"--dir {directory}: {error.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"--dir {directory} is not a directory"
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return f"--dir {directory} must be owned by this user with mode 0700"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = check_directory(args.dir)
    if problem is None and args.tls_keyfile is not None and args.tls_certfile is None:
        problem = "--tls-keyfile needs --tls-certfile"
    if problem is not None:
        print(f"skyhop lb: {problem}", file=sys.stderr)
        return 2
    import uvloop

    from skyhop.serve.lb.proxy import Limits
    from skyhop.serve.lb.server import Options, run

    limits = Limits(max_body_bytes=args.max_body_bytes, wait_timeout=args.wait_timeout, idle_timeout=args.idle_timeout,
                    head_timeout=min(30.0, args.idle_timeout))
    options = Options(args.dir, args.host, args.port, args.policy, args.service or args.dir.resolve().name, limits, args.tls_keyfile, args.tls_certfile)
    try:
        return uvloop.run(run(options))
    except OSError as error:
        print(f"skyhop lb: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
