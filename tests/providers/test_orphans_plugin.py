"""Orphans: marked cloud resources no cluster owns are listed by `status --refresh` and removed by `down --orphans`.

Through a real plugin that is an `OwnedLister` (tests/providers/plugin_pkg: each
cluster's directory stands for a marked resource) and the real CLI and server.
"""

from __future__ import annotations

import json
import sqlite3

from helpers import run_cli, subprocess_env
from pty_terminal import Terminal


def forget(home, cluster: str) -> None:
    """The record removed by hand (or lost to a crash): what exists in the cloud stays."""
    db = sqlite3.connect(home / ".skyhop" / "state.db")
    with db:
        db.execute("DELETE FROM clusters WHERE name = ?", (cluster,))
    db.close()


def test_a_cluster_nobody_knows_is_listed_and_removed_after_confirmation(isolated_home, plugin_site):
    (isolated_home / ".skyhop").mkdir(exist_ok=True)
    (isolated_home / ".skyhop" / "catalogcloud.json").write_text("{}")

    def skyhop(*args):
        return run_cli(isolated_home, *args, PYTHONPATH=str(plugin_site))

    try:
        for name in ("kept", "lost"):
            done = skyhop("launch", "-y", "-c", name, "--gpus", "H100:8", "--infra", "shadeform", "echo up")
            assert done.returncode == 0, done.stderr
        assert skyhop("status", "--refresh").stdout.count("skyhop's marks") == 0, "every resource has its cluster"
        forget(isolated_home, "lost")

        listed = skyhop("status", "--refresh")
        assert "kept" in listed.stdout and "1 cloud resource(s) carry skyhop's marks" in listed.stdout
        assert "lost" in listed.stdout.split("skyhop's marks")[1] and "skyhop down --orphans" in listed.stdout
        survey = json.loads(skyhop("status", "--orphans", "--output", "json").stdout)
        assert [(o["provider"], o["cluster"], o["key"]) for o in survey["orphans"]] == [("shadeform", "lost", "shadeform:node-dir:lost")]
        assert survey["unchecked"] == []

        # Without -y at a terminal: "no" removes nothing.
        env = subprocess_env(isolated_home, PYTHONPATH=str(plugin_site))
        term = Terminal(env, isolated_home, "down", "--orphans")
        term.expect("Remove these 1 resource(s)?")
        term.type("n\n")
        assert term.finish() == 1 and "Traceback" not in term.screen
        assert (isolated_home / ".skyhop" / "catalogcloud" / "lost").exists()

        removed = skyhop("down", "--orphans", "-y")
        assert removed.returncode == 0, removed.stderr
        assert "Removed 1 resource(s)" in removed.stdout
        assert not (isolated_home / ".skyhop" / "catalogcloud" / "lost").exists()
        assert (isolated_home / ".skyhop" / "catalogcloud" / "kept").exists(), "a known cluster's resources are never orphans"
        assert "No orphaned cloud resources." in skyhop("status", "--orphans").stdout
        again = skyhop("down", "--orphans", "-y")
        assert again.returncode == 0 and "No orphaned cloud resources." in again.stdout
    finally:
        skyhop("down", "--all", "-y")
        skyhop("api", "stop")


def test_orphans_take_no_cluster_names(isolated_home):
    done = run_cli(isolated_home, "down", "--orphans", "dev")
    assert done.returncode != 0 and "takes no cluster names" in done.stderr and "Traceback" not in done.stderr


def test_a_cut_name_of_a_known_cluster_is_never_an_orphan(monkeypatch):
    """Lambda and RunPod read the cluster back from a resource name cut to 60 characters: a running cluster
    with a long name must not be listed (and removed) as an orphan."""
    from types import SimpleNamespace

    from skyhop.execution import orphans
    from skyhop.providers import _owned
    from skyhop.providers.base import OwnedResource

    owner = "0123456789abcdef"
    long_name = "a-very-long-but-perfectly-valid-cluster-name-for-training-x"
    cut = _owned.resource_name(owner, long_name, limit=60).removeprefix(f"skyhop-{owner[:8]}-")
    assert cut != long_name and cut.endswith(cut[-8:])

    class Lister:
        def owned(self):
            return [OwnedResource("instance", "i-1", "r", cut), OwnedResource("instance", "i-2", "r", "gone-cluster-name-that-is-long-enough-to-be-cut-1b28d809")]

        def remove_owned(self, resources):
            raise AssertionError("not called here")

    monkeypatch.setattr(orphans, "_listers", lambda: [("cloudy", Lister())])
    store = SimpleNamespace(list_clusters=lambda: [SimpleNamespace(name=long_name)])
    found = orphans.find(store)
    assert [o.resource.id for o in found.orphans] == ["i-2"], "the running cluster's instance is not an orphan; the other one is"
    assert _owned.may_name(long_name, long_name) and not _owned.may_name("short", "shorter")
