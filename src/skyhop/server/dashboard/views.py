"""What each dashboard page shows, read for one caller: another user's rows never reach a template.

Every listing is filtered by `policy.can_read` on the row's owner, and every
object named in a URL is checked with `policy.require_read` (404 for another
user's, the same answer as for a missing one), exactly as the API does.
HOOK(lead): when the service functions take the `Principal` and filter in SQL
(`StateStore.list_clusters(owner=...)`, `ManagedJobs.listing(users=...)`),
call those here instead of filtering after reading.
"""

from __future__ import annotations

import time
from typing import Any

from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal


def clusters(store, principal: Principal) -> list[dict[str, Any]]:
    from skyhop.execution import lifecycle
    from skyhop.server.routers.clusters import cluster_json

    return [cluster_json(r) for r in lifecycle.status(store) if policy.can_read(principal, r.user)]


def cluster(store, principal: Principal, name: str):
    from skyhop.errors import NotFoundError

    record = store.get_cluster(name)
    if record is None:
        raise NotFoundError(f"Cluster '{name}' does not exist.")
    policy.require_read(principal, record.user, f"Cluster '{name}'")
    return record


def jobs(store, principal: Principal, name: str) -> list:
    """The cluster's jobs, fresh from its agent when it is up (as `skyhop queue`), newest first."""
    from skyhop.errors import SkyhopError
    from skyhop.execution import lifecycle

    cluster(store, principal, name)
    try:
        listed = lifecycle.queue(store, name)
    except SkyhopError:  # a cluster that does not answer: what was recorded
        listed = store.list_jobs(name)
    return sorted(listed, key=lambda j: j.job_id, reverse=True)


def cancel_job(store, principal: Principal, name: str, job_id: int) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    record = cluster(store, principal, name)
    policy.require_write(principal, record.user, f"Cluster '{name}'")
    return lifecycle.cancel(store, name, [job_id], all_jobs=False)


def managed_jobs(store, principal: Principal, limit: int = 200) -> list[dict[str, Any]]:
    from skyhop.server.services.managed_jobs import job_json
    from skyhop.state.managed import ManagedJobs

    users = None if principal.sees_all else [principal.user]
    listed, attempts = ManagedJobs(store).listing(users=users, limit=limit)
    by_job: dict[int, list] = {}
    for attempt in attempts:
        by_job.setdefault(attempt["job_id"], []).append(attempt)
    now = time.time()
    return [job_json(j, by_job.get(j["id"], []), now) for j in listed if policy.can_read(principal, j["user"])]


def cancel_managed_job(store, principal: Principal, job_id: int) -> bool:
    """Ask the job's controller (in whichever server process holds it) to wind it down; False when it already ended."""
    from skyhop.errors import NotFoundError
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.managed import KIND, ManagedJobs

    found = ManagedJobs(store).find(ids=[job_id])
    if not found:
        raise NotFoundError(f"Managed job {job_id} does not exist.")
    job = found[0]
    policy.require_write(principal, job.user, f"Managed job {job_id}")
    return job.status not in TERMINAL_NAMES and ControllerLeases(store).request_cancel(KIND, str(job.id))


def services(store, principal: Principal) -> list[dict[str, Any]]:
    from skyhop.server.services import serve

    return [s for s in serve.status(store) if policy.can_read(principal, s["user"])]


def requests(store, principal: Principal, limit: int = 200) -> list:
    return [r for r in store.list_requests(limit=limit) if policy.can_read(principal, r.user)]


def request(store, principal: Principal, request_id: str):
    from skyhop.errors import NotFoundError

    record = store.get_request(request_id)
    if record is None or not policy.can_read(principal, record.user):
        raise NotFoundError(f"Request {request_id} does not exist.")
    return record


#: The end of a request's log shown on its page (`skyhop api logs ID` has all of it).
REQUEST_LOG_TAIL = 256 * 1024


def request_log(record) -> str:
    """The request's events as the CLI prints them: output as it came, messages and phases on their own lines."""
    import json

    try:
        with open(record.log_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - REQUEST_LOG_TAIL))
            raw = f.read()
    except OSError:
        return ""
    lines = raw.split(b"\n")
    if size > REQUEST_LOG_TAIL:
        lines = lines[1:]  # the first one is cut
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if "out" in event:
            out.append(str(event["out"]))
        elif "msg" in event:
            out.append(f"{event['msg']}\n")
        elif "phase" in event:
            out.append(f"[skyhop] {event['phase']}...\n")
    return "".join(out)


def cost_events(store, principal: Principal) -> list:
    return [e for e in store.list_events() if policy.can_read(principal, e.user)]


def cost_lines(store, principal: Principal) -> list:
    from skyhop.execution import lifecycle

    lifecycle.status(store)  # reconcile local clusters first (an autostop is a STOP), as `cost-report` does
    return [line for line in store.cost_report() if policy.can_read(principal, line.user)]


def users_and_tokens(store, principal: Principal) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Admins only: the users and tokens tables as they are (never a token's hash).
    HOOK(auth): switch to the users store's listing (and add create/revoke forms) once it is merged."""
    from sqlalchemy import select

    from skyhop.state.models import Token, User

    _require_admin(principal)
    with store._read() as session:
        users = [dict(row._mapping) for row in session.execute(select(User.id, User.display_name, User.role, User.kind, User.created_at, User.disabled_at))]
        tokens = [dict(row._mapping) for row in session.execute(
            select(Token.id, Token.user_id, Token.kind, Token.name, Token.created_at, Token.last_used_at, Token.expires_at, Token.revoked_at))]
    return users, tokens


def _require_admin(principal: Principal) -> None:
    from skyhop.errors import ForbiddenError

    if not principal.is_admin:
        raise ForbiddenError(f"The admin pages need the admin role; you ({principal.user}) are {principal.role.value}.")


def notices(store, principal: Principal) -> list[str]:
    """Lines for the banner on every page (budgets at 80% and over).
    HOOK(budgets): the budgets helper's `notices(store, principal)`; none until it is merged."""
    import importlib

    try:
        budgets = importlib.import_module("skyhop.server.services.budgets")
    except ImportError:
        return []
    hook = getattr(budgets, "notices", None)
    return [str(line) for line in hook(store, principal)] if hook is not None else []
