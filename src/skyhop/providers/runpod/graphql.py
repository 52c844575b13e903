"""The RunPod GraphQL operations skyhop uses, over `providers/http.JsonApi` (stdlib; no SDK, no GraphQL client).

A GraphQL call is one POST of `{"query", "variables"}`; the key travels as
`Authorization: Bearer` (never `?api_key=` in the URL the docs also show, so
it stays out of URLs and logs). Operations and fields from the schema
(https://graphql-spec.runpod.io/) and the pod guide
(https://docs.runpod.io/sdks/graphql/manage-pods): `podFindAndDeployOnDemand`,
`podRentInterruptable` (spot, with `bidPerGpu`), `podStop`, `podResume`,
`podBidResume`, `podTerminate`, `myself { pods }`. The key comes from
`$RUNPOD_API_KEY` or `~/.runpod/config.toml` (runpod-python's file:
`api_key` under `[default]`).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Mapping

from skyhop.providers.http import ApiError, JsonApi
from skyhop.providers.runpod.errors import translate_graphql, translate_http
from skyhop.providers.settings import CloudSettings, api_key, cloud_settings

NAME = "runpod"
DEFAULT_ENDPOINT = "https://api.runpod.io/graphql"
KEY_FILE = "~/.runpod/config.toml"

POD_FIELDS = """id name desiredStatus imageName gpuCount costPerHr machineId
  machine { podHostId gpuDisplayName location }
  runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } }"""
DEPLOY_ON_DEMAND = f"mutation Deploy($input: PodFindAndDeployOnDemandInput) {{ podFindAndDeployOnDemand(input: $input) {{ {POD_FIELDS} }} }}"
DEPLOY_SPOT = f"mutation Rent($input: PodRentInterruptableInput!) {{ podRentInterruptable(input: $input) {{ {POD_FIELDS} }} }}"
STOP = "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }"
RESUME = "mutation Resume($input: PodResumeInput!) { podResume(input: $input) { id desiredStatus } }"
BID_RESUME = "mutation BidResume($input: PodBidResumeInput!) { podBidResume(input: $input) { id desiredStatus } }"
TERMINATE = "mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }"
PODS = f"query Pods {{ myself {{ pods {{ {POD_FIELDS} }} }} }}"
WHOAMI = "query Me { myself { id } }"


def settings() -> CloudSettings:
    return cloud_settings(NAME, default_endpoint=DEFAULT_ENDPOINT, default_user="root")


def _key_from_file() -> str | None:
    import tomllib

    try:
        data = tomllib.loads(Path(KEY_FILE).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    profile = data.get("default") if isinstance(data.get("default"), dict) else data
    key = profile.get("api_key")
    return key if isinstance(key, str) and key.strip() else None


class RunPodApi:
    """One account's GraphQL API: each method one operation, failures as typed errors."""

    def __init__(self, endpoint: str, key: str) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        self._path = parts.path or "/graphql"
        self._api = JsonApi("RunPod", f"{parts.scheme}://{parts.netloc}", key)

    @property
    def key(self) -> str:
        """The API key, for the pod's autostop file only (`providers/selfcall.py`)."""
        return self._api.token

    @classmethod
    def from_config(cls) -> "RunPodApi":
        return cls(settings().api_endpoint, api_key("RunPod", "RUNPOD_API_KEY", _key_from_file(), KEY_FILE))

    def run(self, document: str, variables: Mapping[str, Any] | None = None, *, where: str | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL answer; its `errors` (or an HTTP failure) as a typed error."""
        try:
            answer = self._api.call("POST", self._path, {"query": document, "variables": dict(variables or {})})
        except ApiError as error:
            raise translate_http(error) from None
        if not isinstance(answer, dict):
            raise translate_graphql([f"unexpected answer {str(answer)[:200]!r}"], where=where)
        if answer.get("errors"):
            raise translate_graphql(answer["errors"], where=where)
        return answer.get("data") or {}

    def whoami(self) -> str:
        return str((self.run(WHOAMI).get("myself") or {}).get("id") or "")

    def deploy(self, pod_input: Mapping[str, Any], *, spot: bool, where: str | None) -> dict[str, Any]:
        operation = "podRentInterruptable" if spot else "podFindAndDeployOnDemand"
        data = self.run(DEPLOY_SPOT if spot else DEPLOY_ON_DEMAND, {"input": dict(pod_input)}, where=where)
        pod = data.get(operation)
        if not isinstance(pod, dict) or not pod.get("id"):
            raise translate_graphql([f"{operation} returned no pod"], where=where)
        return pod

    def pods(self) -> list[dict[str, Any]]:
        return list((self.run(PODS).get("myself") or {}).get("pods") or [])

    def stop(self, pod_id: str) -> None:
        self.run(STOP, {"input": {"podId": pod_id}})

    def resume(self, pod_id: str, gpu_count: int, bid_per_gpu: float | None, *, where: str | None) -> None:
        if bid_per_gpu is None:
            self.run(RESUME, {"input": {"podId": pod_id, "gpuCount": gpu_count}}, where=where)
        else:
            self.run(BID_RESUME, {"input": {"podId": pod_id, "gpuCount": gpu_count, "bidPerGpu": bid_per_gpu}}, where=where)

    def terminate(self, pod_id: str) -> None:
        self.run(TERMINATE, {"input": {"podId": pod_id}})
