"""Long operations as requests: run in background threads, logged, cancellable.

A request outlives the HTTP call that made it: its events go to a log file a
client can re-attach to, and a client that goes away (Ctrl-C) leaves it
running. Cancelling sets a flag the operation checks between phases; the
operation then removes what it created.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skyhop import paths
from skyhop.errors import ConflictError, SkyhopError
from skyhop.execution.progress import Progress, RequestCancelled
from skyhop.server.error_codes import INTERNAL, code_of
from skyhop.state.errors import RequestExistsError

log = logging.getLogger("skyhop.server")



@dataclass(frozen=True, slots=True)
class Owner:
    """Whom a request acts for: its caller when submitted, read back from the request's row when resumed."""

    user: str
    workspace: str | None = None


Operation = Callable[[dict[str, Any], Progress, Owner], Any]

# Requests that may follow a job for hours get their own pool, so they can never
# leave `stop`/`down` waiting for a free thread.
FOLLOWING = frozenset({"launch", "exec"})


class Executor:
    def __init__(
        self, store, operations: dict[str, Operation], workers: int = 64, lifecycle_workers: int = 16, log_max_bytes: int | None = None,
        server_owner: str | None = None,
    ) -> None:
        from skyhop.state.controller_leases import OwnerId

        self.store = store
        #: This process as the owner of the requests it runs (`host:pid:start`, the name of its controllers' owner row).
        self.server_owner = server_owner or str(OwnerId.of_this_process())
        self.operations = operations
        self.log_max_bytes = log_max_bytes
        self._following = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="request")
        self._lifecycle = ThreadPoolExecutor(max_workers=lifecycle_workers, thread_name_prefix="lifecycle")
        self._running: dict[str, Progress] = {}
        self._lock = threading.Lock()

    def submit(
        self, name: str, body: dict[str, Any], *, stored_body: dict[str, Any], cluster: str | None, owner: Owner, request_id: str | None = None,
    ) -> str:
        """Record and start a request; returns its id.

        `request_id` is the client's idempotency key: a retried submission
        (the first one's answer was lost with a server process) finds its
        request and gets its id back instead of starting it twice; the same id
        with another request is a conflict.
        """
        if name not in self.operations:
            raise SkyhopError(f"Unknown request type '{name}'. Known: {', '.join(sorted(self.operations))}.")
        if request_id is not None:
            existing = self.store.get_request(request_id)
            if existing is not None:
                return _same(existing, name, stored_body, owner)
        request_id = request_id or uuid.uuid4().hex
        log_path = paths.api_dir() / "requests" / f"{request_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.touch()
        try:
            self.store.create_request(
                name, stored_body, cluster=cluster, user=owner.user, workspace=owner.workspace, log_path=str(log_path), request_id=request_id,
                server_owner=self.server_owner,
            )
        except RequestExistsError:  # the same key submitted twice at once: the other submission runs it
            existing = self.store.get_request(request_id)
            if existing is None:
                raise
            return _same(existing, name, stored_body, owner)
        self._start(request_id, name, body, owner, Progress(log_path, max_bytes=self.log_max_bytes), self.operations[name])
        return request_id

    def resume(self, record, operation: Operation, note: str) -> None:
        """Run a request a dead server left unfinished again, under its id and on its log.

        The caller has adopted it (`StateStore.adopt_request`). The log is
        opened for appending, so the operation sees what the request recorded
        before (`Progress.recorded`: a launch's attempts, its submitted job)
        and a client re-attaching reads the whole story, `note` included.
        """
        progress = Progress(Path(record.log_path), max_bytes=self.log_max_bytes)
        progress.info(note)
        owner = Owner(record.user or "unknown", record.workspace)
        self._start(record.request_id, record.name, record.body, owner, progress, operation)

    def _start(self, request_id: str, name: str, body: dict[str, Any], owner: Owner, progress: Progress, operation: Operation) -> None:
        with self._lock:
            self._running[request_id] = progress
        pool = self._following if name in FOLLOWING else self._lifecycle
        pool.submit(self._run, request_id, name, body, owner, progress, operation)

    def _run(self, request_id: str, name: str, body: dict[str, Any], owner: Owner, progress: Progress, operation: Operation) -> None:
        started = self.store.start_request(request_id, os.getpid(), self.server_owner)  # a resumed RUNNING request stays as it is
        try:
            if started.status != "RUNNING":
                return  # ended while queued (e.g. cancelled)
            progress.check_cancelled()
            result = operation(body, progress, owner)
        except RequestCancelled as error:
            self.store.finish_request(request_id, "CANCELLED", error=str(error), error_code=code_of(error))
        except SkyhopError as error:
            self.store.finish_request(request_id, "FAILED", error=str(error), error_code=code_of(error))
        except BaseException as error:  # a bug: keep the server alive, tell the user where to look
            log.error("request %s (%s) failed:\n%s", request_id, name, traceback.format_exc())
            self.store.finish_request(
                request_id,
                "FAILED",
                error=f"Internal error in the API server ({type(error).__name__}: {error}); details in {paths.api_dir() / 'server.log'}.",
                error_code=INTERNAL,
            )
        else:
            self.store.finish_request(request_id, "SUCCEEDED", result=result)
        finally:
            # No longer active before the close wakes followers: they then read the final record.
            with self._lock:
                self._running.pop(request_id, None)
            progress.close()

    def is_active(self, request_id: str) -> bool:
        """Queued or running in this process (cheap: no database read)."""
        with self._lock:
            return request_id in self._running

    def listen(self, request_id: str, callback: Callable[[], None]) -> Callable[[], None] | None:
        """Have `callback` called on each event of a request running here, and when it ends (see `Progress.listen`).

        Returns the way to stop listening, or None when the request does not run in this process.
        """
        with self._lock:
            progress = self._running.get(request_id)
        return progress.listen(callback) if progress is not None else None

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            progress = self._running.get(request_id)
        if progress is None:
            return False
        progress.cancel_event.set()
        return True

    def active(self) -> list[str]:
        """Ids of the requests queued or running in this process now."""
        with self._lock:
            return list(self._running)

    def shutdown(self) -> None:
        for pool in (self._following, self._lifecycle):
            pool.shutdown(wait=False, cancel_futures=True)


def _same(existing, name: str, stored_body: dict[str, Any], owner: Owner) -> str:
    """The id of `existing` if it is the request submitted again (same type, body and caller), else a conflict."""
    if (existing.name, existing.body, existing.user, existing.workspace) != (name, stored_body, owner.user, owner.workspace):
        raise ConflictError(
            f"Request id {existing.request_id} is taken by another request; a client sends a fresh id with each new submission."
        )
    return existing.request_id
