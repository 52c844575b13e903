"""One LB process's life: listen, follow routes.json, write lb-stats.json each second, drain on SIGTERM.

Imported only by `python -m skyhop.serve.lb` (uvloop and httptools stay out of `import skyhop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from skyhop.serve.lb.metrics import METRICS_SOCKET, serve_metrics
from skyhop.serve.lb.proxy import Balancer, ClientConnection, Limits
from skyhop.serve.lb.routes import RoutesError, RoutesFile
from skyhop.serve.lb.stats import write_stats

ROUTES_POLL_SECONDS = 0.25
STATS_EVERY_POLLS = 4  # lb-stats.json about once a second
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Options:
    directory: Path
    host: str
    port: int
    policy: str
    service: str
    limits: Limits
    tls_keyfile: Path | None = None
    tls_certfile: Path | None = None


async def run(options: Options) -> int:
    """Serve until SIGTERM/SIGINT, then stop accepting, finish in-flight requests (up to 30 s) and return 0."""
    loop = asyncio.get_running_loop()
    context = _tls_context(options)
    balancer = Balancer(options.service, options.policy, options.limits, b"https" if context else b"http")
    routes = RoutesFile(options.directory)
    _reload(routes, balancer)
    server = await loop.create_server(lambda: ClientConnection(balancer), options.host, options.port, ssl=context, backlog=2048)
    metrics = await serve_metrics(options.directory, lambda: balancer.stats.prometheus(balancer.ledger))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ticker = loop.create_task(_tick(routes, balancer, options.directory, stop))
    try:
        await stop.wait()
        server.close()
        metrics.close()
        balancer.stop_waiting()
        await _drain(balancer)
    finally:
        ticker.cancel()
        if options.directory.is_dir():  # not when it stops because its folder is gone
            write_stats(options.directory, balancer.stats, balancer.ledger)
        with contextlib.suppress(FileNotFoundError):
            (options.directory / METRICS_SOCKET).unlink()
    return 0


async def _tick(routes: RoutesFile, balancer: Balancer, directory: Path, stop: asyncio.Event) -> None:
    polls = 0
    while True:
        if not directory.is_dir():
            # The service's folder goes with the service (`serve down`, `--purge`, a removed SKYHOP_HOME): nobody
            # is left to stop this process or read what it writes, so it stops itself rather than run on for ever.
            print(f"skyhop lb: {directory} is gone; stopping", file=sys.stderr)
            stop.set()
            return
        _reload(routes, balancer)
        if polls % STATS_EVERY_POLLS == 0:
            try:
                write_stats(directory, balancer.stats, balancer.ledger)
            except OSError as error:
                print(f"skyhop lb: cannot write stats: {error}", file=sys.stderr)
        balancer.close_silent()
        polls += 1
        await asyncio.sleep(ROUTES_POLL_SECONDS)


def _reload(routes: RoutesFile, balancer: Balancer) -> None:
    try:
        new = routes.changed()
    except RoutesError as error:
        print(f"skyhop lb: keeping the previous routes: {error}", file=sys.stderr)
        return
    if new is not None:
        balancer.set_routes(new, hold=routes.hold)


async def _drain(balancer: Balancer) -> None:
    """Close idle client connections now; busy ones close after their current response (draining sets Connection: close)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while loop.time() < deadline:
        for connection in list(balancer.connections):
            if connection.idle():
                connection.close()
        if not balancer.connections and balancer.ledger.open_count() == 0:
            return
        await asyncio.sleep(0.05)
    print(f"skyhop lb: {balancer.ledger.open_count()} requests still open after {DRAIN_SECONDS:.0f} s; exiting", file=sys.stderr)


def _tls_context(options: Options) -> ssl.SSLContext | None:
    if options.tls_certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(options.tls_certfile), str(options.tls_keyfile) if options.tls_keyfile else None)
    return context
