"""The Lambda Cloud REST API calls skyhop makes, over `providers/http.JsonApi` (stdlib, no SDK).

Shapes from the API reference (https://docs-api.lambda.ai/api/cloud, spec
https://cloud.lambda.ai/api/v1/openapi.json): every answer wraps its payload
in `data`; the key travels as `Authorization: Bearer`. The key comes from
`$LAMBDA_API_KEY` or `~/.lambda_cloud/lambda_keys` (`api_key = ...`, the file
Lambda's own tools and SkyPilot use); it is never put in an argument, a log
line or an error.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Mapping, Sequence

from skyhop.providers.http import ApiError, JsonApi
from skyhop.providers.lambda_.errors import is_gone, translate
from skyhop.providers.settings import CloudSettings, api_key, cloud_settings

NAME = "lambda"
DEFAULT_ENDPOINT = "https://cloud.lambda.ai/api/v1"
KEY_FILE = "~/.lambda_cloud/lambda_keys"


def settings() -> CloudSettings:
    return cloud_settings(NAME, default_endpoint=DEFAULT_ENDPOINT, default_user="ubuntu")


def _key_from_file() -> str | None:
    path = Path(KEY_FILE).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):  # unreadable, or not UTF-8 text: no key there (as for RunPod's file)
        return None
    for line in lines:
        name, sep, value = line.partition("=")
        if sep and name.strip() == "api_key" and value.strip():
            return value.strip()
    return None


class LambdaApi:
    """One account's API: each method is one documented operation, failures as typed errors."""

    def __init__(self, endpoint: str, key: str) -> None:
        self._api = JsonApi("Lambda Cloud", endpoint, key)

    @property
    def key(self) -> str:
        """The API key, for the head's autostop file only (`providers/selfcall.py`)."""
        return self._api.token

    @classmethod
    def from_config(cls) -> "LambdaApi":
        return cls(settings().api_endpoint, api_key("Lambda Cloud", "LAMBDA_API_KEY", _key_from_file(), KEY_FILE))

    def _call(self, method: str, path: str, body: Any = None, *, region: str | None = None, missing_ok: bool = False) -> Any:
        try:
            answer = self._api.call(method, path, body)
        except ApiError as error:
            if missing_ok and is_gone(error):
                return None  # removing what is already gone: done
            raise translate(error, region=region) from None
        return answer.get("data") if isinstance(answer, dict) else None

    def instance_types(self) -> Mapping[str, Any]:
        """`GET /instance-types`: each type with `regions_with_capacity_available`."""
        return self._call("GET", "/instance-types") or {}

    def instances(self) -> list[dict[str, Any]]:
        """`GET /instances`: every instance of the account (running, booting, terminating)."""
        return list(self._call("GET", "/instances") or [])

    def launch(self, region: str, instance_type: str, key_name: str, quantity: int, name: str) -> list[str]:
        """`POST /instance-operations/launch`: the new instances' ids."""
        body = {"region_name": region, "instance_type_name": instance_type, "ssh_key_names": [key_name],
                "quantity": quantity, "name": name}
        data = self._call("POST", "/instance-operations/launch", body, region=region) or {}
        return [str(i) for i in data.get("instance_ids") or ()]

    def terminate(self, instance_ids: Sequence[str]) -> None:
        """`POST /instance-operations/terminate`."""
        self._call("POST", "/instance-operations/terminate", {"instance_ids": list(instance_ids)}, missing_ok=True)

    def ssh_keys(self) -> list[dict[str, Any]]:
        """`GET /ssh-keys`: `{id, name, public_key}` each."""
        return list(self._call("GET", "/ssh-keys") or [])

    def add_ssh_key(self, name: str, public_key: str) -> str:
        """`POST /ssh-keys` with our public key (Lambda makes no pair then): the key's id."""
        data = self._call("POST", "/ssh-keys", {"name": name, "public_key": public_key}) or {}
        return str(data.get("id", ""))

    def delete_ssh_key(self, key_id: str) -> None:
        """`DELETE /ssh-keys/{id}`."""
        self._call("DELETE", f"/ssh-keys/{urllib.parse.quote(key_id, safe='')}", missing_ok=True)
