"""The dashboard's pages over real HTTP, without a browser: who gets in, what they see, what they may change.

The server is the real app (`create_app`) on a real port and a real SQLite
store, with a token table for three callers (alice a user, bob a user, vera a
viewer, root an admin) in place of team mode's users store, so each rule is
checked for a caller who may not do it.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyhop.server.auth.principal import Principal, Role
from skyhop.state.records import STOPPED, UP, ClusterRecord, JobRecord

HOSTILE = "<script>"  # the page's own script tags all have a src: a bare `<script>` in a page is an escaping bug
TOKENS = {
    "tok-alice": Principal("alice", Role.USER),
    "tok-bob": Principal("bob", Role.USER),
    "tok-vera": Principal("vera", Role.VIEWER),
    "tok-root": Principal("root", Role.ADMIN),
    "tok-tia": Principal("tia", Role.USER, token_id="tid-tia"),  # a stored token (team mode's kind)
    "tok-bea": Principal("bea", Role.USER),  # only the budget test's: the budgets service memoizes notices per user
}


class TableAuth:
    """Tokens to callers; a revoked user's sessions end on their next page (the `session_principal` hook)."""

    blocking = False
    local_user = None  # a team server: its controllers take every user's work

    def __init__(self) -> None:
        self.revoked: set[str] = set()

    def principal(self, token: str) -> Principal | None:
        found = TOKENS.get(token)
        return None if found is None or found.user in self.revoked else found

    def session_principal(self, principal: Principal) -> Principal | None:
        return None if principal.user in self.revoked else principal


