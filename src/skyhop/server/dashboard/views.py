"""What each dashboard page shows, read for one caller: another user's rows never reach a template.

The pages call the API's own service functions with the caller's `Principal`:
listings filter by owner in SQL, and an object named in a URL that is another
user's is the same 404 as a missing one. Where the API shows a caller's own rows
unless asked for everyone's (`-u`), a page shows everyone's to a role that sees
all (admin, viewer): the dashboard is where a team looks at the whole server.
"""

from __future__ import annotations

from typing import Any

from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal


def owners(principal: Principal) -> list[str] | None:
    """Whose rows a page lists: everyone's for a role that sees all, else the caller's."""
    return policy.owners(principal, principal.sees_all)


def clusters(store, principal: Principal) -> list[dict[str, Any]]:
    from skyhop.execution import lifecycle
    from skyhop.server.routers.clusters import cluster_json

    return [cluster_json(r) for r in lifecycle.status(store, owners=owners(principal))]


def cluster(store, principal: Principal, name: str, *, write: bool = False):
    from skyhop.server.services import clusters as owned

    return owned.visible(store, principal, name, write=write)


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

    cluster(store, principal, name, write=True)
    return lifecycle.cancel(store, name, [job_id], all_jobs=False)


def managed_jobs(store, principal: Principal, limit: int = 200) -> list[dict[str, Any]]:
    from skyhop.jobs.states import TERMINAL_NAMES
    from skyhop.server.services import managed_jobs

    rows = managed_jobs.rows(store, principal, all_users=principal.sees_all, limit=limit)
    return [{**row, "finished": row["status"] in TERMINAL_NAMES} for row in rows]


def cancel_managed_job(store, principal: Principal, job_id: int) -> dict[str, Any]:
    """Ask the job's controller (in whichever server process holds it) to wind it down."""
    from skyhop.server import schemas
    from skyhop.server.services import managed_jobs

    managed_jobs.get(store, principal, job_id)  # another user's job: 404 (cancel by id alone would say 403)
    return managed_jobs.cancel(store, principal, schemas.ManagedJobsCancelBody(job_ids=[job_id]))


def services(store, principal: Principal) -> list[dict[str, Any]]:
    from skyhop.server.services import serve

    return serve.status(store, principal, all_users=principal.sees_all)


def requests(store, principal: Principal, limit: int = 200) -> list:
    return store.list_requests(limit=limit, owners=owners(principal))


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

    lifecycle.status(store, owners=owners(principal))  # reconcile local clusters first (an autostop is a STOP), as `cost-report` does
    return [line for line in store.cost_report() if policy.can_read(principal, line.user)]


def users_and_tokens(store, principal: Principal) -> tuple[list, list]:
    """Admins only: every user and every token (ids, names, times; never a hash nor a secret)."""
    from skyhop.state.users import Users

    policy.require_admin(principal, "The users and tokens pages")
    users = Users(store)
    return users.list_users(), sorted(users.list_tokens(), key=lambda t: (t.revoked_at is not None, -t.created_at))


def mint_token(users, principal: Principal, owner: str, name: str | None) -> str:
    """A new personal token for `owner` (an admin's form); its secret, shown once on the page that answers."""
    policy.require_admin(principal, "Making tokens from the dashboard")
    return users.mint(owner, name=name or None).secret


def revoke_token(users, principal: Principal, token_id: str) -> None:
    from skyhop.errors import NotFoundError

    policy.require_admin(principal, "Revoking tokens from the dashboard")
    if users.get_token(token_id) is None:
        raise NotFoundError(f"Token {token_id!r} does not exist.")
    users.revoke(token_id)


def notices(store, principal: Principal) -> list[dict[str, str]]:
    """The banner lines on every page: `{text, kind}` with kind `warned` (80%) or `exceeded` (100%).

    From the budgets service's `cached_notices` (or `notices`) when it is installed, which reads what the
    enforcer recorded (two small queries, memoized per caller); none without it."""
    import importlib

    try:
        budgets = importlib.import_module("skyhop.server.services.budgets")
    except ImportError:
        return []
    hook = getattr(budgets, "cached_notices", None) or getattr(budgets, "notices", None)
    if hook is None:
        return []
    out = []
    for notice in hook(store, principal):
        if isinstance(notice, dict):
            out.append({"text": str(notice.get("text", "")), "kind": str(notice.get("kind", "warned"))})
        else:
            out.append({"text": str(notice), "kind": "warned"})
    return out
