"""Measure skyhop's latency budgets: CLI start-up, catalog load, optimize, launch/exec.

    .venv/bin/python benchmarks/run.py                 # everything, markdown table on stdout
    .venv/bin/python benchmarks/run.py --json          # ...and benchmarks/out/results-<date>.json
    .venv/bin/python benchmarks/run.py --only optimize --repeat 50
    .venv/bin/python benchmarks/run.py --only run      # launch/exec on the local provider
    .venv/bin/python benchmarks/run.py --only ssh      # 2-node launch/exec on SSH namespace hosts (root)
    .venv/bin/python benchmarks/run.py --only clouds   # AWS on moto vs the SSH floor, the failover chain (root)

Start-up is timed as whole subprocesses (what a user waits for); catalog
loads and optimize run in this process on a synthetic 100,000-offer catalog
made by `gen_catalog.py` (generated into benchmarks/out/ when missing). Every
number is the median (and p90) of repeated runs timed with
`time.perf_counter`. Nothing here touches the network: SKYHOP_CATALOG_DIR
always points at the synthetic catalog and SKYHOP_HOME at a scratch directory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DEFAULT_CATALOG = OUT / "catalog-100k"
SECTIONS = ("startup", "load", "optimize", "run", "ssh", "clouds")

# Budgets in milliseconds (median). None: reported for reference only.
BUDGET_HELP_MS = 150.0
BUDGET_IMPORT_MS = 45.0
BUDGET_OPTIMIZE_MS = 20.0
BUDGET_LAUNCH_MS = 1500.0
BUDGET_EXEC_MS = 300.0
BUDGET_SSH_LAUNCH_MS = 4000.0
SSH_EXEC_FACTOR = 2.0  # exec on an ssh cluster: within 2x a bare `ssh host true`

# ~20 representative requests: (label, task as a YAML-shaped dict).
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("H100:8", {"resources": {"accelerators": "H100:8"}}),
    ("H100:8 spot", {"resources": {"accelerators": "H100:8", "use_spot": True}}),
    ("H100:1", {"resources": {"accelerators": "H100:1"}}),
    ("A100-80GB:8", {"resources": {"accelerators": "A100-80GB:8"}}),
    ("L4:1 (many offers)", {"resources": {"accelerators": "L4:1"}}),
    ("T4:1 spot", {"resources": {"accelerators": "T4:1", "use_spot": True}}),
    ("any_of H100:8|A100-80GB:8|H200:8", {"resources": {"any_of": [{"accelerators": "H100:8"}, {"accelerators": "A100-80GB:8"}, {"accelerators": "H200:8"}]}}),
    ("set {H100:8, H200:8} spot", {"resources": {"accelerators": {"H100": 8, "H200": 8}, "use_spot": True}}),
    ("ordered B200:8 on lambda, then H100:8", {"resources": {"ordered": [{"accelerators": "B200:8", "infra": "lambda"}, {"accelerators": "H100:8"}]}}),
    ("list [MI300X:8, H200:8]", {"resources": {"accelerators": ["MI300X:8", "H200:8"]}}),
    ("cpus 8+ memory 32+", {"resources": {"cpus": "8+", "memory": "32+"}}),
    ("cpus 4 exactly", {"resources": {"cpus": 4}}),
    ("defaults (4+ cpus)", {}),
    ("cpus 16+ spot, infra aws", {"resources": {"cpus": "16+", "use_spot": True, "infra": "aws"}}),
    ("H100:8 infra aws/us-east-1", {"resources": {"accelerators": "H100:8", "infra": "aws/us-east-1"}}),
    ("L4:1 zone gcp/*/us-east1-b", {"resources": {"accelerators": "L4:1", "infra": "gcp/*/us-east1-b"}}),
    ("H100:1 max_hourly_cost 2.5", {"resources": {"accelerators": "H100:1", "max_hourly_cost": 2.5}}),
    ("H100:8 x 4 nodes", {"num_nodes": 4, "resources": {"accelerators": "H100:8"}}),
    ("instance_type m7i.8xlarge", {"resources": {"instance_type": "m7i.8xlarge"}}),
    ("cpus 8+ with an s3 input", {"resources": {"cpus": "8+"}, "inputs": {"s3://bucket/data": 500}}),
    ("infeasible: H100:16", {"resources": {"accelerators": "H100:16"}}),
    ("infeasible: cpus 64+ under $0.01/h", {"resources": {"cpus": "64+", "max_hourly_cost": 0.01}}),
]


def summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    p90 = ms[max(0, math.ceil(0.9 * len(ms)) - 1)]  # nearest rank
    p99 = ms[max(0, math.ceil(0.99 * len(ms)) - 1)]
    return {"runs": len(ms), "median_ms": statistics.median(ms), "p90_ms": p90, "p99_ms": p99, "min_ms": ms[0]}


def timed(func: Callable[[], Any], repeat: int, warmup: int = 1, setup: Callable[[], Any] | None = None) -> list[float]:
    samples = []
    for index in range(warmup + repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        func()
        elapsed = time.perf_counter() - start
        if index >= warmup:
            samples.append(elapsed)
    return samples


def scratch_env(catalog: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYHOP_")}
    env.update(HOME=str(home), SKYHOP_HOME=str(home / ".skyhop"), SKYHOP_CATALOG_DIR=str(catalog))
    return env


def skyhop_command() -> list[str]:
    """The installed `skyhop` entry point beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("skyhop")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "skyhop.cli.main"]


