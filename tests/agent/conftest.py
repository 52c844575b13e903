"""Fixtures for the node agent tests (helpers live in agent_harness, a name no other test dir uses)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Iterator

import pytest
from agent_harness import AGENT_SRC, Agent, MakeCluster


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    """Build and `init` a cluster of local nodes; every process it starts is gone after the test."""
    agents: list[Agent] = []

    def make(
        num_nodes: int = 1,
        cpus: float = 2,
        gpu_ids: dict[str, list[int]] | None = None,
        hooks: dict[str, list[str]] | None = None,
        python: str = sys.executable,
        ips: list[str] | None = None,
    ) -> Agent:
        agent = Agent(tmp_path / f"cluster{len(agents)}", num_nodes, python)
        agents.append(agent)
        shutil.copytree(AGENT_SRC, agent.agent_root / "skyhop_agent", ignore=shutil.ignore_patterns("__pycache__"))
        for node in agent.nodes:
            node.mkdir(parents=True)
        (agent.base / "workdir").mkdir()  # node 0 has a synced workdir, the others do not
        cluster = {
            "cluster_name": "c",
            "provider": "local",
            "user": "alice",
            "nodes": [
                {"rank": rank, "ip": ip, "base": str(node), "workdir": str(node / "workdir")}
                for rank, (ip, node) in enumerate(zip(ips or ["127.0.0.1"] * num_nodes, agent.nodes, strict=True))
            ],
            "resources": {
                "cpus": cpus,
                "memory_gib": 16,
                "gpus": {kind: len(ids) for kind, ids in (gpu_ids or {}).items()},
                "gpu_ids": gpu_ids or {},
            },
            "remove_on_down": [str(agent.cluster_dir)],
            "autostop_hooks": hooks,
        }
        config = agent.root / "cluster.init.json"
        config.write_text(json.dumps(cluster))
        assert agent.ok("init", "--config", str(config)) == {"ok": True}
        return agent

    yield make
    for agent in agents:
        agent.teardown()


@pytest.fixture
def cluster(make_cluster: MakeCluster) -> Agent:
    """A one-node cluster with 2 CPUs and no GPUs."""
    return make_cluster()
