"""`/dashboard/`: the web UI, server-rendered pages (Jinja2) with a little htmx; the same data as the API, for one caller.

The middleware has already turned the session cookie into the caller's
`Principal` for every page but the login page and the static files
(gate.py). Every state change is a POST that carries the session's CSRF value
(a hidden form field, or htmx's `X-CSRF-Token` header), on a cookie that is
`SameSite=Strict` besides. Pages answer HTML, errors too (one paragraph, the
status the API would give).
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from skyhop.errors import ForbiddenError, SkyhopError
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.server.dashboard import views
from skyhop.server.dashboard.gate import PREFIX
from skyhop.server.dashboard.render import page
from skyhop.server.dashboard.sessions import COOKIE, SESSION_S, Session, Sessions
from skyhop.server.deps import Caller, Store

router = APIRouter(include_in_schema=False)
log = logging.getLogger("skyhop.server")

STATIC = Path(__file__).with_name("static")
_STATIC_TYPES = {"htmx.min.js": "text/javascript", "dashboard.js": "text/javascript", "dashboard.css": "text/css", "htmx.LICENSE": "text/plain"}
COST_DAYS = 30
_FORM_MAX = 64 * 1024
#: A job's service token dies with its cluster's launch, but a session is checked only for revocation (gate.py):
#: a session made from one would outlive the job (and, for an admin's job, mint tokens on the admin page).
JOB_TOKEN_REFUSED = "A job's service token cannot open a dashboard session: it would outlive the job. Use a personal token."


# --- plumbing ------------------------------------------------------------------------------


def _session(request: Request) -> Session:
    return request.scope["state"]["dashboard_session"]


def _sessions(request: Request) -> Sessions:
    return request.app.state.dashboard_sessions


def _context(request: Request, store, active: str, **values: Any) -> dict[str, Any]:
    session = _session(request)
    principal = session.principal
    return {"me": principal, "csrf": session.csrf, "active": active, "notices": views.notices(store, principal),
            "can_write": lambda owner: policy.can_write(principal, owner), **values}


def _error_page(request: Request, error: SkyhopError) -> Response:
    from skyhop.server.error_codes import code_of, status_of

    state = request.scope.get("state") or {}
    session = state.get("dashboard_session")
    context: dict[str, Any] = {"me": session.principal if session else None, "csrf": session.csrf if session else "", "active": "", "notices": [],
                               "message": str(error)}
    return page("error.html", context, status=status_of(code_of(error)))


def _guarded(request: Request, build: Callable[[], Response]) -> Response:
    """A page, or the error page for what the caller got wrong (a missing cluster, another user's job)."""
    try:
        return build()
    except SkyhopError as error:
        return _error_page(request, error)


def _listing(request: Request, store, caller: Principal, template: str, active: str, **read: Callable[[Any, Principal], Any]) -> Response:
    """A page of listings: each keyword names a template variable and the view that reads it for the caller."""
    return _guarded(request, lambda: page(template, _context(request, store, active, **{key: view(store, caller) for key, view in read.items()})))


async def _action(request: Request, act: Callable[[], Any], back: str) -> Response:
    """A form's POST: the CSRF check, then `act` (off the event loop), then back to `back`; an error is its page."""
    form = await _form(request)
    try:
        _require_csrf(request, form)
        await anyio.to_thread.run_sync(act)
    except SkyhopError as error:
        return _error_page(request, error)
    return _back(back)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (all the dashboard's forms are), first value of each field."""
    body = await request.body()
    if len(body) > _FORM_MAX:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _same_origin(request: Request) -> bool:
    """A browser's POST names where its page came from; another site's page is refused even before the CSRF value.
    Behind a reverse proxy that rewrites Host, the public name is in X-Forwarded-Host (a cross-site form
    cannot set that header, so accepting it loosens nothing an attacker controls)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    netloc = urlsplit(origin).netloc
    return netloc in (request.headers.get("host"), request.headers.get("x-forwarded-host"))


def _require_csrf(request: Request, form: dict[str, str]) -> None:
    sent = request.headers.get("x-csrf-token") or form.get("csrf") or ""
    if not _same_origin(request) or not hmac.compare_digest(sent.encode(), _session(request).csrf.encode()):
        raise ForbiddenError("This form is stale or came from another site (its CSRF value does not match your session). Reload the page and try again.")


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# --- login ---------------------------------------------------------------------------------


@router.get(PREFIX)
def root() -> RedirectResponse:
    return _back(PREFIX + "/")


@router.get(PREFIX + "/login")
def login_page(request: Request, code: str | None = None) -> Response:
    """The token form; or, with `code` (from `skyhop dashboard`), a session at once and a redirect that drops the code from the address bar."""
    if code is not None:
        principal = _sessions(request).redeem(code)
        if principal is not None:
            return _logged_in(request, principal)
        return _login_form("That login link was already used or has expired (it works once, within a minute). Run `skyhop dashboard` again, or paste a token.", 400)
    return _login_form(None)


def _login_form(message: str | None, status: int = 200) -> Response:
    return page("login.html", {"me": None, "csrf": "", "active": "login", "notices": [], "message": message}, status=status)


@router.post(PREFIX + "/login")
async def login(request: Request) -> Response:
    """The pasted token, checked once by the server's authenticator, becomes a session cookie (the token itself is not kept)."""
    form = await _form(request)
    token = form.get("token", "").strip()
    authenticator = request.app.state.authenticator
    principal = None
    if token and _same_origin(request):
        resolve = authenticator.principal
        try:
            principal = await anyio.to_thread.run_sync(resolve, token) if authenticator.blocking else resolve(token)
        except Exception:  # the users store is unreachable (database down): as the token door answers, 503
            log.exception("checking a dashboard login failed")
            return _login_form("The server cannot check tokens right now (its database does not answer); try again shortly.", 503)
    if principal is None:
        return _login_form("That token is not valid on this server. Use the token `skyhop api info` shows, or one an admin made for you.", 401)
    if principal.acts_for is not None:
        return _login_form(JOB_TOKEN_REFUSED, 403)
    return _logged_in(request, principal)


def _logged_in(request: Request, principal: Principal) -> Response:
    value, _ = _sessions(request).issue(principal)
    response = _back(PREFIX + "/")
    response.set_cookie(COOKIE, value, max_age=SESSION_S, path=PREFIX, httponly=True, samesite="strict", secure=_over_https(request))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _over_https(request: Request) -> bool:
    """Whether the browser reached us over TLS: our own scheme, or the one a TLS-terminating proxy says it served.
    The proxy's X-Forwarded-Proto counts here even from a peer uvicorn does not trust (a container sees its host's
    nginx from the bridge address): it can only make the cookie stricter, never give anyone access."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@router.post(PREFIX + "/logout")
async def logout(request: Request) -> Response:
    response = await _action(request, lambda: None, PREFIX + "/login")
    if response.status_code == 303:
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.post("/api/v1/dashboard/code")
def login_code(request: Request, caller: Caller) -> dict[str, str]:
    """A one-time login link for the caller's own browser (`skyhop dashboard`): valid a minute, usable once."""
    if caller.acts_for is not None:
        raise ForbiddenError(JOB_TOKEN_REFUSED)
    return {"path": f"{PREFIX}/login?code={_sessions(request).new_code(caller)}"}


@router.get(PREFIX + "/static/{name}")
def static(name: str) -> Response:
    kind = _STATIC_TYPES.get(name)
    if kind is None:
        return Response("Not found.", status_code=404, media_type="text/plain")
    return FileResponse(STATIC / name, media_type=kind, headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})


# --- clusters and jobs ---------------------------------------------------------------------


def _listing_page(path: str, template: str, active: str, **read: Callable[[Any, Principal], Any]) -> None:
    """A GET route rendering `template` from views read for the caller (see `_listing`)."""

    def route(request: Request, store: Store, caller: Caller) -> Response:
        return _listing(request, store, caller, template, active, **read)

    router.add_api_route(path, route, methods=["GET"], name=template)


_listing_page(PREFIX + "/", "clusters.html", "clusters", clusters=views.clusters)
_listing_page(PREFIX + "/partials/clusters", "_clusters_table.html", "clusters", clusters=views.clusters)


def _cluster_context(request: Request, store, caller: Principal, name: str, job: int | None) -> dict[str, Any]:
    record = views.cluster(store, caller, name)
    jobs = views.jobs(store, caller, name)
    shown = job if job is not None else (jobs[0].job_id if jobs else None)
    return _context(request, store, "clusters", cluster=record, jobs=jobs, shown=shown, quoted=_quoted(name))


@router.get(PREFIX + "/clusters/{name}")
def cluster_page(request: Request, store: Store, caller: Caller, name: str, job: int | None = None) -> Response:
    return _guarded(request, lambda: page("cluster.html", _cluster_context(request, store, caller, name, job)))


@router.get(PREFIX + "/partials/clusters/{name}/jobs")
def jobs_table(request: Request, store: Store, caller: Caller, name: str, job: int | None = None) -> Response:
    return _guarded(request, lambda: page("_jobs_table.html", _cluster_context(request, store, caller, name, job)))


@router.post(PREFIX + "/clusters/{name}/jobs/{job_id}/cancel")
async def cancel_job(request: Request, store: Store, caller: Caller, name: str, job_id: int) -> Response:
    return await _action(request, lambda: views.cancel_job(store, caller, name, job_id), f"{PREFIX}/clusters/{_quoted(name)}?job={job_id}")


@router.get(PREFIX + "/clusters/{name}/jobs/{job_id}/log/stream")
async def log_stream(request: Request, store: Store, caller: Caller, name: str, job_id: int) -> StreamingResponse:
    """The job's output as Server-Sent Events, one event per line, followed until the job ends.

    Each event's id is its line number: a browser that reconnects sends the
    last one it got (`Last-Event-ID`) and gets only the lines after it."""
    from skyhop.server.dashboard.live import events

    try:
        skip = max(0, int(request.headers.get("last-event-id") or 0))
    except ValueError:
        skip = 0
    return StreamingResponse(events(store, caller, name, job_id, skip), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- managed jobs, services, requests ------------------------------------------------------


_listing_page(PREFIX + "/managed-jobs", "managed_jobs.html", "managed", jobs=views.managed_jobs)


@router.post(PREFIX + "/managed-jobs/{job_id}/cancel")
async def cancel_managed_job(request: Request, store: Store, caller: Caller, job_id: int) -> Response:
    return await _action(request, lambda: views.cancel_managed_job(store, caller, job_id), f"{PREFIX}/managed-jobs")


_listing_page(PREFIX + "/services", "services.html", "services", services=views.services)
_listing_page(PREFIX + "/requests", "requests.html", "requests", requests=views.requests)


@router.get(PREFIX + "/requests/{request_id}")
def request_page(request: Request, store: Store, caller: Caller, request_id: str) -> Response:
    def build() -> Response:
        record = views.request(store, caller, request_id)
        return page("request.html", _context(request, store, "requests", record=record, log=views.request_log(record)))

    return _guarded(request, build)


# --- costs and admin -----------------------------------------------------------------------


@router.get(PREFIX + "/costs")
def costs_page(request: Request, store: Store, caller: Caller) -> Response:
    def build() -> Response:
        import time

        from markupsafe import Markup

        from skyhop.server.dashboard import chart

        lines = views.cost_lines(store, caller)
        spend = chart.daily(views.cost_events(store, caller), time.time(), COST_DAYS)
        context = _context(request, store, "costs", lines=sorted(lines, key=lambda x: -x.launched_at), spend=spend,
                           chart=Markup(chart.svg(spend)), total=sum(d.cost for d in spend), days=COST_DAYS,
                           by_user=_totals(lines, lambda x: x.user or "-"), by_workspace=_totals(lines, lambda x: x.workspace or "default"))
        return page("costs.html", context)

    return _guarded(request, build)


def _totals(lines: list, key: Callable[[Any], str]) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for line in lines:
        totals[key(line)] = totals.get(key(line), 0.0) + line.cost
    return sorted(totals.items())


@router.get(PREFIX + "/admin")
def admin_page(request: Request, store: Store, caller: Caller) -> Response:
    return _guarded(request, lambda: _admin(request, store, caller, None))


def _admin(request: Request, store, caller: Principal, secret: str | None) -> Response:
    users, tokens = views.users_and_tokens(store, caller)
    team = hasattr(request.app.state.authenticator, "users")  # a team server's TeamTokens: tokens can be made here
    return page("admin.html", _context(request, store, "admin", users=users, tokens=tokens, team=team, secret=secret))


@router.post(PREFIX + "/admin/tokens")
async def admin_mint(request: Request, store: Store, caller: Caller) -> Response:
    """A token for a user, made by an admin: the answer is the page itself (not a redirect), the secret on it once."""
    from skyhop.server.auth.tokens import team_users

    form = await _form(request)
    try:
        _require_csrf(request, form)
        users = team_users(request)
        secret = await anyio.to_thread.run_sync(views.mint_token, users, caller, form.get("user", ""), form.get("name", "").strip())
        return await anyio.to_thread.run_sync(_admin, request, store, caller, secret)
    except SkyhopError as error:
        return _error_page(request, error)


@router.post(PREFIX + "/admin/tokens/{token_id}/revoke")
async def admin_revoke(request: Request, caller: Caller, token_id: str) -> Response:
    from skyhop.server.auth.tokens import team_users

    return await _action(request, lambda: views.revoke_token(team_users(request), caller, token_id), PREFIX + "/admin")
