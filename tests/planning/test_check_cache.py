"""Planning reuses a remote `check()` answer for a while; `skyhop check` always asks again."""

from __future__ import annotations

import pytest

from skyhop.planning import infra
from skyhop.providers import registry
from skyhop.providers.base import Capabilities
from skyhop.providers.credentials import CheckResult


class _Cloud:
    """A provider whose check would be an HTTP call: counts the calls, answers what the test scripts."""

    def __init__(self, name: str, *, remote: bool) -> None:
        self.name = name
        self.capabilities = Capabilities(remote_check=remote)
        self.calls = 0
        self.enabled = True

    def check(self) -> CheckResult:
        self.calls += 1
        return CheckResult(self.name, self.enabled, f"answer {self.calls}")


@pytest.fixture
def clouds(monkeypatch):
    found = {"remote": _Cloud("remote", remote=True), "filecheck": _Cloud("filecheck", remote=False)}
    monkeypatch.setattr(registry, "names", lambda: sorted(found))
    monkeypatch.setattr(registry, "get", lambda name: found[name])
    return found


def test_plans_reuse_a_remote_check_and_skyhop_check_asks_again(clouds):
    remote = clouds["remote"]
    assert infra.survey()["remote"].check.reason == "answer 1"
    assert infra.survey()["remote"].check.reason == "answer 1"  # the second plan: no round trip
    assert remote.calls == 1
    checked = {r.name: r for r in infra.check()}  # `skyhop check`: always now
    assert checked["remote"].reason == "answer 2" and remote.calls == 2
    assert infra.survey()["remote"].check.reason == "answer 2"  # and plans use the renewed answer
    assert remote.calls == 2


def test_a_kept_answer_expires(clouds, monkeypatch):
    infra.survey()
    monkeypatch.setattr(infra, "CHECK_TTL_S", 0.0)
    assert infra.survey()["remote"].check.reason == "answer 2"


def test_a_not_usable_answer_is_not_kept(clouds):
    """A user who just fixed their credentials is not told "not usable" from a stale answer."""
    remote = clouds["remote"]
    remote.enabled = False
    assert not infra.survey()["remote"].check.enabled
    remote.enabled = True
    assert infra.survey()["remote"].check.enabled and remote.calls == 2
    remote.enabled = False
    assert infra.survey()["remote"].check.enabled  # usable answers are kept: no third call
    assert not {r.name: r for r in infra.check()}["remote"].enabled  # until `skyhop check` looks again
    assert not infra.survey()["remote"].check.enabled and remote.calls == 4


def test_checks_of_local_files_are_never_kept(clouds):
    infra.survey()
    infra.survey()
    assert clouds["filecheck"].calls == 2


def test_each_skyhop_home_has_its_own_answers(clouds, monkeypatch, tmp_path):
    """One process may serve several homes (the tests' in-process servers do): answers never cross."""
    infra.survey()
    monkeypatch.setenv("SKYHOP_HOME", str(tmp_path / "other"))
    infra.survey()
    assert clouds["remote"].calls == 2
