"""JSON over HTTP with skyhop's own HTTP/1.1 exchange (`http1`): no third-party client, so the CLI stays light."""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urlsplit

from skyhop.client import http1
from skyhop.errors import SkyhopError
from skyhop.server import api_version

_ERROR_BODY_MAX = 1024 * 1024
_ANSWER_MAX = 256 * 1024 * 1024  # far above any list the server sends (jobs queue pages 50 rows by default)


class ServerUnreachable(SkyhopError):
    """The API server did not answer."""


class Unauthorized(SkyhopError):
    """The server refused the token (HTTP 401): missing, wrong, revoked, expired, or its user disabled."""


class InvalidRequest(SkyhopError):
    """The server refused the request's shape (a 422): `fields` are the offending fields as the API spells them.

    Those spellings are the request body's (`body.tasks.0.run`, `body.name`),
    which is not what the caller wrote; `renamed` gives the same error in the
    caller's words (the task file's `run`, the CLI's `--name`).
    """

    def __init__(self, detail: str, fields: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields

    def renamed(self, rename: Callable[[str], str]) -> InvalidRequest:
        detail = self.detail
        for field in sorted(set(self.fields), key=len, reverse=True):  # `body.name` must not eat `body.name_x`
            detail = detail.replace(f"{field}: ", f"{rename(field)}: ")
        return InvalidRequest(detail, tuple(rename(field) for field in self.fields))


def _headers(endpoint) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", api_version.CLIENT_HEADER: str(api_version.API_VERSION)}
    if endpoint.token:
        headers["Authorization"] = f"Bearer {endpoint.token}"
    workspace = active_workspace()
    if workspace:
        headers[WORKSPACE_HEADER] = workspace
    return headers


#: Which of the caller's workspaces new clusters, jobs and services go to (a team server checks membership).
WORKSPACE_HEADER = "X-Skyhop-Workspace"


@functools.cache
def active_workspace() -> str | None:
    """`SKYHOP_WORKSPACE`, else config.yaml's `active_workspace` (SkyPilot's key), else None: the server's default for the
    caller. Read once per process."""
    chosen = os.environ.get("SKYHOP_WORKSPACE")
    if chosen is None:
        from skyhop import paths

        try:
            text = paths.config_file().read_bytes()
        except OSError:
            text = b""
        if b"active_workspace" in text:  # parsing YAML costs ~35 ms: only for a file that can hold the key
            from skyhop.config import load_config

            chosen = load_config().get("active_workspace")
    if chosen is not None and not (isinstance(chosen, str) and chosen.isprintable() and 0 < len(chosen) <= 255):
        raise SkyhopError(f"The active workspace must be a workspace name, got {chosen!r} (SKYHOP_WORKSPACE or config.yaml's active_workspace).")
    return chosen or None


#: How long a retried call waits first: a restarting or draining server's socket is gone, a sibling's answers.
RETRY_PAUSE_S = 0.3


def _unanswered(error: OSError) -> bool:
    """Whether the call surely never reached a server that acted on it: refused, reset or closed before any answer."""
    return isinstance(error, (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http1.NoAnswer))


def open_response(
    endpoint, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None, timeout: float | None = None,
    retry: bool | None = None,
) -> http1.Response:
    """Send one call and read the answer's head (an error answer raises its exception).

    A call the server never answered (connection refused or reset, closed
    before a byte came back: a server process killed or draining, with a
    sibling on the same port or behind the same proxy) is sent once more when
    `retry` (default: GET calls only). A POST is retried only when it carries
    an idempotency key (the submission's `request_id`), so a retry can never
    start a second request; a call that timed out is never retried.
    """
    parts = urlsplit(endpoint.url)
    query = "?" + urlencode([(k, v) for k, v in _flatten(params or {})]) if params else ""
    retries = 1 if (method == "GET" if retry is None else retry) else 0
    response = None
    for attempt in range(retries + 1):
        try:
            response = http1.exchange(
                parts.scheme, parts.hostname or "127.0.0.1", parts.port, method, parts.path.rstrip("/") + path + query, _headers(endpoint),
                None if body is None else json.dumps(body).encode(), timeout,
            )
            break
        except OSError as error:
            if attempt < retries and _unanswered(error):
                import time

                time.sleep(RETRY_PAUSE_S)
                continue
            raise ServerUnreachable(f"Cannot reach the skyhop API server at {endpoint.url}: {error}.") from None
        except ValueError as error:
            raise SkyhopError(f"Could not send the request to the API server: {error}.") from None
    assert response is not None
    if 300 <= response.status < 400:  # never followed: the Authorization header would go wherever Location says
        response.close()
        where = response.headers.get("location", "elsewhere")
        raise SkyhopError(f"The API server at {endpoint.url} redirects to {where[:300]} (HTTP {response.status}), and skyhop does not follow "
                          "redirects with your token: use the address it redirects to (e.g. the https:// one) as the server URL.")
    if response.status >= 400:
        try:
            raw = response.read(_ERROR_BODY_MAX)
        except OSError:
            raw = b""
        response.close()
        raise _error(endpoint, response.status, raw)
    notice = response.headers.get("x-skyhop-notice")
    if notice:
        _keep_notices(notice)
    return response


#: Budget notices the server sent with its answers in this process (`X-Skyhop-Notice`), for the CLI to show once.
NOTICES: list[dict[str, Any]] = []


def _keep_notices(raw: str) -> None:
    try:
        found = json.loads(raw)
    except ValueError:
        return
    for notice in found if isinstance(found, list) else ():
        if isinstance(notice, dict) and isinstance(notice.get("text"), str) and notice not in NOTICES:
            NOTICES.append(notice)


def _error(endpoint, status: int, raw: bytes) -> SkyhopError:
    """The exception the server raised, rebuilt from the answer's `code` (see docs/json-output.md)."""
    from skyhop.server import error_codes  # the error path only: it imports every error family (~10 ms)

    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):  # not our server's answer (a proxy's error page...)
        return SkyhopError(f"The API server at {endpoint.url} answered HTTP {status}: {raw.decode(errors='replace')[:500]}")
    detail, code = str(body.get("detail")), body.get("code")
    if code == error_codes.UNAUTHORIZED:
        return Unauthorized(f"The API server at {endpoint.url} refused the request: {detail} (check SKYHOP_API_TOKEN, "
                            "or log in again with `skyhop api login URL`).")
    fields = body.get("fields")
    if code == error_codes.INVALID_REQUEST and isinstance(fields, list) and all(isinstance(f, str) for f in fields) and fields:
        return InvalidRequest(detail, tuple(fields))
    return error_codes.error_for(code if isinstance(code, str) else None, detail)


