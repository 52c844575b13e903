"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright), on a real local server.

A user logs in with the server's token, sees a running cluster and its live
log lines arrive, cancels the job from the page, and sees the cost chart;
`skyhop dashboard` logs a browser in with a one-time link. One PNG per step,
and one on failure, go to $SKYHOP_TEST_ARTIFACTS (default tests/.artifacts/).
Without /usr/bin/chromium (tests/setup_system.sh installs it) the tests skip
saying so, unless SKYHOP_TEST_REQUIRE_BROWSER=1 (.ci/run) makes that a failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from helpers import REPO

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SKYHOP_TEST_ARTIFACTS") or REPO / "tests" / ".artifacts")
TICKER = "for i in $(seq 1 900); do echo tick-$i; sleep 0.2; done"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (tests/setup_system.sh installs Debian's chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for this module's tests; each test gets its own context (cookies).

    Module, not session: while Playwright's sync API is open, its event loop runs in the worker's main
    thread, and every later test on that xdist worker calling `asyncio.run` failed ("cannot be called
    from a running event loop": eight pool-dispatch tests in one full run)."""
    problem = _missing()
    if problem:
        if os.environ.get("SKYHOP_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SKYHOP_TEST_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@contextmanager
def recording(browser, name: str, allow: tuple[str, ...] = ()) -> Iterator:
    """A fresh page whose steps `shot` saves; on a failure the page as it was is saved too. The browser's
    console errors fail the test, but those containing a string of `allow` (an answer the test asks for)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    problems: list[str] = []  # script errors and console errors (a CSP refusal, a failed load) fail the test
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}") if message.type == "error" else None)
    try:
        yield page, lambda step: page.screenshot(path=str(ARTIFACTS / f"{name}-{step}.png"), full_page=True)
        assert not [p for p in problems if not any(a in p for a in allow)], problems
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"failure-{name}.png"), full_page=True)
        raise
    finally:
        context.close()


def _server(sky) -> dict:
    return json.loads((sky.skyhop_home / "api" / "server.json").read_text())


def _seed_spend(sky) -> str:
    """A cluster that cost $6 two days ago (up 10:00-12:00 UTC at $3/h), now gone: the chart must show that day's bar."""
    from skyhop.state.records import STOPPED, UP, ClusterRecord
    from skyhop.state.store import StateStore

    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=2)
    start = dt.datetime.combine(day, dt.time(10), dt.timezone.utc).timestamp()
    store = StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}")
    try:
        store.add_cluster(ClusterRecord(name="old-run", provider="gone", region="r", user="tester", hourly_price=3.0, launched_at=start))
        store.set_cluster_status("old-run", UP, at=start)
        store.set_cluster_status("old-run", STOPPED, at=start + 7200)
        store.remove_cluster("old-run", at=start + 7200)
    finally:
        store.close()
    return day.isoformat()


def _add_stopped_cluster(sky, name: str, *, remove: bool = False) -> None:
    from skyhop.state.records import STOPPED, UP, ClusterRecord
    from skyhop.state.store import StateStore

    store = StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}")
    try:
        if remove:
            store.remove_cluster(name)
        else:
            store.add_cluster(ClusterRecord(name=name, provider="gone", region="r", user="tester"))
            store.set_cluster_status(name, UP)
            store.set_cluster_status(name, STOPPED)
    finally:
        store.close()


def test_log_in_watch_a_live_log_cancel_the_job_and_see_costs(sky, browser):
    from playwright.sync_api import expect

    sky("launch", "-y", "-c", "web", "-d", TICKER, check=True)
    day = _seed_spend(sky)
    server = _server(sky)
    with recording(browser, "dashboard") as (page, shot):
        page.goto(f"{server['url']}/dashboard/")
        expect(page).to_have_url(re.compile(r"/dashboard/login$"))
        page.fill("#token", server["token"])
        page.click("#login")
        row = page.locator("tr.cluster", has_text="web")
        expect(row).to_contain_text("UP")
        assert server["token"] not in page.url
        shot("01-clusters")

        row.get_by_role("link", name="web").click()
        expect(page.locator("#job-1-status")).to_have_text("RUNNING")
        log = page.locator("#log")
        expect(log).to_contain_text("tick-3")
        seen = int(re.findall(r"tick-(\d+)", log.inner_text())[-1])
        expect(log).to_contain_text(f"tick-{seen + 3}")  # lines keep arriving while the page is open
        shot("02-live-log")

        page.click("#cancel-1")
        expect(page.locator("#job-1-status")).to_have_text("CANCELLED")
        expect(page.locator("#log-state")).to_have_text("the job has ended")
        shot("03-cancelled")
        assert sky.jobs("web")[1]["status"] == "CANCELLED"
        # A browser that reconnects says which line it had: the stream goes on after it, not from the start.
        resumed = page.request.get(f"{server['url']}/dashboard/clusters/web/jobs/1/log/stream", headers={"Last-Event-ID": "5"}).text()
        assert "id: 6\ndata: tick-6\n" in resumed and "data: tick-5\n" not in resumed and resumed.endswith("event: end\ndata: \n\n")

        page.get_by_role("link", name="Costs").click()
        bars = page.locator("#cost-chart rect.bar")
        expect(bars).to_have_count(30)
        assert float(page.locator(f'#cost-chart rect.bar[data-day="{day}"]').get_attribute("data-cost")) == pytest.approx(6.0)
        assert float(page.locator(f'#cost-chart rect.bar[data-day="{day}"]').get_attribute("height")) > 100
        expect(page.locator("tr.cost-line", has_text="old-run")).to_contain_text("$6.0000")
        shot("04-costs")


def test_skyhop_dashboard_logs_the_browser_in_once(sky, browser, tmp_path):
    opened = tmp_path / "opened.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    fake_browser.chmod(0o755)
    sky.env["BROWSER"] = str(fake_browser)
    result = sky("dashboard", check=True)
    server = _server(sky)
    url = opened.read_text().strip()
    assert url.startswith(f"{server['url']}/dashboard/login?code=") and server["token"] not in url
    assert "code=" not in result.out and f"{server['url']}/dashboard/" in result.out  # the link went to the browser only
    with recording(browser, "dashboard-cli", allow=("status of 400",)) as (page, shot):  # the used code's page is a 400
        page.goto(url)
        from playwright.sync_api import expect

        expect(page).to_have_url(re.compile(r"/dashboard/$"))  # the code left the address bar
        expect(page.locator("#who")).to_contain_text("(admin)")
        shot("01-logged-in")
        _add_stopped_cluster(sky, "appears")  # htmx refreshes the table in place: the row shows without a reload
        try:
            expect(page.locator("tr.cluster", has_text="appears")).to_contain_text("STOPPED", timeout=15_000)
        finally:
            _add_stopped_cluster(sky, "appears", remove=True)
        page.context.clear_cookies()
        page.goto(url)
        expect(page.locator("#message")).to_contain_text("already used or has expired")
        shot("02-code-used")
