"""Autostop on an API-key cloud: the head asks the cloud's API to stop or remove its own cluster.

The agent runs a provider's `autostop_hooks` argv when autostop fires, with
no client around (`base.SelfStopping`). For Lambda and RunPod each action is
one POST of a JSON body to the cloud's API with the key as a bearer token,
made by the agent's stdlib `skyhop_agent.cloudstop` from the 0600 file
`vm.install_self_stop` writes over stdin (the key is never in a command line).
The key is on the head for that reason only (SkyPilot also uploads these
clouds' keys to their clusters). A GraphQL answer carrying `errors` fails the
hook as an HTTP error does, so the agent reports it and tries again later.
"""

from __future__ import annotations

from typing import Any, Mapping

from skyhop.providers import vm
from skyhop.providers.base import NodeInfo


def hooks(head: NodeInfo, actions: tuple[str, ...]) -> dict[str, list[str]]:
    """The argv per autostop action (`stop`, `down`) the head's agent runs."""
    return vm.self_stop_hooks(head, actions)


def install(head: NodeInfo, url: str, key: str, calls: Mapping[str, Any]) -> None:
    """Write the hooks' file on the head: for each action, the body to POST to `url` with `key`."""
    vm.install_self_stop(head, {action: vm.bearer_post(url, key, body) for action, body in calls.items()})