def _flatten(params: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for item in value:
                yield key, item
        elif isinstance(value, bool):
            yield key, "true" if value else "false"
        else:
            yield key, value


def call(
    endpoint, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None, timeout: float | None = 120,
    expect: str | None = None, retry: bool | None = None,
) -> Any:
    """One JSON exchange. An answer that breaks off, is not JSON or is larger than any of the server's
    (`_ANSWER_MAX`: a hostile or broken server would otherwise fill the memory) is one sentence, and so is
    one whose top level is not what `expect` says (`records`: a list of objects; `record`: an object),
    which the callers would otherwise trip over in the middle of printing it."""
    response = open_response(endpoint, method, path, params=params, body=body, timeout=timeout, retry=retry)
    try:
        raw = response.read(_ANSWER_MAX + 1)
    except OSError as error:
        raise ServerUnreachable(f"The API server at {endpoint.url} broke off its answer: {error}.") from None
    finally:
        response.close()
    if len(raw) > _ANSWER_MAX:
        raise SkyhopError(f"The API server at {endpoint.url} answered more than {_ANSWER_MAX >> 20} MiB; that is not a skyhop API server's answer.")
    try:
        answer = json.loads(raw or b"null")
    except ValueError:
        raise SkyhopError(f"The API server at {endpoint.url} answered something that is not JSON: {raw[:200].decode(errors='replace')!r}.") from None
    if expect is not None and not _fits(answer, expect):
        wanted = "a list of records" if expect == "records" else "a record"
        raise SkyhopError(
            f"The API server at {endpoint.url} answered {path} with {raw[:200].decode(errors='replace')!r}, not {wanted}: "
            "that is not what a skyhop API server of this version sends (check SKYHOP_API_SERVER_URL)."
        )
    return answer


def _fits(answer: Any, expect: str) -> bool:
    if expect == "record":
        return isinstance(answer, dict)
    return isinstance(answer, list) and all(isinstance(row, dict) for row in answer)


def health(endpoint, timeout: float = 2.0) -> dict[str, Any] | None:
    """The server's health answer (its versions: client/versions.py), or None when it does not answer that it is ok."""
    try:
        answer = call(endpoint, "GET", "/api/v1/health", timeout=timeout, expect="record")
    except SkyhopError:
        return None
    return answer if answer.get("ok") else None
