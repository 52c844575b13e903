"""GCP credentials -> a bearer token and a project, through google-auth.

google-auth is the one GCP package skyhop uses (docs/architecture.md says
why): it reads the credentials the user already has, in Google's documented
order (`GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's application default
credentials), signs a service account's JWT assertion or refreshes a user's
token, and posts it to the token endpoint the credentials name. Its token
requests go through the small urllib transport below, so neither `requests`
nor `urllib3` is needed. Imported inside functions only: `import skyhop`
stays free of it.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from skyhop.providers.credentials import check_cloud
from skyhop.providers.errors import AuthError

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Any
    data: bytes


def _transport() -> Any:
    """A google-auth `transport.Request` over urllib (the interface is `__call__(url, method, body, headers, timeout)`)."""
    from google.auth import exceptions, transport

    class UrllibRequest(transport.Request):
        def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
            request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            try:
                with urllib.request.urlopen(request, timeout=timeout or TOKEN_TIMEOUT_S) as answer:
                    return _Answer(answer.status, answer.headers, answer.read(2**20))
            except urllib.error.HTTPError as error:
                return _Answer(error.code, error.headers, error.read(2**20))
            except (urllib.error.URLError, OSError) as error:
                raise exceptions.TransportError(f"{url}: {getattr(error, 'reason', error)}") from None

    return UrllibRequest()


@dataclass
class Session:
    """Credentials for one project; `token()` refreshes them when they expire (an hour for Google's tokens)."""

    credentials: Any
    project: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token(self, *, renew: bool = False) -> str:
        """A valid token; `renew` gets a new one even if this one has not expired (the API refused it)."""
        from google.auth import exceptions

        with self._lock:
            if renew or not self.credentials.valid:
                try:
                    self.credentials.refresh(_transport())
                except (exceptions.RefreshError, exceptions.TransportError) as error:
                    raise AuthError(f"GCP did not grant a token for the credentials: {_first_line(error)}. "
                                    "Check them (`gcloud auth application-default login`, or the service account key), then run `skyhop check`.") from None
            return str(self.credentials.token)


_sessions: dict[tuple[str, str, str | None], Session] = {}
_sessions_lock = threading.Lock()


def session(project_id: str | None) -> Session:
    """The session for these credentials and project, kept for the process: its token serves every call until it expires."""
    import os

    from skyhop import paths

    key = (str(paths.home()), os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", ""), project_id)
    with _sessions_lock:
        kept = _sessions.get(key)
    if kept is not None:
        return kept
    made = open_session(project_id)
    with _sessions_lock:
        return _sessions.setdefault(key, made)


def open_session(project_id: str | None) -> Session:
    """The user's GCP credentials, for `project_id` or the project the credentials name; AuthError when there are none."""
    found = check_cloud("gcp")
    if not found.enabled:
        raise AuthError(f"No GCP credentials: {found.reason}.")
    import google.auth
    from google.auth import exceptions

    try:
        credentials, project = google.auth.default(scopes=[SCOPE])
    except (exceptions.DefaultCredentialsError, ValueError, AttributeError, TypeError) as error:  # a key file of the wrong shape
        raise AuthError(f"The GCP credentials cannot be used: {_first_line(error)}") from None
    project = project_id or project
    if not project:
        raise AuthError("The GCP credentials name no project: set `gcp.project_id` in config.yaml (or `GOOGLE_CLOUD_PROJECT`).")
    return Session(credentials, str(project))


def _first_line(error: BaseException) -> str:
    """google-auth's message without the token endpoint's raw answer beyond its first line."""
    text = str(error.args[0] if error.args else error)
    return text.splitlines()[0][:300] if text else type(error).__name__
