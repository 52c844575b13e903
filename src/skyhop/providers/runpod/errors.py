"""RunPod API failures -> skyhop's typed provider errors, with the scope each rules out.

RunPod's GraphQL API (https://graphql-spec.runpod.io/, guide
https://docs.runpod.io/sdks/graphql/manage-pods) answers a failed operation
with HTTP 200 and `{"errors": [{"message", "path"}], "data": {op: null}}`;
a missing or wrong key is HTTP 401 (as RunPod's own SDK, runpod-python
`runpod/api/graphql.py`, handles it). There are no error codes, so the
message decides: "There are no longer any instances available with the
requested specifications" (deploy) and "There are not enough free GPUs on
the host machine" (resume) mean no capacity in that data center, which is
skyhop's zone for RunPod offers.
"""

from __future__ import annotations

from typing import Any, Sequence

from skyhop.providers.errors import CLOUD, AuthError, CapacityError, ProviderError
from skyhop.providers.http import ApiError

CAPACITY_PHRASES = (
    "no longer any instances available",
    "not enough free gpus",
    "no instances currently available",
)
AUTH_PHRASES = ("unauthorized", "api key", "not authenticated")
_AUTH_HINT = "Check $RUNPOD_API_KEY or ~/.runpod/config.toml (a key from https://www.runpod.io/console/user/settings), then run `skyhop check`."


def translate_http(error: ApiError) -> ProviderError:
    """The typed error for a GraphQL POST that failed as HTTP (no answer, 401, 5xx)."""
    if error.status == 0:
        return ProviderError(f"{error}; trying elsewhere.", scope=CLOUD)
    if error.status in (401, 403):
        return AuthError(f"RunPod refused the API key (HTTP {error.status}). {_AUTH_HINT}")
    if error.status >= 500 or error.status == 429:
        return ProviderError(f"The RunPod API is unavailable right now (HTTP {error.status}); trying elsewhere.", scope=CLOUD)
    return ProviderError(f"RunPod refused the request (HTTP {error.status}): {_text(error.body)}")


def translate_graphql(errors: Sequence[Any], *, where: str | None = None) -> ProviderError:
    """The typed error for a GraphQL answer's `errors` list (for an operation in data center `where`)."""
    message = "; ".join(_text(e.get("message") if isinstance(e, dict) else e) for e in errors) or "no message"
    lowered = message.lower()
    at = f" in {where}" if where else ""
    if any(phrase in lowered for phrase in CAPACITY_PHRASES):
        return CapacityError(f"RunPod has no capacity for this pod{at} right now ({message}).")
    if any(phrase in lowered for phrase in AUTH_PHRASES):
        return AuthError(f"RunPod refused the API key ({message}). {_AUTH_HINT}")
    return ProviderError(f"RunPod refused the request{at}: {message}")


def _text(value: Any) -> str:
    return str(value if value is not None else "").strip()[:500]
