"""The serving scenario of issue 12's acceptance, shared by the local and SSH end-to-end tests.

A service of two replicas of `lb_replica.py` (each answers `GET /id` with its id and version),
`wrk` sending traffic while one replica is preempted with `skyhop chaos preempt`, while the
service rolls over to a new version and while a blue-green update switches to the next one: no
client request may fail; `serve down` leaves nothing.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, ClassVar

import pytest
from e2e_support import wait_for

FAST = (
    "jobs:\n  controller_tick_seconds: 0.2\n"
    "serve:\n  probe_seconds: 0.3\n  decision_seconds: 0.5\n  drain_seconds: 10\n  probe_failure_seconds: 2\n"
)
REPLICA_APP = Path(__file__).with_name("lb_replica.py")


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (tests/setup_system.sh installs it)")


def app_dir(tmp_path: Path) -> Path:
    """A workdir holding the replica program (synced to every replica's node)."""
    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(REPLICA_APP, workdir)
    return workdir


def service(sky, name: str) -> dict:
    return sky.json("serve", "status", name)[0]


def ready(sky, name: str, version: int) -> list[dict]:
    return [r for r in service(sky, name)["replicas"] if r["status"] == "READY" and r["version"] == version]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


class Load:
    """`wrk` against a URL in the background, from now until `check()`, which stops it and asserts that every
    request succeeded.

    The load lasts exactly as long as the change it is there for (a preemption and the replacement, an update):
    a fixed `wrk -d` was either shorter than the change (the end of it went unloaded) or longer (the test
    waited for wrk: about 18 of the scenario's 33 s).
    """

    #: Loads not checked yet: stopped when the scenario fails (see `preempt_update_and_down`).
    running: ClassVar[list[Load]] = []

    def __init__(self, url: str) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["wrk", "-t1", "-c8", "-d600s", "--timeout", "10s", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        Load.running.append(self)

    def check(self) -> int:
        # At least a few seconds of traffic, so the count below shows that load really ran.
        time.sleep(max(0.0, self.started + LEAST_LOAD_SECONDS - time.monotonic()))
        self.process.send_signal(signal.SIGINT)  # wrk stops and prints its summary
        out, _ = self.process.communicate(timeout=120)
        Load.running.remove(self)
        found = re.search(r"(\d+) requests in", out)
        assert found is not None, out
        total = int(found.group(1))
        assert total > 200, out
        assert "Socket errors" not in out and "Non-2xx" not in out, out
        return total

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


LEAST_LOAD_SECONDS = 3


def show_logs(home: Path) -> None:
    """Print every service's controller and load balancer log (pytest shows them when the test failed)."""
    for log in sorted((home / "services").glob("*/*.log")):
        print(f"==== {log}\n{log.read_text(errors='replace')[-6000:]}")


class Versions:
    """Which version answered each of a stream of requests (one every 20 ms), until `stop()`."""

    def __init__(self, url: str) -> None:
        self.url, self.seen, self._done = url, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            self.seen.append(get(self.url).split()[-1])

    def stop(self) -> list[str]:
        self._done.set()
        self._thread.join(15)
        return self.seen


def preempt_update_and_down(sky, task: Callable[[int], str], after_down: Callable[[], None] = lambda: None) -> None:
    """The whole scenario on the service `web` whose task text for a version is `task(version)`."""
    try:
        _scenario(sky, task, after_down)
    except BaseException:
        show_logs(sky.skyhop_home)
        raise
    finally:
        while Load.running:
            Load.running.pop().kill()


def _scenario(sky, task: Callable[[int], str], after_down: Callable[[], None]) -> None:
    sky("serve", "up", "-y", "-n", "web", sky.task("web.yaml", task(1)), check=True)
    wait_for(lambda: len(ready(sky, "web", 1)) == 2, 180, "two READY replicas")
    endpoint = sky("serve", "status", "web", "--endpoint", check=True).out.strip()
    # Both replicas serve, each with its own id (the load balancer reads new routes within a moment).
    wait_for(lambda: {get(f"{endpoint}/id") for _ in range(8)} == {"replica 1 v1", "replica 2 v1"}, 10, "both replicas behind the endpoint")

    # A replica preempted under load: the load balancer retries elsewhere, the controller replaces it; the
    # load lasts until the replacement is READY.
    load = Load(f"{endpoint}/id")
    wait_for(lambda: service(sky, "web")["status"] == "READY", 10, "load running")
    sky("chaos", "preempt", "web-1", check=True)
    wait_for(lambda: {r["replica_id"] for r in ready(sky, "web", 1)} == {2, 3}, 180, "replica 1 replaced by replica 3")
    load.check()
    assert "Replica 1 was preempted or lost" in sky("serve", "logs", "web", "--controller", "--no-follow", check=True).out
    # Every replica's cluster, the preempted one included, is billed to the service's owner and shown as its replica.
    owner = service(sky, "web")["user"]
    lines = [line for line in sky.json("cost-report") if line["cluster"].startswith("web-")]
    assert {line["service"]["replica_id"] for line in lines} == {1, 2, 3}, lines
    assert all(line["service"]["name"] == "web" and line["user"] == owner for line in lines), lines

    # A rolling update under load: every request answered, by version 1 until version 2 is READY.
    load = Load(f"{endpoint}/id")
    sky("serve", "update", "-y", "web", sky.task("web2.yaml", task(2)), "--mode", "rolling", check=True)
    wait_for(lambda: len(ready(sky, "web", 2)) == 2 and len(service(sky, "web")["replicas"]) == 2, 180, "two READY replicas of version 2, nothing else")
    load.check()
    assert {get(f"{endpoint}/id").split()[-1] for _ in range(6)} == {"v2"}

    # A blue-green update under load: every request answered, and traffic moves from version 2 to version 3
    # at once (never back and forth), once version 3 has its replicas READY.
    load, seen = Load(f"{endpoint}/id"), Versions(f"{endpoint}/id")
    sky("serve", "update", "-y", "web", sky.task("web3.yaml", task(3)), "--mode", "blue_green", check=True)
    wait_for(lambda: len(ready(sky, "web", 3)) == 2 and len(service(sky, "web")["replicas"]) == 2, 180, "two READY replicas of version 3, nothing else")
    load.check()
    versions = seen.stop()
    assert versions[0] == "v2" and versions[-1] == "v3" and versions == sorted(versions), versions

    # Down: the replicas' clusters and the load balancer go.
    sky("serve", "down", "-y", "web", check=True)
    wait_for(lambda: sky.json("serve", "status") == [], 120, "the service gone")
    assert sky.clusters() == {}
    with pytest.raises(OSError):
        get(f"{endpoint}/id")
    assert load_balancers(sky.skyhop_home) == []
    after_down()


def load_balancers(home: Path) -> list[int]:
    """Pids of load balancer processes of services under `home`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"skyhop.serve.lb" in argv and any(str(home).encode() in a for a in argv):
            found.append(int(entry.name))
    return found