@dataclass
class Site:
    host: str
    port: int
    store: object
    auth: TableAuth
    cookies: dict[str, str] = field(default_factory=dict)

    def send(self, method: str, path: str, *, who: str | None = None, form: dict[str, str] | None = None, headers: dict[str, str] | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = dict(headers or {})
        if who is not None:
            sent["Cookie"] = f"skyhop_session={self.cookies[who]}"
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response.status, response.read().decode(), {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()

    def login(self, who: str) -> str:
        status, _, headers = self.send("POST", "/dashboard/login", form={"token": f"tok-{who}"})
        assert status == 303, status
        self.cookies[who] = re.search(r"skyhop_session=([^;]+)", headers["set-cookie"]).group(1)
        return headers["set-cookie"]

    def page(self, path: str, who: str) -> str:
        status, text, _ = self.send("GET", path, who=who)
        assert status == 200, (status, text[:500])
        return text

    def csrf(self, who: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.page("/dashboard/", who)).group(1)


@pytest.fixture
def site(isolated_home: Path, tmp_path: Path, migrated_state_db: Path, request: pytest.FixtureRequest):
    import shutil

    import uvicorn

    from skyhop.server.app import create_app
    from skyhop.state.store import StateStore

    shutil.copyfile(migrated_state_db, tmp_path / "state.db")  # migrating each test's database would cost ~1 CPU s
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    auth = TableAuth()
    app = create_app(store, auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    # Which peers' X-Forwarded-* headers uvicorn believes (its default: 127.0.0.1). A test sets another address to be a
    # proxy the server does not trust, as a containerized server sees its host's proxy (from the bridge's address).
    trusted = getattr(request, "param", "127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, forwarded_allow_ips=trusted))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the dashboard's server did not start"
        time.sleep(0.01)
    try:
        yield Site("127.0.0.1", sock.getsockname()[1], store, auth)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def seed_cluster(store, name: str, user: str, *, price: float = 0.0, up_at: float | None = None, stop_at: float | None = None, job: str = "train") -> None:
    """A stopped cluster of `user` (no agent to ask) with one RUNNING job row, billed from `up_at` to `stop_at`."""
    up_at = up_at or time.time() - 60
    store.add_cluster(ClusterRecord(name=name, provider="nowhere", region="r1", user=user, hourly_price=price, launched_at=up_at))
    store.set_cluster_status(name, UP, at=up_at)
    store.set_cluster_status(name, STOPPED, at=stop_at or time.time())
    store.upsert_jobs(name, [JobRecord(job_id=1, status="RUNNING", submitted_at=up_at, name=job, user=user)])


def test_every_page_but_login_and_static_needs_a_session(site):
    for path in ("/dashboard/", "/dashboard/costs", "/dashboard/requests", "/dashboard/admin", "/dashboard/clusters/x/jobs/1/log/stream"):
        status, _, headers = site.send("GET", path)
        assert (status, headers.get("location")) == (303, "/dashboard/login"), path
    status, _, _ = site.send("POST", "/dashboard/clusters/x/jobs/1/cancel", form={"csrf": "x"})
    assert status == 401
    # A bearer token is the API's door, not the dashboard's: it opens no page.
    assert site.send("GET", "/dashboard/", headers={"Authorization": "Bearer tok-root"})[0] == 303
    assert site.send("GET", "/dashboard/login")[0] == 200
    status, text, headers = site.send("GET", "/dashboard/static/htmx.min.js")
    assert status == 200 and "htmx" in text and headers["content-type"].startswith("text/javascript")
    assert site.send("GET", "/dashboard/static/..%2Fsessions.py")[0] == 404
    assert site.send("POST", "/api/v1/dashboard/code")[0] == 401


def test_login_gives_a_strict_httponly_cookie_without_the_token(site):
    status, text, headers = site.send("POST", "/dashboard/login", form={"token": "tok-nobody"})
    assert status == 401 and "set-cookie" not in headers and "not valid" in text
    set_cookie = site.login("alice")
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/dashboard" in set_cookie
    assert "tok-alice" not in set_cookie
    assert "alice (user)" in site.page("/dashboard/", "alice")
    # A cookie altered by its holder (say, to claim the admin role) is refused.
    payload, signature = site.cookies["alice"].split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "r": "admin"}).encode()).rstrip(b"=").decode()
    site.cookies["forged"] = f"{forged}.{signature}"
    assert site.send("GET", "/dashboard/", who="forged")[0] == 303
    # A login from another site's page is refused even with a good token.
    status, _, headers = site.send("POST", "/dashboard/login", form={"token": "tok-alice"}, headers={"Origin": "http://evil.example"})
    assert status == 401 and "set-cookie" not in headers


@pytest.mark.parametrize("site", ["127.0.0.1", "192.0.2.77"], indirect=True)
def test_behind_a_tls_proxy_the_cookie_is_secure_even_when_the_proxy_is_not_trusted(site):
    """nginx in front of a container reaches it from the bridge's address, which uvicorn does not trust for
    X-Forwarded-*: the cookie must still be Secure (else a browser sends it on a plain http:// visit of the host)."""
    _, _, headers = site.send("POST", "/dashboard/login", form={"token": "tok-alice"}, headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in headers["set-cookie"], headers["set-cookie"]
    _, _, headers = site.send("POST", "/dashboard/login", form={"token": "tok-alice"})
    assert "Secure" not in headers["set-cookie"], "plain http without a proxy: a Secure cookie would never come back"


def test_a_revoked_callers_session_ends_at_once(site):
    site.login("bob")
    site.page("/dashboard/", "bob")
    site.auth.revoked.add("bob")
    assert site.send("GET", "/dashboard/", who="bob")[0] == 303


def test_without_the_hook_a_stored_tokens_sessions_follow_its_row(site):
    """An authenticator without `session_principal`: the token's row decides (revoked, expired, user disabled, role)."""
    from skyhop.state.models import Token, User

    site.auth.session_principal = None  # type: ignore[method-assign]  # this authenticator has no hook
    now = time.time()
    with site.store._write() as session:
        session.add(User(id="tia", role="user", kind="human", created_at=now))
        session.flush()  # the user's row first: the token's foreign key names it
        session.add(Token(id="tid-tia", user_id="tia", kind="personal", hash=b"h" * 32, created_at=now))
    site.login("tia")
    assert "tia (user)" in site.page("/dashboard/", "tia")
    with site.store._write() as session:
        session.get(User, "tia").role = "viewer"
    assert "tia (viewer)" in site.page("/dashboard/", "tia")  # a demotion counts on the next page
    with site.store._write() as session:
        session.get(Token, "tid-tia").revoked_at = time.time()
    assert site.send("GET", "/dashboard/", who="tia")[0] == 303


def test_names_are_escaped_everywhere(site):
    seed_cluster(site.store, HOSTILE, "alice", job=HOSTILE)
    site.store.create_request("launch", {}, cluster=HOSTILE, user="alice", log_path="/dev/null")
    site.login("alice")
    quoted = "%3Cscript%3E"
    for path in ("/dashboard/", "/dashboard/requests", "/dashboard/costs", f"/dashboard/clusters/{quoted}"):
        text = site.page(path, "alice")
        assert "&lt;script&gt;" in text, path
        assert HOSTILE not in text, path


def test_another_users_rows_never_show(site):
    seed_cluster(site.store, "alice-dev", "alice")
    seed_cluster(site.store, "bob-secret", "bob")
    site.store.create_request("launch", {}, cluster="bob-secret", user="bob", log_path="/dev/null")
    for who in ("alice", "vera", "root"):
        site.login(who)
    for path in ("/dashboard/", "/dashboard/requests", "/dashboard/costs", "/dashboard/managed-jobs", "/dashboard/services"):
        text = site.page(path, "alice")
        assert "bob-secret" not in text, path
    assert "alice-dev" in site.page("/dashboard/", "alice")
    status, text, _ = site.send("GET", "/dashboard/clusters/bob-secret", who="alice")
    assert status == 404 and "does not exist" in text  # the same answer as a missing cluster
    assert site.send("GET", "/dashboard/clusters/bob-secret/jobs/1/log/stream", who="alice")[1].count("event: failed") == 1
    for who in ("vera", "root"):  # the viewer and the admin see everyone's
        assert "bob-secret" in site.page("/dashboard/", who) and "alice-dev" in site.page("/dashboard/", who)
    assert "Cancel</button>" in site.page("/dashboard/clusters/alice-dev", "alice")
    assert "Cancel</button>" not in site.page("/dashboard/clusters/bob-secret", "vera")  # a viewer gets no write buttons
    assert "Users &amp; tokens" not in site.page("/dashboard/", "alice")
    assert site.send("GET", "/dashboard/admin", who="alice")[0] == 403
    assert "single-user mode" in site.page("/dashboard/admin", "root")


def test_posts_need_the_sessions_csrf_value_and_a_writer(site):
    seed_cluster(site.store, "bob-secret", "bob")
    for who in ("alice", "bob", "vera"):
        site.login(who)
    cancel = "/dashboard/clusters/bob-secret/jobs/1/cancel"
    status, text, _ = site.send("POST", cancel, who="bob", form={})
    assert status == 403 and "CSRF" in text
    status, text, _ = site.send("POST", cancel, who="bob", form={"csrf": site.csrf("alice")})  # another session's value
    assert status == 403 and "CSRF" in text
    status, text, _ = site.send("POST", cancel, who="bob", form={"csrf": site.csrf("bob")}, headers={"Origin": "http://evil.example"})
    assert status == 403 and "CSRF" in text
    status, text, _ = site.send("POST", cancel, who="vera", form={"csrf": site.csrf("vera")})
    assert status == 403 and "viewer" in text
    status, text, _ = site.send("POST", cancel, who="alice", form={"csrf": site.csrf("alice")})
    assert status == 404
    status, text, _ = site.send("POST", cancel, who="bob", headers={"X-CSRF-Token": site.csrf("bob")}, form={})
    assert status == 400 and "nowhere" in text, (status, text)  # past every check: the cluster itself (of no installed provider) answers
    status, _, headers = site.send("POST", "/dashboard/logout", who="bob", form={"csrf": site.csrf("bob")})
    assert status == 303 and 'skyhop_session=""' in headers["set-cookie"]


def test_a_one_time_code_logs_in_once(site):
    status, text, _ = site.send("POST", "/api/v1/dashboard/code", headers={"Authorization": "Bearer tok-alice"})
    assert status == 200
    path = re.search(r'"path":"([^"]+)"', text).group(1)
    status, _, headers = site.send("GET", path)
    assert status == 303 and headers["location"] == "/dashboard/" and "skyhop_session=" in headers["set-cookie"]
    site.cookies["alice"] = re.search(r"skyhop_session=([^;]+)", headers["set-cookie"]).group(1)
    assert "alice (user)" in site.page("/dashboard/", "alice")
    status, text, headers = site.send("GET", path)
    assert status == 400 and "set-cookie" not in headers and "already used or has expired" in text


def test_the_cost_chart_has_a_bar_per_day_with_that_days_spend(site):
    today = dt.datetime.now(dt.timezone.utc).date()
    noon = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(10), dt.timezone.utc).timestamp()
    seed_cluster(site.store, "train", "alice", price=3.0, up_at=noon, stop_at=noon + 2 * 3600)  # $6, two days ago
    seed_cluster(site.store, "bob-secret", "bob", price=100.0, up_at=noon, stop_at=noon + 3600)
    site.login("alice")
    text = site.page("/dashboard/costs", "alice")
    bars = dict(re.findall(r'data-day="([0-9-]+)" data-cost="([0-9.]+)"', text))
    assert len(bars) == 30
    assert float(bars[(today - dt.timedelta(days=2)).isoformat()]) == pytest.approx(6.0)
    assert sum(map(float, bars.values())) == pytest.approx(6.0)  # bob's $100 is not alice's
    assert "$6.0000" in text and "by-user" not in text  # per-user totals are for roles that see all
    site.login("vera")
    totals = site.page("/dashboard/costs", "vera")
    assert re.search(r'<td>alice</td><td>\$6\.0000</td>', totals) and re.search(r'<td>bob</td><td>\$100\.0000</td>', totals)
    assert re.search(r'id="by-workspace">.*<td>default</td><td>\$106\.0000</td>', totals, re.S)


def test_daily_spend_splits_an_interval_at_midnight():
    from skyhop.server.dashboard.chart import daily
    from skyhop.state.records import LAUNCH, STOP, ClusterEvent

    day = dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.timezone.utc).timestamp()
    events = [ClusterEvent(1, "c", LAUNCH, day, 1.0, "p", "r", 1, {}), ClusterEvent(2, "c", STOP, day + 2 * 3600, 1.0, "p", "r", 1, {})]
    spend = daily(events, now=day + 5 * 86400, days=7)
    by_day = {d.day.isoformat(): round(d.cost, 6) for d in spend}
    assert by_day["2026-03-01"] == 1.0 and by_day["2026-03-02"] == 1.0 and sum(by_day.values()) == 2.0


