"""Request retention: finished requests and their event logs do not pile up forever.

Run when the server starts and then every hour: requests that finished more
than `api_server.request_retention_days` ago are deleted with their logs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("skyhop.server")
SWEEP_EVERY_S = 3600.0


def sweep(store: Any, retention_s: float, now: float | None = None) -> int:
    """Delete what finished before `now - retention_s`; returns how many requests went."""
    gone = store.delete_finished_requests((time.time() if now is None else now) - retention_s)
    for record in gone:
        try:
            os.unlink(record.log_path)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("could not remove the log of request %s: %s", record.request_id, error)
    return len(gone)


def start(store: Any, retention_s: float, stop: threading.Event, every_s: float = SWEEP_EVERY_S) -> threading.Thread:
    """Sweep now, then every `every_s` until `stop` is set (a daemon thread)."""

    def loop() -> None:
        while True:
            try:
                removed = sweep(store, retention_s)
                if removed:
                    log.info("removed %d finished request(s) older than the retention period", removed)
            except Exception:  # a failed sweep must not end the server; the next one retries
                log.exception("request retention sweep failed")
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=loop, name="request-retention", daemon=True)
    thread.start()
    return thread
