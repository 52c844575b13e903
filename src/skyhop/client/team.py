"""Team mode over HTTP: who am I, logging in, and the admin verbs (users, tokens, workspaces).

What `skyhop api login|info`, `skyhop users|tokens|workspaces` call; the
routes are server/routers/{whoami,users,tokens,workspaces}.py.
"""

from __future__ import annotations

from typing import Any

from skyhop.client import http
from skyhop.client.api import _segment, _server
from skyhop.client.server_process import Endpoint
from skyhop.errors import SkyhopError

_ADMIN = "/api/v1/admin"


def whoami(endpoint: Endpoint | None = None) -> dict[str, Any]:
    """Who the server takes this client for: user, role, workspaces, token id, the server's mode and version."""
    return http.call(endpoint or _server(), "GET", "/api/v1/whoami", expect="record")


def login(url: str, token: str) -> dict[str, Any]:
    """Check `token` at the server of `url` (`whoami`), then store both (client/remote.py); whoami's answer."""
    from skyhop.client import remote

    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise SkyhopError(f"{url[:200]!r} is not an API server URL: give it as http://HOST:PORT or https://HOST.")
    token = token.strip()
    if not token:
        raise SkyhopError("No token given: nothing was saved. An admin makes one with `skyhop tokens create --user YOU`.")
    try:
        who = whoami(Endpoint(url, token))
    except http.Unauthorized:
        raise SkyhopError(f"The API server at {url} did not accept this token (wrong, revoked or expired, or its user is disabled); "
                          "nothing was saved. Ask an admin for a new one (`skyhop tokens create --user YOU`).") from None
    remote.write(remote.Login(url, token, str(who.get("user"))))
    return {"url": url, **who}


def create_user(user_id: str, *, role: str = "user", kind: str = "human", display_name: str | None = None) -> dict[str, Any]:
    body = {"id": user_id, "role": role, "kind": kind, "display_name": display_name}
    return http.call(_server(), "POST", f"{_ADMIN}/users", body=body, expect="record")


def list_users() -> list[dict[str, Any]]:
    return http.call(_server(), "GET", f"{_ADMIN}/users", expect="records")


def set_role(user_id: str, role: str) -> dict[str, Any]:
    return http.call(_server(), "PUT", f"{_ADMIN}/users/{_segment(user_id)}/role", body={"role": role}, expect="record")


def disable_user(user_id: str) -> dict[str, Any]:
    return http.call(_server(), "POST", f"{_ADMIN}/users/{_segment(user_id)}/disable", expect="record")


def enable_user(user_id: str) -> dict[str, Any]:
    return http.call(_server(), "POST", f"{_ADMIN}/users/{_segment(user_id)}/enable", expect="record")


def create_token(*, name: str | None = None, user: str | None = None, expires_in_s: float | None = None) -> dict[str, Any]:
    """A new token; the answer's `token` is the only time the server shows it."""
    body = {"name": name, "user": user, "expires_in_s": expires_in_s}
    return http.call(_server(), "POST", f"{_ADMIN}/tokens", body=body, expect="record")


def list_tokens(*, user: str | None = None, all_users: bool = False) -> list[dict[str, Any]]:
    return http.call(_server(), "GET", f"{_ADMIN}/tokens", params={"user": user, "all_users": all_users or None}, expect="records")


def revoke_token(token_id: str) -> dict[str, Any]:
    return http.call(_server(), "DELETE", f"{_ADMIN}/tokens/{_segment(token_id)}", expect="record")


def create_workspace(name: str, description: str | None = None) -> dict[str, Any]:
    return http.call(_server(), "POST", f"{_ADMIN}/workspaces", body={"name": name, "description": description}, expect="record")


def list_workspaces() -> list[dict[str, Any]]:
    return http.call(_server(), "GET", f"{_ADMIN}/workspaces", expect="records")


def delete_workspace(name: str) -> dict[str, Any]:
    return http.call(_server(), "DELETE", f"{_ADMIN}/workspaces/{_segment(name)}", expect="record")


def add_member(workspace: str, user: str, role: str = "member") -> dict[str, Any]:
    path = f"{_ADMIN}/workspaces/{_segment(workspace)}/members/{_segment(user)}"
    return http.call(_server(), "PUT", path, body={"role": role}, expect="record")


def remove_member(workspace: str, user: str) -> dict[str, Any]:
    return http.call(_server(), "DELETE", f"{_ADMIN}/workspaces/{_segment(workspace)}/members/{_segment(user)}", expect="record")