def test_managed_jobs_with_attempts_and_services_with_replicas_are_the_callers_own(site):
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.managed import KIND, ManagedJobs
    from skyhop.state.services import Services

    managed = ManagedJobs(site.store)
    mine, theirs = managed.create([{"name": "alice-train", "user": "alice", "tasks": [{}]}, {"name": "bob-train", "user": "bob", "tasks": [{}]}])
    managed.add_attempt(mine.id, 0, "alice-train-1", True)
    services = Services(site.store)
    task = {"run": "python3 -m http.server 8080", "service": {"readiness_probe": "/", "replicas": 1}, "resources": {"ports": 8080}}
    services.create("alice-svc", task, "alice")
    services.add_replica("alice-svc", 1, False, "READY")
    services.create("bob-svc", task, "bob")
    for who in ("alice", "vera"):
        site.login(who)
    text = site.page("/dashboard/managed-jobs", "alice")
    assert "alice-train" in text and "alice-train-1" in text and "bob-train" not in text
    text = site.page("/dashboard/services", "alice")
    assert "alice-svc" in text and "READY" in text and "bob-svc" not in text
    assert "bob-svc" in site.page("/dashboard/services", "vera")
    assert "Cancel</button>" not in site.page("/dashboard/managed-jobs", "vera")
    status, _, _ = site.send("POST", f"/dashboard/managed-jobs/{theirs.id}/cancel", who="alice", form={"csrf": site.csrf("alice")})
    assert status == 404
    status, _, headers = site.send("POST", f"/dashboard/managed-jobs/{mine.id}/cancel", who="alice", form={"csrf": site.csrf("alice")})
    assert (status, headers["location"]) == (303, "/dashboard/managed-jobs")
    leases = ControllerLeases(site.store)
    assert leases.cancel_requested(KIND, str(mine.id)) and not leases.cancel_requested(KIND, str(theirs.id))


