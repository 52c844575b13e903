"""A small JSON-over-HTTPS client for clouds whose API is plain REST or GraphQL (Lambda, RunPod, plugins).

The standard library is enough for these APIs (one bearer token, JSON in and
out), and it keeps their SDKs out of skyhop's dependencies and import time.
Every call has a timeout; an answer is read up to a bound (a broken proxy must
not fill memory); the token travels in a header only, never in a URL, a log
line or an error message. Failures come back as `ApiError` with the HTTP
status and the decoded body, for the provider to map onto the typed errors
(`providers/errors.py`): only the provider knows which of its cloud's
messages means "no capacity".
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

from skyhop.providers.errors import ProviderError

MAX_ANSWER_BYTES = 32 * 2**20
TIMEOUT_S = 30.0


class ApiError(ProviderError):
    """The API answered with an error status (`status`), or could not be reached (`status` 0)."""

    def __init__(self, message: str, *, status: int, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class JsonApi:
    """One cloud API: its base URL, how the token is sent, and a name for messages."""

    name: str
    base_url: str
    token: str
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"  # "" sends the bare token
    timeout_s: float = TIMEOUT_S

    def __repr__(self) -> str:  # the token must never show up in a log or traceback
        return f"JsonApi({self.name!r}, {self.base_url!r})"

    def call(self, method: str, path: str, body: Any = None, *, query: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON answer of `method path` (None for an empty one); ApiError otherwise."""
        url = self.base_url.rstrip("/") + "/" + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": "skyhop"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers[self.auth_header] = f"{self.auth_scheme} {self.token}".strip()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                return _decode(answer.read(MAX_ANSWER_BYTES + 1))
        except urllib.error.HTTPError as error:
            raw = error.read(MAX_ANSWER_BYTES + 1)
            decoded = _decode(raw, strict=False)
            raise ApiError(f"{self.name} API: {method} {path} answered {error.code}: {_summary(decoded)}", status=error.code, body=decoded) from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(f"{self.name} API at {self.base_url} could not be reached: {reason}", status=0) from None


def _decode(raw: bytes, *, strict: bool = True) -> Any:
    if len(raw) > MAX_ANSWER_BYTES:
        raise ApiError(f"answer larger than {MAX_ANSWER_BYTES} bytes", status=0)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        if strict:
            raise ApiError(f"answer is not JSON: {raw[:200]!r}", status=0) from None
        return raw[:2000].decode("utf-8", "replace")


def _summary(body: Any) -> str:
    """The part of an error body a user can read: the API's own message when it has one."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            text = error.get("message") or error.get("detail") or error.get("code")
            if text:
                return str(text)[:500]
        elif isinstance(error, str):
            return error[:500]
    return json.dumps(body)[:500] if not isinstance(body, str) else body[:500]
