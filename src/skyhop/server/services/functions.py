"""Where a functions session (`skyhop.Pool`, skyhop/functions/session.py) connects.

A session's calls must not cross the API server (an HTTP hop per call would
cost more than the call): the caller connects to the cluster's agent socket
itself, and the server only says where that is on its machine. That is the
socket itself for a cluster on this machine, and the forward through the
cluster's SSH ControlMaster for the others (the same one the server's own
agent verbs use, execution/channel.py), in the server user's private control
directory. So the caller must be that user on that machine: the caller of a
local server (its token is in the user's own server.json). A team token's
holder may be anyone anywhere, so team servers answer 409 until the server
relays sessions itself.
"""

from __future__ import annotations

from typing import Any

from skyhop.errors import ConflictError, SkyhopError
from skyhop.server.auth.principal import Principal
from skyhop.server.services.clusters import visible


def socket_for(store, caller: Principal, name: str, *, renew: bool = False) -> dict[str, Any]:
    """`{"socket": PATH, "nodes": N}` for an UP cluster of the caller's; ConflictError for a caller the socket would refuse."""
    from skyhop.execution import channel as channels
    from skyhop.execution import handles, lifecycle
    from skyhop.execution.agent import AgentClient
    from skyhop.providers import registry

    visible(store, caller, name, write=True)
    if caller.token_id is not None:  # a team token: its holder may be anywhere, as anyone
        raise ConflictError(
            "Functions need the API server on this machine, as the same user: a session connects to the cluster's agent "
            f"socket directly, which only the server's own Unix user can reach, and {caller.user} calls a team server. Run "
            "`skyhop.Pool` against an API server of your own (the local one skyhop starts by itself), or use jobs "
            "(`skyhop launch`/`exec`) through this one."
        )
    record = lifecycle.require_up(store, name, have_lock=False)
    info = handles.cluster_info(record)
    runner = registry.get(info.provider).runner(info, info.head)
    channel = channels.for_cluster(info, runner)
    if channel is None:
        raise SkyhopError(
            f"Cluster '{name}' cannot take function calls: its agent's socket is not reachable from here "
            f"({channels.DISABLE_VAR}=off on the API server, or a provider whose connection cannot forward it)."
        )
    AgentClient(info, runner).ship_cloudpickle()
    return {"socket": channel.local_path(renew=renew), "nodes": len(info.nodes)}