def test_a_request_page_shows_its_output_escaped_to_its_owner_only(site, tmp_path):
    log = tmp_path / "req.log"
    log.write_text('{"phase": "provisioning"}\n{"out": "hello <b>there</b>\\n"}\n{"msg": "done"}\n')
    mine = site.store.create_request("launch", {}, cluster="c", user="alice", log_path=str(log))
    theirs = site.store.create_request("launch", {}, cluster="d", user="bob", log_path=str(log))
    site.login("alice")
    assert f"/dashboard/requests/{mine.request_id}" in site.page("/dashboard/requests", "alice")
    text = site.page(f"/dashboard/requests/{mine.request_id}", "alice")
    assert "[skyhop] provisioning..." in text and "hello &lt;b&gt;there&lt;/b&gt;" in text and "done" in text
    assert site.send("GET", f"/dashboard/requests/{theirs.request_id}", who="alice")[0] == 404


def test_budget_notices_show_as_a_banner_on_every_page(site, monkeypatch):
    """The budgets service's notices (its `cached_notices` hook) become the banner, escaped, for that caller only."""
    import sys
    import types

    fake = types.ModuleType("skyhop.server.services.budgets")
    fake.cached_notices = lambda store, principal: (  # type: ignore[attr-defined]
        [{"kind": "exceeded", "text": "Budget <team> reached: $12.00 of $10.00"}] if principal.user == "alice" else []
    )
    monkeypatch.setitem(sys.modules, "skyhop.server.services.budgets", fake)
    site.login("alice")
    site.login("bob")
    for path in ("/dashboard/", "/dashboard/costs"):
        assert 'class="banner b-exceeded" role="alert">Budget &lt;team&gt; reached: $12.00 of $10.00<' in site.page(path, "alice")
        assert "banner" not in site.page(path, "bob").split("<main>")[0].split("</header>")[1]