def run_process(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")


@contextlib.contextmanager
def launched(env: dict[str, str], name: str, *launch_args: str) -> Iterator[list[str]]:
    """A cluster launched on a scratch home for the block (the CLI's argv is yielded); taken down after
    it, with the home's API server."""
    sky = skyhop_command()
    try:
        run_process(sky + ["launch", "-y", "-c", name, *launch_args], env)
        yield sky
    finally:
        subprocess.run(sky + ["down", "-y", name], env=env, capture_output=True)
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)


def bench_startup(catalog: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    env = scratch_env(catalog, home)
    py = sys.executable
    cases = [
        ("python -c pass (reference)", [py, "-c", "pass"], None),
        ('python -c "import skyhop"', [py, "-c", "import skyhop"], BUDGET_IMPORT_MS),
        ("skyhop --help", skyhop_command() + ["--help"], BUDGET_HELP_MS),
        ("skyhop show-gpus --help", skyhop_command() + ["show-gpus", "--help"], None),
    ]
    rows = []
    for label, argv, budget in cases:
        samples = timed(lambda: run_process(argv, env), repeat, warmup=2)
        rows.append({"section": "startup", "name": label, "budget_ms": budget, **summary(samples)})
    # End to end, with the parsed cache of the 100k catalog warm and the API server up (it plans
    # optimize): the warm-up run starts the server and fills the caches.
    argv = skyhop_command() + ["optimize", "--gpus", "H100:8", "--all-clouds", "--output", "json"]
    try:
        samples = timed(lambda: run_process(argv, env), max(3, repeat // 3), warmup=1)
    finally:
        subprocess.run(skyhop_command() + ["api", "stop"], env=env, capture_output=True)
    rows.append({"section": "startup", "name": "skyhop optimize --gpus H100:8 --all-clouds (100k, cache warm, API server up)", "budget_ms": None, **summary(samples)})
    return rows


def bench_load(catalog: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    from skyhop.catalog import load
    from skyhop.catalog.index import Catalog
    from skyhop.catalog.offer import Offer
    from skyhop.catalog.source import CatalogFiles, list_local

    files = CatalogFiles(catalog, list_local(catalog))
    os.environ["SKYHOP_CATALOG_DIR"] = str(catalog)
    counter = iter(range(10**6))

    def fresh_home() -> None:  # an empty parsed cache for every cold run
        os.environ["SKYHOP_HOME"] = str(home / f"cold-{next(counter)}")

    rows = []
    size = len(load.load_files(files, use_cache=False))
    samples = timed(lambda: load.load_catalog(), repeat, setup=fresh_home)
    rows.append({"section": "load", "name": f"load_catalog() cold: parse + write cache + index ({size:,} offers)", "budget_ms": None, **summary(samples)})
    samples = timed(lambda: load.load_files(files, use_cache=False), repeat)
    rows.append({"section": "load", "name": "  of which: parse CSV + index, no cache (use_cache=False)", "budget_ms": None, **summary(samples)})
    os.environ["SKYHOP_HOME"] = str(home / "warm")
    load.load_catalog()
    samples = timed(lambda: load.load_catalog(), repeat)
    rows.append({"section": "load", "name": "load_catalog() with the parsed cache", "budget_ms": None, **summary(samples)})
    rows_only = lambda: [load.read_rows(p, c) for c, p in sorted(files.files.items())]  # noqa: E731
    samples = timed(rows_only, repeat)
    rows.append({"section": "load", "name": "  of which: read + unmarshal cached rows", "budget_ms": None, **summary(samples)})
    offers = [Offer._make(r) for rows_ in rows_only() for r in rows_]
    samples = timed(lambda: Catalog(offers), repeat)
    rows.append({"section": "load", "name": "  of which: Catalog(...) index build", "budget_ms": None, **summary(samples)})
    return rows


def bench_optimize(catalog_dir: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    from skyhop.catalog.load import load_catalog
    from skyhop.errors import InfeasibleError
    from skyhop.optimizer.scope import Scope
    from skyhop.optimizer.search import optimize_task
    from skyhop.spec.task import Task

    os.environ["SKYHOP_CATALOG_DIR"] = str(catalog_dir)
    os.environ["SKYHOP_HOME"] = str(home / "warm")
    catalog = load_catalog()
    clouds = sorted(catalog.clouds)
    rows = []
    for label, spec in REQUESTS:
        task = Task.from_dict(spec)
        outcome: list[str] = []

        def once() -> None:
            try:
                plan = optimize_task(task, catalog, Scope(clouds, all_clouds=True))
                outcome[:] = [f"{plan.chosen.offer.cloud} {plan.chosen.offer.instance_type} ${plan.chosen.total_cost:.2f}"]
            except InfeasibleError as error:
                outcome[:] = ["infeasible: " + str(error)[:60] + "..."]

        samples = timed(once, repeat, warmup=2)
        rows.append({"section": "optimize", "name": label, "budget_ms": BUDGET_OPTIMIZE_MS, "result": outcome[0], **summary(samples)})
    return rows


def bench_run(catalog: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    """Launch and exec on the local provider, as whole CLI processes (to process exit).

    "cold launch" is a new cluster each time with the API server already up
    (the budget); "fully cold" also starts the API server. Clusters are taken
    down between runs, outside the timing.
    """
    env = scratch_env(catalog, home)
    sky = skyhop_command()
    counter = iter(range(10**6))
    names: list[str] = []

    def launch() -> None:
        names.append(f"bench-{next(counter)}")
        run_process(sky + ["launch", "-y", "-c", names[-1], "echo hi"], env)

    def down_last() -> None:
        if names:
            run_process(sky + ["down", "-y", names.pop()], env)

    def stop_server() -> None:
        down_last()
        run_process(sky + ["api", "stop"], env)

    rows = []
    try:
        samples = timed(launch, max(3, repeat // 3), warmup=0, setup=stop_server)
        rows.append({"section": "run", "name": "launch `echo hi` on local, fully cold (starts the API server too)", "budget_ms": None, **summary(samples)})
        samples = timed(launch, repeat, warmup=1, setup=down_last)
        rows.append({"section": "run", "name": "launch `echo hi` on local, new cluster (API server up)", "budget_ms": BUDGET_LAUNCH_MS, **summary(samples)})
        samples = timed(lambda: run_process(sky + ["exec", names[-1], "echo hi"], env), repeat, warmup=2)
        rows.append({"section": "run", "name": "exec `echo hi` on a warm local cluster", "budget_ms": BUDGET_EXEC_MS, **summary(samples)})
        samples = timed(lambda: run_process(sky + ["status", "--output", "json"], env), repeat, warmup=1)
        rows.append({"section": "run", "name": "status --output json (1 local cluster)", "budget_ms": None, **summary(samples)})
    finally:
        down_last()
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)
    return rows


def bench_ssh(catalog: Path, home: Path, repeat: int) -> list[dict[str, Any]]:
    """A pool of two real SSH hosts (network namespaces, tests/netns_hosts.py): the floor, launch, exec.

    The floor is a bare `ssh host true` with a new connection each time (what
    any tool pays at least once per host); launch is a new 2-node cluster to
    job exit with the API server up; exec runs on the warm cluster.
    """
    sys.path.insert(0, str(HERE.parent / "tests"))
    import netns_hosts

    problem = netns_hosts.missing_requirements()
    if problem:
        print(f"Skipping the ssh section: {problem}", file=sys.stderr)
        return []
    farm = home / "hosts"
    hosts = netns_hosts.up(2, farm)
    env = scratch_env(catalog, home)
    (home / ".skyhop").mkdir(exist_ok=True)
    (home / ".skyhop" / "config.yaml").write_text(
        "ssh_node_pools:\n  bench:\n    user: root\n"
        f"    identity_file: {hosts[0].identity_file}\n    cpus: 2\n    hosts: [{hosts[0].ip}, {hosts[1].ip}]\n"
    )
    sky = skyhop_command()
    bare = ["ssh", "-i", hosts[0].identity_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"root@{hosts[0].ip}", "true"]
    counter = iter(range(10**6))
    names: list[str] = []

    def launch() -> None:
        names.append(f"gang-{next(counter)}")
        run_process(sky + ["launch", "-y", "-c", names[-1], "--infra", "ssh", "--num-nodes", "2", "echo hi"], env)

    def down_last() -> None:
        if names:
            run_process(sky + ["down", "-y", names.pop()], env)

    def down_and_disconnect() -> None:
        """Also end skyhop's shared SSH connections, so the launch pays every handshake."""
        down_last()
        control_dir = str(home / ".skyhop" / "ssh" / "cm")
        subprocess.run(["pkill", "-f", f"ssh: {control_dir}/"], capture_output=True)  # masters show as "ssh: PATH [mux]"
        time.sleep(0.2)

    rows = []
    try:
        floor = summary(timed(lambda: run_process(bare, env), repeat, warmup=2))
        rows.append({"section": "ssh", "name": "bare `ssh host true` (new connection: the floor)", "budget_ms": None, **floor})
        run_process(sky + ["api", "start"], env)
        samples = timed(launch, max(3, repeat // 2), warmup=1, setup=down_and_disconnect)
        rows.append({"section": "ssh", "name": "launch `echo hi` on 2 SSH hosts, new cluster, no open connections, to exit", "budget_ms": BUDGET_SSH_LAUNCH_MS, **summary(samples)})
        samples = timed(launch, max(3, repeat // 2), warmup=1, setup=down_last)
        rows.append({"section": "ssh", "name": "launch `echo hi` on 2 SSH hosts, new cluster, connections warm, to exit", "budget_ms": BUDGET_SSH_LAUNCH_MS, **summary(samples)})
        budget = SSH_EXEC_FACTOR * floor["median_ms"]
        samples = timed(lambda: run_process(sky + ["exec", names[-1], "echo hi"], env), repeat, warmup=2)
        rows.append({"section": "ssh", "name": "exec `echo hi` on the warm 2-node cluster (head)", "budget_ms": budget, **summary(samples)})
        samples = timed(lambda: run_process(sky + ["exec", names[-1], "--num-nodes", "2", "echo hi"], env), repeat, warmup=2)
        rows.append({"section": "ssh", "name": "exec `echo hi` on both nodes (gang over ssh)", "budget_ms": None, **summary(samples)})
    finally:
        down_last()
        subprocess.run(sky + ["api", "stop"], env=env, capture_output=True)
        netns_hosts.down(farm)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| measurement | runs | median ms | p90 ms | budget ms | within |", "| --- | ---: | ---: | ---: | ---: | :---: |"]
    for row in rows:
        budget = row["budget_ms"]
        within = "" if budget is None else ("yes" if row["median_ms"] < budget else "**no**")
        name = row["name"].replace("|", "\\|")
        lines.append(f"| {name} | {row['runs']} | {row['median_ms']:.2f} | {row['p90_ms']:.2f} | {'' if budget is None else f'{budget:g}'} | {within} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="skyhop latency benchmarks")
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog tree (generated with gen_catalog.py when missing)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (default: 21 start-up, 7 load, 31 optimize)")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    parser.add_argument("--json", nargs="?", const="", default=None, metavar="PATH", help="also write JSON (default benchmarks/out/results-<date>.json)")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)

    if not (args.catalog / "aws" / "vms.csv").is_file():
        sys.path.insert(0, str(HERE))
        import gen_catalog

        print(f"Generating the synthetic catalog in {args.catalog} ...", file=sys.stderr)
        gen_catalog.write(args.catalog)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skyhop-bench-") as scratch:
        home = Path(scratch)
        for var in [v for v in os.environ if v.startswith("SKYHOP_")]:
            del os.environ[var]
        if "startup" in sections:
            rows += bench_startup(args.catalog, home, args.repeat or 21)
        if "load" in sections:
            rows += bench_load(args.catalog, home, args.repeat or 7)
        if "optimize" in sections:
            rows += bench_optimize(args.catalog, home, args.repeat or 31)
        if "run" in sections:
            rows += bench_run(args.catalog, home, args.repeat or 15)
        if "ssh" in sections:
            rows += bench_ssh(args.catalog, home, args.repeat or 15)
        if "clouds" in sections:
            sys.path.insert(0, str(HERE))
            import clouds

            rows += clouds.bench_clouds(summary, skyhop_command(), args.repeat or 5)

    print(markdown(rows))
    optimize_rows = [r for r in rows if r["section"] == "optimize"]
    if optimize_rows:
        worst = max(optimize_rows, key=lambda r: r["median_ms"])
        print(f"\nSlowest optimize request: {worst['name']} ({worst['median_ms']:.2f} ms median); results:")
        for row in optimize_rows:
            print(f"  {row['name']}: {row['result']}")
    if args.json is not None:
        path = Path(args.json) if args.json else OUT / f"results-{datetime.date.today().isoformat()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(), "catalog": str(args.catalog)}
        path.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
        print(f"\nWrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
