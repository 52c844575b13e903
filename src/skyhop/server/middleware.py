"""ASGI middleware: the API version, the bearer token (resolved to the caller's `Principal`; for dashboard pages,
the session cookie: server/dashboard/gate.py), then the request body cap.

Every answer carries the API version the server speaks (`X-Skyhop-API-Version`),
and a client that says it speaks an older API than the server accepts gets
426 (`client_too_old`) before anything else, naming what to install.
The other two answer before the body is read: a client without a valid token gets 401
without the server reading what it sent, and a body over the cap gets 413
as soon as its declared length (or, for a chunked body, the bytes read so
far) passes the limit. The cap is enforced while reading, so at most
`max_body_bytes` of a body is ever held.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Protocol

import anyio
from fastapi import FastAPI

from skyhop import __version__
from skyhop.server import api_version
from skyhop.server.auth.principal import Principal
from skyhop.server.dashboard import gate
from skyhop.server.dashboard.sessions import Sessions
from skyhop.server.error_codes import CLIENT_TOO_OLD, PAYLOAD_TOO_LARGE, UNAUTHORIZED, UNAVAILABLE

log = logging.getLogger("skyhop.server")

OPEN_PATHS = frozenset({"/api/v1/health", "/api/v1/ready", "/docs", "/openapi.json", "/docs/oauth2-redirect"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


_VERSION_HEADER = (api_version.SERVER_HEADER.lower().encode(), str(api_version.API_VERSION).encode())


async def _answer(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"code": code, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value
    return None


class Authenticator(Protocol):
    """Turns a presented bearer token into its caller, or None for a token the server does not accept."""

    blocking: bool  # True: it reads the database, so it runs off the event loop
    #: The one user a local server acts for (its controllers take only that user's work); None: a team server.
    local_user: str | None

    def principal(self, token: str) -> Principal | None: ...


class LocalToken:
    """A local server's authenticator: the one token it wrote to its own `server.json`, held by the machine's owner."""

    blocking = False

    def __init__(self, token: str, principal: Principal) -> None:
        self._token = token.encode()
        self._principal = principal
        self.local_user: str | None = principal.user

    def principal(self, token: str) -> Principal | None:
        return self._principal if hmac.compare_digest(token.encode(), self._token) else None

    @property
    def secret(self) -> str:
        """The token itself: what a job with `api_server_access` is handed (server/job_access.py)."""
        return self._token.decode()


def _bearer(scope: Scope) -> str | None:
    raw = _header(scope, b"authorization") or b""
    scheme, _, token = raw.partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    try:
        return token.strip().decode("ascii")
    except UnicodeDecodeError:
        return None


class Auth:
    """The bearer token for the API; the session cookie for the dashboard's pages (but its login page and static files)."""

    def __init__(self, app: Any, authenticator: Authenticator, sessions: Sessions) -> None:
        self.app = app
        self.authenticator = authenticator
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and gate.is_dashboard(scope["path"]):
            if not gate.is_open(scope["path"]):
                try:
                    session = await gate.admit(scope, self.sessions, self.authenticator)
                except Exception:  # the users store is unreachable: the session cannot be re-checked
                    log.exception("checking a dashboard session failed")
                    await _answer(send, 503, UNAVAILABLE, "The API server cannot check sessions right now (its database does not answer); try again shortly.")
                    return
                if session is None:
                    await gate.to_login(send, scope["method"])
                    return
                state = scope.setdefault("state", {})
                state["principal"] = session.principal
                state["dashboard_session"] = session
        elif scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            token = _bearer(scope)
            principal = None
            if token is not None:
                resolve = self.authenticator.principal
                try:
                    principal = await anyio.to_thread.run_sync(resolve, token) if self.authenticator.blocking else resolve(token)
                except Exception:  # the users store is unreachable (database down): no answer on who this is
                    log.exception("authenticating a request failed")
                    await _answer(send, 503, UNAVAILABLE, "The API server cannot check tokens right now (its database does not answer); try again shortly.")
                    return
            if principal is None:
                await _answer(send, 401, UNAUTHORIZED, "Not authenticated: a valid API token is required.")
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def too_old_detail(client: int) -> str:
    """The 426 paragraph: what the client speaks, what the server needs, and what to install."""
    return (
        f"This client speaks API {client}; the API server (skyhop {__version__}) needs API >= {api_version.MIN_CLIENT_API_VERSION}: "
        f"upgrade the client (pip install -U 'skyhop>={__version__}')."
    )


class ApiVersion:
    """Outermost: every answer, a 401 or a 413 included, says the API the server speaks; a client that sends an
    API version older than `MIN_CLIENT_API_VERSION` is refused (426) everywhere but the open paths, which it
    needs to learn what to install. A caller that sends no version (curl, another tool) is not refused."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def versioned(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), _VERSION_HEADER]}
            await send(message)

        client = api_version.parse(_header(scope, api_version.CLIENT_HEADER.lower().encode()))
        if client is not None and client < api_version.MIN_CLIENT_API_VERSION and scope["path"] not in OPEN_PATHS:
            await _answer(versioned, 426, CLIENT_TOO_OLD, too_old_detail(client))
            return
        await self.app(scope, receive, versioned)


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, send: Send) -> Awaitable[None]:
        limit_mb = self.max_bytes / (1024 * 1024)
        detail = f"The request body is larger than the API server accepts ({limit_mb:g} MiB; api_server.max_body_mb in config.yaml)."
        return _answer(send, 413, PAYLOAD_TOO_LARGE, detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        # Read the body here, counting, and replay it: chunked bodies carry no length to check up front.
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                parts = []
                replay = message  # a disconnect: let the app see it
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                replay = {"type": "http.request", "body": b"".join(parts), "more_body": False}
                break
        delivered = False

        async def replayed() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return replay
            return await receive()

        await self.app(scope, replayed, send)


def install(app: FastAPI, *, authenticator: Authenticator, sessions: Sessions, max_body_bytes: int) -> None:
    """Body cap inside, token outside it, the API version outermost (the last added runs first)."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(Auth, authenticator=authenticator, sessions=sessions)
    app.add_middleware(ApiVersion)