def _naive_daily(events, now: float, days: int) -> list[float]:
    """The definition: billed up to each UTC day's end minus billed up to its start, over the whole history."""
    from skyhop.server.dashboard.chart import billed_until

    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    out = []
    for back in range(days - 1, -1, -1):
        start = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(), dt.timezone.utc).timestamp()
        out.append(max(0.0, billed_until(events, min(start + 86400, now)) - billed_until(events, start)))
    return out


def _histories():
    from skyhop.state.records import LAUNCH, START, STOP, TERMINATE

    step = st.tuples(st.sampled_from([LAUNCH, START, STOP, TERMINATE]), st.floats(0, 2 * 86400), st.sampled_from([0.5, 2.0, 7.0]))
    return st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), step), max_size=14)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(_histories())
def test_daily_spend_is_the_difference_of_cumulative_totals(steps):
    """The per-cluster replay gives each day exactly what the definition gives, for any history."""
    from skyhop.server.dashboard.chart import daily
    from skyhop.state.records import ClusterEvent

    now = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.timezone.utc).timestamp()
    at, events = now - 9 * 86400, []
    for number, (cluster, (kind, gap, price)) in enumerate(steps, 1):
        at = min(at + gap, now)
        events.append(ClusterEvent(number, cluster, kind, at, price, "p", "r", 1, {}))
    got = [d.cost for d in daily(events, now, 7)]
    assert got == pytest.approx(_naive_daily(events, now, 7), abs=1e-9)


def test_a_budget_at_80_percent_shows_its_warning_to_its_user(site):
    """The real budgets service: a warning the enforcer recorded this month is the banner of bea's pages, not bob's."""
    from skyhop.state.budgets import WARNED, Budgets
    from skyhop.state.cost import month_name

    budgets = Budgets(site.store)
    budget, _ = budgets.set("user", "bea", 10.0)
    budgets.record(budget.id, month_name(time.time()), WARNED, 8.5)
    site.login("bea")
    site.login("bob")
    text = site.page("/dashboard/costs", "bea")
    assert 'class="banner b-warned" role="alert">Budget for' in text and "$8.50 of $10.00" in text
    assert 'role="alert"' not in site.page("/dashboard/costs", "bob")
