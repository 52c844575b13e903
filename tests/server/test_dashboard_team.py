"""The dashboard on a real team server (`python -m skyhop.server --team`): users' tokens made and revoked from
the admin page, and a session that ends on the very next page once the token it logged in with is revoked."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from server.api_http import send
from server.team_server import as_, start_team_server, stop_team_server


@pytest.fixture
def team(isolated_home: Path):
    proc, server = start_team_server(isolated_home)
    yield server
    stop_team_server(proc, server)


def _post(server, path: str, form: dict[str, str], cookie: str | None = None):
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"Cookie": f"skyhop_session={cookie}"} if cookie else {})}
    return send(server, "POST", path, urlencode(form), headers=headers, auth=False)


def _get(server, path: str, cookie: str):
    return send(server, "GET", path, headers={"Cookie": f"skyhop_session={cookie}"}, auth=False)


def _login(server, token: str) -> str:
    answer = _post(server, "/dashboard/login", {"token": token})
    assert answer.status == 303, answer.text
    return re.search(r"skyhop_session=([^;]+)", answer.headers["set-cookie"]).group(1)


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def test_an_admin_makes_and_revokes_a_users_token_and_the_users_session_ends(team):
    assert as_(team, team.token, "POST", "/api/v1/admin/users", {"id": "alice"}).status == 200
    admin = _login(team, team.token)
    page = _get(team, "/dashboard/admin", admin)
    assert page.status == 200 and 'id="user-alice"' in page.text
    made = _post(team, "/dashboard/admin/tokens", {"csrf": _csrf(page.text), "user": "alice", "name": "laptop"}, admin)
    assert made.status == 200 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'<pre id="new-token">(shp_[^<]+)</pre>', made.text).group(1)
    assert secret not in _get(team, "/dashboard/admin", admin).text  # shown once

    alice = _login(team, secret)
    mine = _get(team, "/dashboard/", alice)
    assert mine.status == 200 and "alice (user)" in mine.text and "Users &amp; tokens" not in mine.text
    assert _get(team, "/dashboard/admin", alice).status == 403
    refused = _post(team, "/dashboard/admin/tokens", {"csrf": _csrf(mine.text), "user": "alice"}, alice)
    assert refused.status == 403 and "admin role" in refused.text

    token_id = re.search(r'id="token-([a-z2-7]{12})"><td><code>[a-z2-7]{12}</code></td><td>alice</td>', _get(team, "/dashboard/admin", admin).text).group(1)
    revoked = _post(team, f"/dashboard/admin/tokens/{token_id}/revoke", {"csrf": _csrf(page.text)}, admin)
    assert (revoked.status, revoked.headers["location"]) == (303, "/dashboard/admin")
    ended = _get(team, "/dashboard/", alice)
    assert (ended.status, ended.headers.get("location")) == (303, "/dashboard/login")  # the very next page
    assert as_(team, secret, "GET", "/api/v1/clusters").status == 401
