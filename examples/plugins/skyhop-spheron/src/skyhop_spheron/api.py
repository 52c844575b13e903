"""The Spheron REST calls this provider makes, and where its API key comes from.

Shapes are those of https://docs.spheron.ai/api-reference (sections
"Authentication" and "Endpoints") and of the calls SkyPilot's Spheron
provisioner makes (`sky/provision/spheron/spheron_utils.py`). Where the
documentation is silent, the code takes the reading that can cost a user
nothing: a list answer may come bare or wrapped, a missing field is never
guessed into an address, and a deployment we cannot see is not assumed gone
unless the API says 404.

Every failure is an `ApiError` (status and decoded body) from
`skyhop.providers.http`; `errors.py` turns it into the typed errors
skyhop's failover reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from skyhop.errors import SkyhopError
from skyhop.providers.http import ApiError, JsonApi

DEFAULT_ENDPOINT = "https://app.spheron.ai"
ENV_KEY = "SPHERON_API_KEY"
KEY_FILE = "~/.spheron/config.json"  # {"api_key": "..."}; the file skyhop's `check` already looks for
PAGE_LIMIT = 100
MAX_PAGES = 100  # a bound on a paginated listing: 10,000 deployments

# Deployment states (docs "Status values"; SkyPilot's instance.py lists the same five).
DEPLOYING = "deploying"
RUNNING = "running"
FAILED = "failed"
TERMINATED = "terminated"
RECLAIMED = "terminated-provider"  # the underlying provider took the machine back
GONE = (TERMINATED, RECLAIMED)


@dataclass(frozen=True)
class Credentials:
    """The API key and where it came from (the source is what messages name; the key never is)."""

    key: str
    source: str


@dataclass(frozen=True)
class Deployment:
    """One Spheron deployment (an instance) as `GET /api/deployments[/{id}]` reports it (camelCase fields)."""

    id: str
    name: str
    status: str
    ip: str | None
    ssh_port: int
    user: str
    region: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Deployment":
        port = data.get("sshPort")
        return cls(
            str(data["id"]), str(data.get("name") or ""), str(data.get("status") or ""),
            str(data["ipAddress"]) if data.get("ipAddress") else None,
            int(port) if port not in (None, "") else 22,
            # The docs' deploy example does not name the login; SkyPilot defaults to ubuntu.
            str(data.get("user") or "ubuntu"),
            str(data["region"]) if data.get("region") else None,
        )


class MinimumRuntime(SkyhopError):
    """`DELETE /api/deployments/{id}` refused: the offer has a minimum runtime that has not passed yet."""


def credentials() -> Credentials | None:
    """`$SPHERON_API_KEY`, else the `api_key` of ~/.spheron/config.json; None when neither is there."""
    value = os.environ.get(ENV_KEY, "").strip()
    if value:
        return Credentials(value, f"${ENV_KEY}")
    path = Path(KEY_FILE).expanduser()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SkyhopError(f"{KEY_FILE} is not readable JSON ({type(error).__name__}); it should hold {{\"api_key\": \"...\"}}.") from None
    key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise SkyhopError(f"{KEY_FILE} has no \"api_key\" string; it should hold {{\"api_key\": \"...\"}}.")
    return Credentials(key.strip(), KEY_FILE)


def endpoint() -> str:
    """The API's base URL: config.yaml's `spheron.api_endpoint` (tests, proxies), else Spheron's own."""
    from skyhop.config import cloud_section

    value = cloud_section("spheron").get("api_endpoint")
    return str(value).rstrip("/") if value else DEFAULT_ENDPOINT


def _items(answer: Any, *keys: str) -> list[dict[str, Any]]:
    """A list answer, bare or wrapped (`{"deployments": [...]}` / `{"data": [...]}`): the docs show both styles."""
    if isinstance(answer, list):
        return [item for item in answer if isinstance(item, dict)]
    if isinstance(answer, dict):
        for key in (*keys, "data"):
            if isinstance(answer.get(key), list):
                return [item for item in answer[key] if isinstance(item, dict)]
    return []


class SpheronApi:
    """Spheron's REST API for one API key."""

    def __init__(self, creds: Credentials, base_url: str | None = None) -> None:
        self.creds = creds
        self.http = JsonApi("Spheron", base_url or endpoint(), creds.key)

    def __repr__(self) -> str:
        return f"SpheronApi({self.http.base_url!r})"

    def team_id(self) -> str:
        """The account's first team (`GET /api/teams`): deployments and SSH keys belong to a team."""
        teams = _items(self.http.call("GET", "/api/teams"), "teams")
        if not teams or not teams[0].get("id"):
            raise SkyhopError("The Spheron account has no team; create one in the Spheron dashboard, then launch again.")
        return str(teams[0]["id"])

    def ssh_keys(self) -> list[dict[str, Any]]:
        return _items(self.http.call("GET", "/api/ssh-keys"), "sshKeys", "keys")

    def add_ssh_key(self, name: str, public_key: str, team_id: str) -> str:
        answer = self.http.call("POST", "/api/ssh-keys", {"name": name, "publicKey": public_key, "teamId": team_id})
        return str(answer["id"])

    def delete_ssh_key(self, key_id: str) -> None:
        try:
            self.http.call("DELETE", f"/api/ssh-keys/{key_id}")
        except ApiError as error:
            if error.status != 404:  # already gone is what we wanted
                raise

    def deployments(self) -> Iterator[Deployment]:
        """Every deployment of the account, page by page (`GET /api/deployments?page&limit`)."""
        for page in range(1, MAX_PAGES + 1):
            answer = self.http.call("GET", "/api/deployments", query={"page": str(page), "limit": str(PAGE_LIMIT)})
            batch = _items(answer, "deployments")
            yield from (Deployment.from_json(item) for item in batch)
            pages = answer.get("totalPages", 1) if isinstance(answer, dict) else 1
            if not batch or page >= int(pages or 1):
                return

    def deployment(self, deployment_id: str) -> Deployment | None:
        """`GET /api/deployments/{id}`; None only when the API answers 404."""
        try:
            return Deployment.from_json(self.http.call("GET", f"/api/deployments/{deployment_id}"))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def create(self, body: dict[str, Any]) -> str:
        """`POST /api/deployments`: the new deployment's id."""
        answer = self.http.call("POST", "/api/deployments", body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise ApiError(f"Spheron API: POST /api/deployments answered without an id: {str(answer)[:200]}", status=0, body=answer)
        return str(answer["id"])

    def terminate(self, deployment_id: str) -> None:
        """`DELETE /api/deployments/{id}`; a deployment already gone (404, or a terminated one) is success.

        Spheron answers 400 `{"canTerminate": false, "currentStatus", "timeRemaining", "minimumRuntime"}`
        while an offer's minimum runtime has not passed (SkyPilot's spheron_utils.delete_deployment
        reads the same body): that is `MinimumRuntime`, unless `currentStatus` says it is gone already.
        """
        try:
            self.http.call("DELETE", f"/api/deployments/{deployment_id}")
        except ApiError as error:
            if error.status == 404:
                return
            body = error.body if isinstance(error.body, dict) else {}
            if error.status == 400 and body.get("canTerminate") is False:
                if body.get("currentStatus") in GONE:
                    return
                raise MinimumRuntime(
                    f"Spheron will not terminate deployment {deployment_id} yet: its offer has a minimum runtime of "
                    f"{body.get('minimumRuntime', '?')} minutes, {body.get('timeRemaining', '?')} minute(s) remain. "
                    "It keeps running (and billing) until then; run `skyhop down` again after that."
                ) from None
            raise
