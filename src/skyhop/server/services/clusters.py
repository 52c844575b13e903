"""The caller's view of clusters: whose they are decides who sees and changes them.

Cluster names are global (one `dev` on a server): a launch onto a name another
user holds is refused saying the name is taken, while every other verb on
another user's cluster answers as if it did not exist (404), so `status`,
`logs` and `down` reveal nothing of others' clusters to a plain user.
"""

from __future__ import annotations

from skyhop.errors import ConflictError
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal


def visible(store, caller: Principal, name: str, *, write: bool = False):
    """The cluster if the caller may see it (and change it: `write`); otherwise the same 404 as a missing one."""
    return _checked(caller, name, store.get_cluster(name), write=write)


def _checked(caller: Principal, name: str, record, *, write: bool):
    if record is None or not policy.can_read(caller, record.user):
        from skyhop.execution.lifecycle import missing

        raise missing(name)
    if write:
        policy.require_write(caller, record.user, f"Cluster '{name}'")
    return record


def check_request(store, caller: Principal, verb: str, name: str | None) -> None:
    """Whether the caller may submit `verb` (launch, exec, stop, ...) on cluster `name`, before a request exists.

    A name nobody holds is left to the operation (a launch creates it; `down` of a missing cluster says so).
    """
    policy.require_writer(caller)
    if verb == "down-orphans":
        policy.require_admin(caller, "Removing orphaned cloud resources")
    if name is None:
        return
    record = store.get_cluster(name)
    if record is None:
        return
    if verb == "launch" and not policy.can_read(caller, record.user):
        raise ConflictError(f"The cluster name '{name}' is taken by another user; choose another name (-c NAME).")
    _checked(caller, name, record, write=True)
