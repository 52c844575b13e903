"""The `X-Skyhop-Notice` header: the caller's budget warnings, on the answers the CLI already asks for.

The CLI shows a budget's 80% warning (or its refusal to come) after `launch`,
`jobs launch` and `status`. Asking a route for it would add a round trip to
`status`, the most frequent call there is; instead this middleware adds the
caller's notices (services/budgets.py `notices`: two small queries, memoized
like the spend) as a JSON list, ASCII-only, to the successful answers of
those three routes. Every other answer is untouched, and a server without
budgets pays one memoized query per such call.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from skyhop.server.middleware import Receive, Scope, Send

HEADER = b"x-skyhop-notice"
#: (method, path) of the answers that carry the header: cluster launch/start requests, `jobs launch`, `status`.
PATHS = frozenset({("POST", "/api/v1/requests"), ("POST", "/api/v1/managed-jobs"), ("GET", "/api/v1/clusters")})


class NoticeHeader:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in PATHS:
            await self.app(scope, receive, send)
            return
        principal = (scope.get("state") or {}).get("principal")
        store = getattr(scope["app"].state, "store", None) if "app" in scope else None

        async def with_notice(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400 and principal is not None and store is not None:
                # Most calls find the notices memoized: encoded here, with no hop to a worker thread (which cost
                # `status` under 50 clients about a fifth of its rate: benchmarks/status_load.py).
                remembered = _remembered(principal)
                value = remembered if remembered is not None else await anyio.to_thread.run_sync(_value, store, principal)
                if value:
                    message = dict(message, headers=[*message.get("headers", []), (HEADER, value)])
            await send(message)

        await self.app(scope, receive, with_notice)


def _remembered(principal) -> bytes | None:
    """The header's value from the memo (b"" for none), or None when the notices must be read again."""
    from skyhop.server.services.budgets import remembered_notices

    found = remembered_notices(principal)
    return None if found is None else _encoded(found) or b""


def _value(store, principal) -> bytes | None:
    from skyhop.server.services.budgets import cached_notices

    try:
        found = cached_notices(store, principal)
    except Exception:  # a notice must never break the answer it rides on
        return None
    return _encoded(found)


def _encoded(found: list[dict[str, Any]]) -> bytes | None:
    if not found:
        return None
    return json.dumps([{k: n[k] for k in ("budget_id", "month", "kind", "text")} for n in found], ensure_ascii=True, separators=(",", ":")).encode("ascii")
