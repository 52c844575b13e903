"""Compute Engine v1 REST for one project: calls with typed errors, and waits for operations.

Plain JSON over the standard library (`providers/http.JsonApi`), with a token
from `auth.Session` per call (tokens expire; the session refreshes them).
Every mutating call returns an Operation
(https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/get,
https://cloud.google.com/compute/docs/reference/rest/v1/globalOperations/get);
`wait` polls it until `status` is DONE, reads its `error` (capacity and quota
failures arrive there, not in the HTTP status), and gives up at a deadline or
when the launch is cancelled. Polling `get` rather than the `wait` method keeps
a cancel answered within two seconds instead of within wait's two minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from skyhop.providers.errors import REGION, LaunchCancelled, ProviderError
from skyhop.providers.gcp import errors
from skyhop.providers.gcp.auth import Session
from skyhop.providers.http import ApiError, JsonApi

OPERATION_DEADLINE_S = 600.0
# Polls start quick (a firewall rule or a delete is often done in well under a second) and slow down to
# every 2 s for a VM that takes a minute: about 40 reads for a slow insert, a fast one answered at once.
FIRST_POLL_S = 0.2
MAX_POLL_S = 2.0


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Compute:
    """The Compute API of `session.project` at `endpoint`."""

    session: Session
    endpoint: str

    @property
    def project(self) -> str:
        return self.session.project

    def call(self, method: str, path: str, body: Any = None, *, query: Mapping[str, str] | None = None,
             region: str | None = None, zone: str | None = None, what: str = "", missing_ok: bool = False) -> Any:
        """`method projects/<project>/<path>`: the decoded answer, or the typed error (None for a 404 when `missing_ok`).

        A 401 gets one retry with a new token, as Google's own clients do: a token
        can be revoked or expire early, while the credentials behind it still work.
        """
        url_path = f"projects/{self.project}" + (f"/{path}" if path else "")
        for renew in (False, True):
            api = JsonApi("GCP Compute", self.endpoint, self.session.token(renew=renew))
            try:
                return api.call(method, url_path, body, query=query)
            except ApiError as error:
                if error.status == 401 and not renew:
                    continue
                if missing_ok and error.status == 404:
                    return None
                raise errors.from_http(error.status, error.body, region=region, zone=zone, what=what or f"{method} {path}") from None
        raise AssertionError("unreachable")

    def wait(self, operation: Mapping[str, Any], *, region: str | None = None, zone: str | None = None,
             cancelled: Callable[[], bool] = _never, deadline_s: float = OPERATION_DEADLINE_S) -> Mapping[str, Any]:
        """The operation once DONE; its error raised as the typed error; LaunchCancelled on cancel."""
        path = _operation_path(operation)
        deadline = time.monotonic() + deadline_s
        pause = FIRST_POLL_S
        while operation.get("status") != "DONE":
            if cancelled():
                raise LaunchCancelled(f"Cancelled while GCP ran {operation.get('operationType', 'an operation')} on {_target(operation)}.")
            if time.monotonic() >= deadline:
                raise ProviderError(f"GCP did not finish {operation.get('operationType', 'an operation')} on {_target(operation)} within {deadline_s:g} s.",
                                    scope=REGION)
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL_S)
            operation = self.call("GET", path, region=region, zone=zone, what="reading an operation")
        failure = errors.from_operation(operation, region=region, zone=zone)
        if failure is not None:
            raise failure
        return operation

    def run(self, method: str, path: str, body: Any = None, *, region: str | None = None, zone: str | None = None,
            cancelled: Callable[[], bool] = _never, what: str = "") -> Mapping[str, Any]:
        """A mutating call and the wait for its operation."""
        operation = self.call(method, path, body, region=region, zone=zone, what=what)
        return self.wait(operation, region=region, zone=zone, cancelled=cancelled)


def _operation_path(operation: Mapping[str, Any]) -> str:
    """`zones/<z>/operations/<name>` or `global/operations/<name>`, from the operation's own fields."""
    name = operation.get("name")
    if not name:
        raise ProviderError(f"GCP answered a change without an operation: {str(operation)[:200]}")
    zone = operation.get("zone")
    if zone:
        return f"zones/{str(zone).rsplit('/', 1)[-1]}/operations/{name}"
    region = operation.get("region")
    if region:
        return f"regions/{str(region).rsplit('/', 1)[-1]}/operations/{name}"
    return f"global/operations/{name}"


def _target(operation: Mapping[str, Any]) -> str:
    return str(operation.get("targetLink", "")).rsplit("/", 1)[-1] or "a resource"
