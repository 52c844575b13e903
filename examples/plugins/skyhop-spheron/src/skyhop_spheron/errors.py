"""Spheron's HTTP errors as skyhop's typed provider errors, each with the scope failover blocks.

skyhop's failover loop reads only the type and `scope` of an error: a
CapacityError or QuotaError moves the launch to the next zone/region, an
AuthError skips the whole cloud, a ProviderError without a scope stops the
launch with its message. Only this module knows which Spheron answer means
which.

What the Spheron docs say and do not say: the API reference lists
`Authorization: Bearer <key>` for every authenticated call and a 400 body
`{"canTerminate": false, ...}` for an early terminate. Its "Error reference"
section could not be read where this plugin was written, so the body of
other errors and the status of "no capacity" are not documented here. The
mapping therefore keys on the HTTP status alone and reads the body only for
the message a user sees, taking the conservative reading where it must
choose:

- 401, 403: the key is wrong or lacks rights. AuthError: the whole cloud.
- 402, or any 4xx whose message speaks of balance, credit or payment: the
  account cannot pay. A cloud-wide ProviderError (another region cannot help).
- 429: rate limited. No scope: the launch stops with the message rather than
  hammering every region with the same key.
- any other 4xx when creating a deployment (offer sold out, region unknown to
  the provider, validation): the offer cannot be had here now. CapacityError
  for the region, so the launch moves on; nothing was created.
- 5xx or no answer when creating: the API failed. A region-scoped
  ProviderError; the provider first removes any deployment the failed call
  may have made (see provider.py `_remove_launch`).
- anything else: a ProviderError with the API's message and no scope.
"""

from __future__ import annotations

from skyhop.providers.errors import CLOUD, REGION, AuthError, CapacityError, ProviderError
from skyhop.providers.http import ApiError

_PAYMENT_WORDS = ("balance", "credit", "payment", "insufficient funds")


def message_of(error: ApiError) -> str:
    """The API's own words (`error` or `message` of a JSON body), else the client's summary."""
    body = error.body
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            text = body.get(key)
            if isinstance(text, str) and text.strip():
                return text.strip()[:500]
            if isinstance(text, list) and text:  # validation errors may list one message per field
                return "; ".join(str(t) for t in text)[:500]
    return str(error)


def typed(error: ApiError, *, creating: bool, where: str, key_source: str) -> ProviderError:
    """`error` from a Spheron call as the typed error failover acts on.

    `creating`: the call was `POST /api/deployments` (only then does a
    4xx mean "not here"). `where` names the offer and region for the
    message; `key_source` says where the API key came from (never the key).
    """
    status = error.status
    said = message_of(error)
    if status in (401, 403):
        return AuthError(
            f"Spheron rejected the API key from {key_source} ({status}: {said}). "
            f"Create a key at https://app.spheron.ai/settings?tab=api and set it in {key_source}."
        )
    if status == 402 or (400 <= status < 500 and any(word in said.lower() for word in _PAYMENT_WORDS)):
        return ProviderError(f"Spheron cannot bill the account for {where} ({status}: {said}). Add funds in the Spheron dashboard.", scope=CLOUD)
    if status == 429:
        return ProviderError(f"Spheron is rate limiting this API key ({said}); try again in a minute.")
    if creating and 400 <= status < 500:
        return CapacityError(f"Spheron could not deploy {where} ({status}: {said}).", scope=REGION)
    if creating:
        return ProviderError(f"Spheron's API failed deploying {where}: {said}", scope=REGION)
    return ProviderError(f"Spheron's API failed ({said}).")
