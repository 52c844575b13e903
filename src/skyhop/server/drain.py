"""Graceful shutdown (SIGTERM): a server process hands its work to its siblings and exits 0.

The steps, from the signal on:

1. `/api/v1/ready` answers 503 at once (a proxy or orchestrator stops
   routing here); this process stops adopting other processes' requests; its
   controllers stop and give their leases back at once (a sibling claims the
   managed jobs, pools and services at its next tick, not after the TTL).
2. For `drain_notice_s` the port stays open (a proxy polling /ready at that
   interval notices), then it closes: new connections go to siblings
   (SO_REUSEPORT) or other upstreams.
3. Calls in flight get `drain_s`; requests this process runs (a launch
   following its job...) get what is left of it.
4. Requests still running then are released (no owner): a sibling's next
   sweep adopts and resumes them (services/adoption.py). The process then
   exits at once, so it never runs a request alongside its new owner.

Its owner row is renewed all along, so nobody adopts its requests before
step 4 releases them.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

log = logging.getLogger("skyhop.server")


class Drain:
    """The drain of one server process (see the module doc)."""

    def __init__(self, app: Any, store: Any, executor: Any, *, drain_s: float, notice_s: float, ttl_s: float, stop_sweeping: threading.Event) -> None:
        self.app = app
        self.store = store
        self.executor = executor
        self.drain_s = drain_s
        self.notice_s = notice_s
        self.ttl_s = ttl_s
        self.stop_sweeping = stop_sweeping
        self.deadline: float | None = None
        self._beating = threading.Event()

    @property
    def started(self) -> bool:
        return self.deadline is not None

    def begin(self) -> None:
        """Step 1 (from the signal handler: nothing here blocks)."""
        self.deadline = time.monotonic() + self.notice_s + self.drain_s
        self.app.state.draining = True
        self.stop_sweeping.set()
        stop_controllers = getattr(self.app.state, "stop_controllers", None)
        if stop_controllers is not None:
            stop_controllers()
        threading.Thread(target=self._heartbeat, name="drain-heartbeat", daemon=True).start()
        log.warning("draining: ready answers 503; %.0f s notice, then %.0f s for calls and requests in flight", self.notice_s, self.drain_s)

    def _heartbeat(self) -> None:
        """Keep this process's owner row alive while it drains (its controllers, which renewed it, have stopped)."""
        from skyhop.state.controller_leases import ControllerLeases

        leases = ControllerLeases(self.store)
        while not self._beating.wait(max(0.1, self.ttl_s / 3)):
            try:
                leases.heartbeat(self.ttl_s)
            except Exception:
                log.exception("draining: heartbeat failed")

    def finish(self) -> list[str]:
        """Steps 3-4, after the HTTP server stopped: wait for requests, release the rest, leave. Returns the released ids."""
        from skyhop.state.controller_leases import ControllerLeases

        deadline = self.deadline if self.deadline is not None else time.monotonic()
        while self.executor.active() and time.monotonic() < deadline:
            time.sleep(0.05)
        released: list[str] = []
        try:
            released = self.store.release_requests(self.executor.server_owner) if self.executor.active() else []
            self._beating.set()
            ControllerLeases(self.store).leave()
        except Exception:  # the database is gone: what this process held lapses with its row, and is adopted then
            log.exception("draining: could not hand the requests over; they are adopted once this process's row lapses")
            return self.executor.active()
        if released:
            log.warning("drained: %d request(s) handed over to the other server processes: %s", len(released), ", ".join(released))
        return released


def serve(server: Any, sockets: list[Any], drain: Drain) -> list[str]:
    """Run uvicorn's `server` until SIGTERM/SIGINT, then drain (see the module doc); returns the requests handed over.

    Those may still run in this process's threads: once `drain.started`, the
    caller ends the process at once (`os._exit`), never running them beside
    their new owner.
    """

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        if drain.started:  # a second signal: no more waiting
            server.should_exit = server.force_exit = True
            return
        drain.begin()
        if drain.notice_s > 0:
            timer = threading.Timer(drain.notice_s, setattr, (server, "should_exit", True))
            timer.daemon = True
            timer.start()
        else:
            server.should_exit = True

    server.handle_exit = handle_exit
    # uvicorn re-raises the signals it caught once it stopped, under the handlers that were there before it:
    # ignored here, so the drain's last step runs instead of the default action (die at once).
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return drain.finish() if drain.started else []
