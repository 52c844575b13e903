"""A functions session's transport (issue 14, F2): PING/PONG round trips through the head's relay.

    .venv/bin/python benchmarks/fn_relay.py                # local provider and two SSH namespace hosts (root)
    .venv/bin/python benchmarks/fn_relay.py --only local

On a fresh SKYHOP_HOME and API server per case, a 2-node cluster is launched, a session opened
(`skyhop.functions.session.open_session`; its time is reported), and 50 warm-up then N PINGs are sent
to each rank one at a time: rank 0 is the head's own worker (caller -> agent socket -> relay -> pipe),
rank 1 adds the head's ssh to the worker node. The PONG comes from the worker itself, so this is the
floor of a no-op call without any pickling; a no-op call (the function PUT once, then CALL/RESULT,
pickled as the pool's client does) is measured beside it. For SSH the caller reaches the head's socket through the
ControlMaster's forward; `ssh host true` through that same master is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from run import DEFAULT_CATALOG, launched, scratch_env, summary

HERE = Path(__file__).resolve().parent
PINGS = 1000


def pings(cluster: str, env: dict[str, str], count: int) -> dict[str, object]:
    os.environ.update(HOME=env["HOME"], SKYHOP_HOME=env["SKYHOP_HOME"], SKYHOP_CATALOG_DIR=env["SKYHOP_CATALOG_DIR"])
    from skyhop.functions.session import open_session

    started = time.perf_counter()
    session = open_session(cluster)
    opened = time.perf_counter() - started
    try:
        result: dict[str, object] = {"open_s": opened}
        for worker in session.workers:
            for _ in range(50):
                session.ping(worker.rank)
            result[f"rank{worker.rank}"] = summary([session.ping(worker.rank) for _ in range(count)])
            result[f"call{worker.rank}"] = summary(noop_calls(session, worker.rank, count))
        return result
    finally:
        session.close()


def noop_calls(session, rank: int, count: int) -> list[float]:
    """Seconds of `(lambda: None)()` on `rank`, one call at a time: the function PUT once, then CALL/RESULT
    frames as the pool's client sends them (pickled here, unpickled there)."""
    import hashlib
    import pickle
    import threading

    import cloudpickle

    from skyhop_agent import fnwire

    data = cloudpickle.dumps(lambda: None)
    digest = hashlib.blake2b(data, digest_size=fnwire.DIGEST_SIZE).digest()
    session.send(fnwire.PUT, rank, 0, digest + data)
    samples = []
    for index in range(50 + count):
        done = threading.Event()
        call_id = session.next_call_id()
        session.register(call_id, lambda frame: done.set())
        started = time.perf_counter()
        session.send(fnwire.CALL, rank, call_id, pickle.dumps((digest.hex(), fnwire.MODE_CALL, (), {}, {"name": "noop", "timeout": None}), 5))
        if not done.wait(30):
            raise SystemExit(f"no answer from rank {rank}")
        if index >= 50:
            samples.append(time.perf_counter() - started)
        session.unregister(call_id)
    return samples


def local_case(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="fnbench-") as tmp:
        env = scratch_env(DEFAULT_CATALOG, Path(tmp))
        with launched(env, "fn", "--num-nodes", "2", "--cpus", "0.5", "echo hi"):
            return pings("fn", env, count)


@contextmanager
def ssh_pool_home() -> Iterator[tuple[dict[str, str], list[Any]]]:
    """A scratch home whose config has two fresh SSH namespace hosts as the node pool `bench` (needs root)."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import netns_hosts

    with tempfile.TemporaryDirectory(prefix="fnbench-") as tmp:
        home = Path(tmp)
        hosts = netns_hosts.up(2, home / "hosts")
        env = scratch_env(DEFAULT_CATALOG, home)
        (home / ".skyhop").mkdir()
        (home / ".skyhop" / "config.yaml").write_text(netns_hosts.node_pool_config(hosts, "bench", extra="    cpus: 2\n"))
        try:
            yield env, hosts
        finally:
            netns_hosts.down(home / "hosts")


def ssh_case(count: int) -> dict[str, object]:
    with ssh_pool_home() as (env, hosts), launched(env, "fn", "--infra", "ssh", "--num-nodes", "2", "echo hi"):
        result = pings("fn", env, count)
        result["ssh_true"] = summary(ssh_true(hosts[0], master=True))
        return result


def ssh_true(host, *, master: bool) -> list[float]:
    """Seconds of `ssh head true`, 100 times: through skyhop's ControlMaster (after one that opens it), or each a new connection."""
    from skyhop.providers.ssh.runner import SSHRunner, SSHTarget

    samples = []
    if master:
        runner = SSHRunner(SSHTarget(host.ip, user="root", identity_file=host.identity_file))
        runner.run(["true"])
        for _ in range(100):
            began = time.perf_counter()
            runner.run(["true"])
            samples.append(time.perf_counter() - began)
        runner.close()
        return samples
    argv = ["ssh", "-i", host.identity_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ControlPath=none", f"root@{host.ip}", "true"]
    for _ in range(100):
        began = time.perf_counter()
        subprocess.run(argv, check=True)
        samples.append(time.perf_counter() - began)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("local", "ssh"))
    parser.add_argument("--pings", type=int, default=PINGS)
    args = parser.parse_args()
    print("| provider | session open s | rank 0 PING p50 ms | p90 ms | rank 1 PING p50 ms | p90 ms | no-op call rank 0 p50 ms | rank 1 p50 ms | `ssh head true` (ControlMaster) p50 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for provider, case in {"local": local_case, "ssh": ssh_case}.items():
        if args.only and provider != args.only:
            continue
        r = case(args.pings)
        r0, r1 = r["rank0"], r["rank1"]
        floor = f"{r['ssh_true']['median_ms']:.2f}" if "ssh_true" in r else "-"  # type: ignore[index]
        c0, c1 = r["call0"], r["call1"]
        print(f"| {provider} | {r['open_s']:.2f} | {r0['median_ms']:.3f} | {r0['p90_ms']:.3f} | {r1['median_ms']:.3f} | {r1['p90_ms']:.3f} "  # type: ignore[index]
              f"| {c0['median_ms']:.3f} | {c1['median_ms']:.3f} | {floor} |", flush=True)  # type: ignore[index]


if __name__ == "__main__":
    main()
