"""The dashboard's door, used by the authenticating middleware (server/middleware.py).

Under `/dashboard/` only the login page and the static files are open; every
other page needs a valid session cookie, which this turns into the caller's
`Principal` exactly where the bearer token is turned into one for the API, so
routes read the caller the same way (`deps.Caller`). A browser without a
session is sent to the login page (303), never shown a JSON 401.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio

from skyhop.server.auth.principal import Principal, Role
from skyhop.server.dashboard.sessions import COOKIE, Session, Sessions

PREFIX = "/dashboard"
LOGIN = "/dashboard/login"
STATIC = "/dashboard/static/"


def is_dashboard(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def is_open(path: str) -> bool:
    return path == LOGIN or path.startswith(STATIC)


def _cookie(scope: dict[str, Any]) -> str | None:
    from starlette.requests import cookie_parser

    for key, value in scope.get("headers") or ():
        if key.lower() == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if found:
                return found
    return None


async def admit(scope: dict[str, Any], sessions: Sessions, authenticator: Any) -> Session | None:
    """The request's session, or None.

    An authenticator with `session_principal(principal) -> Principal | None` decides whether the session
    still stands and with which role. Without one, a session that logged in with a stored token
    (`token_id`: team mode) is checked against the tokens and users tables (`token_standing`), so a
    revoked or expired token, or a disabled user, ends its sessions at once; the local server's own
    token (no id) has nothing to re-check: its signed claims hold until the cookie expires."""
    session = sessions.verify(_cookie(scope))
    if session is None:
        return None
    refresh = getattr(authenticator, "session_principal", None)
    if refresh is not None:
        blocking = authenticator.blocking
    elif session.principal.token_id is not None:
        store = scope["app"].state.store
        refresh, blocking = (lambda p: token_standing(store, p)), True
    else:
        return session
    principal = await anyio.to_thread.run_sync(refresh, session.principal) if blocking else refresh(session.principal)
    return None if principal is None else dataclasses.replace(session, principal=principal)


def token_standing(store, principal: Principal) -> Principal | None:
    """The principal with its user's current role, or None when its token is gone, revoked or expired, or its user disabled."""
    import time

    from sqlalchemy import select

    from skyhop.state.models import Token, User

    query = (select(Token.revoked_at, Token.expires_at, User.role, User.disabled_at)
             .join(User, User.id == Token.user_id).where(Token.id == principal.token_id))
    with store._read() as session:
        row = session.execute(query).one_or_none()
    if row is None or row.revoked_at is not None or row.disabled_at is not None or (row.expires_at is not None and row.expires_at <= time.time()):
        return None
    try:
        return dataclasses.replace(principal, role=Role(row.role))
    except ValueError:
        return None


async def to_login(send: Any, method: str) -> None:
    """303 to the login page for a page load; 401 for anything else (a form post or a stream of an ended session)."""
    status = 303 if method in ("GET", "HEAD") else 401
    body = b"" if status == 303 else b"Your dashboard session has ended; log in again at /dashboard/login."
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    if status == 303:
        headers.append((b"location", LOGIN.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
