"""The REST API's version: one integer, separate from the package version, and the oldest peer each side accepts.

`API_VERSION` is bumped on a breaking change only (a route or field removed
or renamed, a type narrowed, a meaning changed); additive changes (a new
route, a new optional field, a new error code) keep it. The server refuses
clients older than `MIN_CLIENT_API_VERSION` (426, code `client_too_old`), the
client refuses servers older than `MIN_SERVER_API_VERSION`. Stdlib only and
no imports: the client reads it on every command.
"""

from __future__ import annotations

#: The API this code speaks (server) and sends (client).
API_VERSION = 1
#: The oldest client API the server answers; raise it only with API_VERSION, when old clients would misread answers.
MIN_CLIENT_API_VERSION = 1
#: The oldest server API this client can use (a server older than the versioning itself reports none: 0).
MIN_SERVER_API_VERSION = 1

#: On every answer of the server: the API it speaks.
SERVER_HEADER = "X-Skyhop-API-Version"
#: On every call of the client: the API it speaks (absent: not skyhop's client, never refused for it).
CLIENT_HEADER = "X-Skyhop-Client-API-Version"


def parse(value: object) -> int | None:
    """An API version as sent in a header or a health answer, or None when it is not a small non-negative integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 1_000_000 else None
    if isinstance(value, (str, bytes)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text = text.strip()
        if text.isascii() and text.isdigit() and len(text) <= 6:
            return int(text)
    return None
