"""The agent channel (issue 11), before and after: many execs and many log followers on one cluster.

    .venv/bin/python benchmarks/channel.py                 # local provider and an SSH namespace host (root)
    .venv/bin/python benchmarks/channel.py --only local

Each case runs twice, with `SKYHOP_AGENT_CHANNEL=off` (every agent verb a
process on the head: the code before the channel) and with the channel, on a
fresh SKYHOP_HOME and API server each time:

- 50 `skyhop exec C 'echo hi'` started at once: each one's wall time (p50, p90)
  and the whole batch's; one `status` call alone (median of 31); then the server's part of the same alone (50 threads
  in this process each submit a job and follow it to its end through
  AgentClient, as the API server does per exec), without 50 CLI start-ups;
- 40 `skyhop logs C JOB` following one running job at once: the total RSS of the
  agent's processes on the head (daemon, followers; the job's own processes
  excluded), and its growth over the daemon alone.

The CLI processes themselves are the same in both modes and are not counted
in the RSS; their start-up is in every exec's wall time, on a machine with
few cores (this one has 2) the larger part of it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import DEFAULT_CATALOG, launched, run_process, scratch_env

HERE = Path(__file__).resolve().parent
EXECS = 50
FOLLOWERS = 40


def agent_rss_kib(base: str) -> tuple[int, int]:
    """(KiB of RSS, count) of the agent's processes for the cluster whose base ends with `base`, job drivers excluded."""
    total = count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"skyhop_agent" in argv and any(a.endswith(base.encode()) for a in argv) and b"run-job" not in argv:
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            count += 1
    return total, count


def one_exec(sky: list[str], env: dict[str, str], name: str) -> float:
    start = time.perf_counter()
    run_process(sky + ["exec", name, "echo hi"], env)
    return time.perf_counter() - start


def agent_execs(env: dict[str, str], name: str) -> tuple[float, list[float]]:
    """One `status` call alone (median of 31), then what the API server does per exec without
    the CLIs: 50 threads each submit and follow a job to its end."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from skyhop.execution import handles
        from skyhop.state.store import StateStore

        with StateStore() as store:
            info = handles.cluster_info(store.get_cluster(name))

        def one(_: int) -> float:
            start = time.perf_counter()
            agent = handles.agent_of(info)  # a fresh client per call, as the server makes them
            job = agent.submit({"run": "echo hi"})
            stream = agent.logs(job["job_id"], follow=True, record=True)
            try:
                while stream.read1(65536):
                    pass
                stream.final_record()
            finally:
                stream.close()
            return time.perf_counter() - start

        agent = handles.agent_of(info)
        calls = []
        for _ in range(31):
            start = time.perf_counter()
            agent.jobs([1])
            calls.append(time.perf_counter() - start)
        with concurrent.futures.ThreadPoolExecutor(EXECS) as pool:
            walls = sorted(pool.map(one, range(EXECS)))
        if agent.channel is not None:
            print(f"  ({name}: {agent.channel.served} calls on the channel, {agent.channel.fell_back} fell back)", file=sys.stderr)
        return statistics.median(calls), walls
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(sky: list[str], env: dict[str, str], name: str, base: str) -> dict[str, float]:
    run_process(sky + ["exec", name, "echo warm"], env)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(EXECS) as pool:
        walls = sorted(pool.map(lambda _: one_exec(sky, env, name), range(EXECS)))
    batch = time.perf_counter() - start
    call_s, agent_walls = agent_execs(env, name)
    idle_kib, _ = agent_rss_kib(base)
    run_process(sky + ["exec", "-d", name, "echo started; sleep 600"], env)
    # `logs C` follows the latest job: the one just submitted.
    followers = [subprocess.Popen(sky + ["logs", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(FOLLOWERS)]
    try:
        for follower in followers:
            assert follower.stdout is not None
            follower.stdout.readline()  # each one is following by now
        time.sleep(1.0)
        following_kib, processes = agent_rss_kib(base)
    finally:
        for follower in followers:
            follower.terminate()
        for follower in followers:
            follower.wait()
        run_process(sky + ["cancel", "-y", name], env)
    return {
        "exec_p50_s": statistics.median(walls),
        "exec_p90_s": walls[int(0.9 * (len(walls) - 1))],
        "batch_s": batch,
        "status_call_ms": call_s * 1000,
        "agent_p50_s": statistics.median(agent_walls),
        "agent_batch_s": agent_walls[-1],
        "agent_rss_idle_mib": idle_kib / 1024,
        "agent_rss_following_mib": following_kib / 1024,
        "agent_processes_following": processes,
    }


def local_case(channel: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="chbench-") as tmp:
        env = {**scratch_env(DEFAULT_CATALOG, Path(tmp)), "SKYHOP_AGENT_CHANNEL": channel}
        with launched(env, "ch", "echo hi") as sky:
            base = str(Path(tmp) / ".skyhop" / "clusters" / "ch" / "node-0")
            return measure(sky, env, "ch", base)


def ssh_case(channel: str) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent / "tests"))
    import netns_hosts

    with tempfile.TemporaryDirectory(prefix="chbench-") as tmp:
        home = Path(tmp)
        hosts = netns_hosts.up(1, home / "hosts")
        env = {**scratch_env(DEFAULT_CATALOG, home), "SKYHOP_AGENT_CHANNEL": channel}
        (home / ".skyhop").mkdir()
        (home / ".skyhop" / "config.yaml").write_text(
            f"ssh_node_pools:\n  bench:\n    user: root\n    identity_file: {hosts[0].identity_file}\n    cpus: 2\n    hosts: [{hosts[0].ip}]\n"
        )
        try:
            with launched(env, "ch", "--infra", "ssh", "echo hi") as sky:
                return measure(sky, env, "ch", "/ch")  # the cluster's directory on the host ends in /ch
        finally:
            netns_hosts.down(home / "hosts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("local", "ssh"))
    args = parser.parse_args()
    cases = {"local": local_case, "ssh": ssh_case}
    print("| provider | agent channel | exec p50 s | exec p90 s | 50 execs s | one status call ms | server part p50 s | server part, 50 s | agent RSS idle MiB | agent RSS, 40 followers MiB | agent processes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for provider, case in cases.items():
        if args.only and provider != args.only:
            continue
        for channel in ("off", "on"):
            r = case(channel)
            print(f"| {provider} | {channel} | {r['exec_p50_s']:.2f} | {r['exec_p90_s']:.2f} | {r['batch_s']:.2f} | {r['status_call_ms']:.1f} | {r['agent_p50_s']:.2f} | {r['agent_batch_s']:.2f} "
                  f"| {r['agent_rss_idle_mib']:.1f} "
                  f"| {r['agent_rss_following_mib']:.1f} | {r['agent_processes_following']} |", flush=True)


if __name__ == "__main__":
    main()
