"""Cloud launches on emulated clouds: launch-to-job-start on AWS next to the bare SSH floor, and the failover chain.

Nothing real is reached. AWS is moto_server behind the fault proxy
(tests/cloudsim), GCP the Compute replay server; a RunInstances answer gives
the instance's private address to a namespace host (tests/netns_hosts.py,
tests/cloudsim/adopter.py), so skyhop's unchanged path provisions through boto3,
waits for SSH, installs its agent and runs the job there. Needs root (network
namespaces), boto3/moto and google-auth (the test extra).

* floor: a bare `ssh host true` to a namespace host, new connection each time;
* AWS launch: `skyhop launch -y -c NEW --infra aws --cpus 2 'echo ready'`,
  timed to the job's first output line (launch-to-job-start) and to exit, with
  the API server up and the cluster taken down between runs (untimed);
* failover chain: GCP refuses the credentials (401), two AWS zones have no
  capacity, the next has no vCPU quota, the job runs in the next region:
  the same two timings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"


def _first_line_and_exit(argv: list[str], env: dict[str, str], marker: str) -> tuple[float, float]:
    """Seconds until `marker` appears in the output, and until the process exits (0 or SystemExit)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = None
    assert process.stdout is not None
    for line in process.stdout:
        if seen is None and marker in line:
            seen = time.perf_counter() - start
    code = process.wait()
    done = time.perf_counter() - start
    if code != 0 or seen is None:
        raise SystemExit(f"{' '.join(argv)} failed ({code}) or never printed {marker!r}")
    return seen, done


def bench_clouds(summary: Callable[[list[float]], dict[str, float]], skyhop: list[str], repeat: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(TESTS))
    import netns_hosts

    problem = netns_hosts.missing_requirements()
    if problem:
        print(f"Skipping the clouds section: {problem}", file=sys.stderr)
        return []
    import yaml
    from cloudsim.adopter import Adopter
    from cloudsim.aws import CREDENTIALS, VPC_NAME, MotoServer, seed
    from cloudsim.aws_proxy import AwsProxy, Rule
    from cloudsim.aws_wire import CAPACITY_MESSAGE
    from cloudsim.gcp_api import GcpApi, service_account
    from cloudsim.gcp_api import Rule as GcpRule

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="skyhop-bench-clouds-") as scratch:
        work = Path(scratch)
        farm_dir = work / "farm"
        hosts = netns_hosts.up(2, farm_dir)
        adopter = Adopter(farm_dir, hosts)
        moto = MotoServer(work / "moto.log")
        gcp = None
        proxy = None
        env: dict[str, str] = {}
        try:
            network = seed(moto.url, adopter.prefix)
            proxy = AwsProxy(moto.url, network.zone_of_subnet(), adopter=adopter)
            gcp = GcpApi("bench-project", b"")
            key_file = work / "gcp.json"
            gcp.public_key_pem = service_account(key_file, "bench-project", gcp.token_uri)
            home = work / "home"
            (home / ".skyhop").mkdir(parents=True)
            catalog = work / "catalog"
            catalog.mkdir()
            for cloud in sorted((HERE.parent.parent / "shared" / "catalogs" / "v8").iterdir()):
                if cloud.is_dir():
                    (catalog / cloud.name).symlink_to(cloud, target_is_directory=True)
            (catalog / "aws").symlink_to(TESTS / "catalog" / "fixtures" / "aws", target_is_directory=True)
            config = {
                "aws": {"vpc_name": VPC_NAME, "image_ssm_parameter": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
                        "use_internal_ips": True, "ssh_user": "root"},
                "gcp": {"compute_endpoint": gcp.compute_endpoint, "use_internal_ips": True, "ssh_user": "root"},
            }
            (home / ".skyhop" / "config.yaml").write_text(yaml.safe_dump(config))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SKYHOP_", "AWS_", "GOOGLE_"))}
            env.update(HOME=str(home), SKYHOP_HOME=str(home / ".skyhop"), SKYHOP_CATALOG_DIR=str(catalog), **CREDENTIALS,
                       AWS_ENDPOINT_URL=proxy.url, AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                       GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
            bare = ["ssh", "-i", hosts[0].identity_file, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{hosts[0].ip}", "true"]
            floor = []
            for index in range(repeat + 2):
                start = time.perf_counter()
                subprocess.run(bare, check=True, capture_output=True)
                if index >= 2:
                    floor.append(time.perf_counter() - start)
            rows.append({"section": "clouds", "name": "bare `ssh host true` to a namespace host (new connection: the floor)", "budget_ms": None, **summary(floor)})
            # The server it starts outlives the call and keeps whatever output it was given: none, or the call never ends.
            subprocess.run([*skyhop, "api", "start"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def launch(name: str, *extra: str) -> tuple[float, float]:
                timing = _first_line_and_exit([*skyhop, "launch", "-y", "-c", name, *extra, "--cpus", "2", "echo job-started"], env, "job-started")
                subprocess.run([*skyhop, "down", "-y", name], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return timing

            launch("warm", "--infra", "aws")  # warm-up: server caches, the user key, the first moto calls
            plain = [launch(f"aws-{i}", "--infra", "aws") for i in range(repeat)]
            rows.append({"section": "clouds", "name": "AWS (moto) launch `--cpus 2`, new cluster: to the job's first line", "budget_ms": None, **summary([p[0] for p in plain])})
            rows.append({"section": "clouds", "name": "AWS (moto) launch `--cpus 2`, new cluster: to exit", "budget_ms": None, **summary([p[1] for p in plain])})

            chains = []
            gcp.add(GcpRule("insert", http_status=401))  # every insert (the provider asks once more with a new token)
            for i in range(max(3, repeat // 2)):
                full = CAPACITY_MESSAGE.format(type="c6i.large", zone="the zone you requested", others="another zone")
                proxy.add(Rule("RunInstances", "InsufficientInstanceCapacity", full, status=500, times=2))
                proxy.add(Rule("RunInstances", "VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 0 allows.", times=1))
                chains.append(launch(f"chain-{i}"))
            rows.append({"section": "clouds", "name": "failover chain (GCP 401, 2 AWS zones full, a region over quota, then AWS): to the job's first line", "budget_ms": None, **summary([c[0] for c in chains])})
            rows.append({"section": "clouds", "name": "failover chain: to exit", "budget_ms": None, **summary([c[1] for c in chains])})
        finally:
            if env:
                subprocess.run([*skyhop, "down", "--all", "-y"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.run([*skyhop, "api", "stop"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if proxy is not None:
                proxy.stop()
            if gcp is not None:
                gcp.stop()
            moto.stop()
            netns_hosts.down(farm_dir)
    return rows
