"""Shared test set-up: every test runs with its own SKYHOP_HOME and HOME.

The real public catalogs in ../shared/catalogs/v8 are the default catalog;
nothing on the developer's machine (credentials, caches, config) leaks in.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from cloudsim.adopter import Adopter
from cloudsim.aws import FOREIGN, AwsNetwork, MotoServer, environment, moto_available, seed
from cloudsim.aws_proxy import AwsProxy
from e2e_support import seed_state, stop_api_server
from helpers import AWS_CATALOG_FIXTURE, REPO, SHARED_CATALOG
from netns_hosts import down as farm_down
from netns_hosts import missing_requirements as farm_missing
from netns_hosts import up as farm_up

from skyhop.providers.credentials import RULES


def pytest_configure(config: pytest.Config) -> None:
    if not (SHARED_CATALOG / "lambda" / "vms.csv").is_file():
        raise pytest.UsageError(f"The shared catalogs are missing: expected {SHARED_CATALOG} (../shared beside the clone).")
    if not hasattr(config, "workerinput"):  # once, before any xdist worker starts
        compile_sources()


def compile_sources() -> None:
    """Write skyhop's bytecode once for the whole run.

    The suite starts thousands of skyhop processes (API servers, CLI calls, agents). An editable
    install has no bytecode of its own, and under PYTHONDONTWRITEBYTECODE=1 (set on some CI and
    sandbox machines) none is ever written, so every process compiled every module it imported
    again: about 0.3 CPU s per API server start, 0.05 s per CLI call, over a fifth of the suite's CPU.
    """
    import compileall

    compileall.compile_dir(str(REPO / "src"), quiet=1, workers=0)


@pytest.fixture(scope="session", autouse=True)
def zygotes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """This worker's API servers and CLI calls are forks of processes that have imported them (tests/zygote.py);
    SKYHOP_TEST_NO_ZYGOTE=1 runs each as `python -m` instead."""
    import zygote

    if os.environ.get("SKYHOP_TEST_NO_ZYGOTE") == "1":
        yield
        return

    directory = Path(tempfile.mkdtemp(prefix="skz-"))  # short: a unix socket path has at most 107 bytes
    servers = zygote.Zygote(directory, "skyhop.server")
    clis = zygote.Zygote(directory, "skyhop.cli.main")
    os.environ["SKYHOP_API_SERVER_COMMAND"] = servers.command
    zygote.CLI_SOCKET = clis.socket
    yield
    zygote.CLI_SOCKET = None
    del os.environ["SKYHOP_API_SERVER_COMMAND"]
    servers.stop()
    clis.stop()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKYHOP_HOME", str(home / ".skyhop"))
    monkeypatch.setenv("SKYHOP_CATALOG_DIR", str(SHARED_CATALOG))
    for var in ("SKYHOP_CATALOG_URL", "SKYHOP_CATALOG_TTL_HOURS"):
        monkeypatch.delenv(var, raising=False)
    for rule in RULES.values():
        for var in rule.env:
            monkeypatch.delenv(var, raising=False)
    yield home
    stop_api_server(home / ".skyhop")  # a test that ran a verb through the API server leaves no server behind


@pytest.fixture(scope="session")
def migrated_state_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite state database migrated to the head revision, to copy into a test's home (Sky.seed_state)."""
    from skyhop.state.store import StateStore

    path = tmp_path_factory.mktemp("state-template") / "state.db"
    StateStore(f"sqlite:///{path}").close()
    assert not path.with_name("state.db-wal").exists(), "closed cleanly: the file holds everything"
    return path


@pytest.fixture
def migrated_home(isolated_home: Path, migrated_state_db: Path) -> Path:
    """`isolated_home` whose SKYHOP_HOME already holds a migrated state database (for tests of
    something else than the first run, that start an API server)."""
    seed_state(isolated_home / ".skyhop", migrated_state_db)
    return isolated_home


@pytest.fixture(scope="session")
def shared_catalog():
    """The parsed shared catalog (no disk cache, so it is safe to share)."""
    from skyhop.catalog.load import load_files
    from skyhop.catalog.source import CatalogFiles, list_local

    return load_files(CatalogFiles(SHARED_CATALOG, list_local(SHARED_CATALOG)), use_cache=False)


@pytest.fixture(scope="module")
def cloud_farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Adopter]:
    """Four namespace hosts waiting to take on emulated cloud instances' addresses (cloudsim/adopter.py)."""
    problem = farm_missing()
    if problem:
        pytest.skip(f"SSH test hosts unavailable: {problem}")
    workdir = tmp_path_factory.mktemp("cloud-farm")
    try:
        yield Adopter(workdir, farm_up(4, workdir))
    finally:
        farm_down(workdir)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto_server per worker (seconds to start under load); tests reset it (`aws_cloud`)."""
    problem = moto_available()
    if problem:
        pytest.skip(problem)
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto_server.log")
    yield server
    server.stop()


@pytest.fixture
def aws_prefix() -> str:
    """The /24 the test VPC claims. 10.213.0 is no namespace farm's (farms take 10.213.1-254), so a test
    whose instances must be adopted by farm hosts overrides this with its farm's prefix."""
    return "10.213.0"


@pytest.fixture
def aws_cloud(moto_server: MotoServer, aws_prefix: str, monkeypatch: pytest.MonkeyPatch) -> AwsNetwork:
    """Emulated AWS in a known state: moto reset, the test VPC and subnets seeded, and this process's
    environment (inherited by the CLI and API server it starts) pointed at moto with fake credentials."""
    moto_server.reset()
    network = seed(moto_server.url, aws_prefix)
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment(moto_server.url).items():
        monkeypatch.setenv(name, value)
    return network


@pytest.fixture
def aws_proxy(aws_cloud: AwsNetwork, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsProxy]:
    """The fault-injecting proxy in front of moto; AWS_ENDPOINT_URL names it, so every call passes it."""
    proxy = AwsProxy(moto_server.url, aws_cloud.zone_of_subnet())
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def aws_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog tree: the shared clouds plus the AWS fixture of real v8 rows (tests/catalog/fixtures/aws)."""
    root = tmp_path_factory.mktemp("catalog-with-aws")
    for cloud in sorted(p for p in SHARED_CATALOG.iterdir() if p.is_dir()):
        (root / cloud.name).symlink_to(cloud, target_is_directory=True)
    (root / "aws").symlink_to(AWS_CATALOG_FIXTURE, target_is_directory=True)
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `slow` run first: started last, a 80 s test would leave the other worker idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
