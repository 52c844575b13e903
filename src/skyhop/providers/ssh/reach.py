"""Can skyhop reach each pool host right now? (`skyhop check`, `skyhop ssh ls --check`)

One `true` over SSH per host, all at once, with the same options launches use,
so a host that passes here passes the launch's probe too (Python aside).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from skyhop.errors import SkyhopError
from skyhop.parallel import each
from skyhop.providers.ssh.pools import Pool
from skyhop.providers.ssh.runner import SSHRunner


@dataclass(frozen=True)
class HostReach:
    pool: str
    host: str
    reachable: bool
    detail: str
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"pool": self.pool, "host": self.host, "reachable": self.reachable, "detail": self.detail, "seconds": round(self.seconds, 3)}


def _try(pool: str, runner: SSHRunner) -> HostReach:
    started = time.perf_counter()
    try:
        done = runner.run(["true"], timeout=30)
        ok, detail = done.returncode == 0, "ok" if done.returncode == 0 else done.stderr.strip()[-200:]
    except SkyhopError as error:
        ok, detail = False, str(error)
    except OSError as error:
        ok, detail = False, f"cannot run ssh: {error}"
    except Exception as error:  # a timeout, most likely
        ok, detail = False, f"{type(error).__name__}: {error}"
    return HostReach(pool, runner.target.describe(), ok, detail, time.perf_counter() - started)


def reach(pools: list[Pool]) -> list[HostReach]:
    return each([(pool.name, SSHRunner(host.target)) for pool in pools for host in pool.hosts], lambda item: _try(*item))
