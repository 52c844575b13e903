"""`import skyhop` and `skyhop --help` stay light: no heavy dependency is imported.

Checked in a fresh interpreter, since this test process has imported plenty.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import subprocess_env

HEAVY = (
    "sqlalchemy", "fastapi", "uvicorn", "rich", "yaml", "highspy", "kubernetes", "pandas", "numpy",
    # Cloud SDKs and what they pull in: loaded only inside the provider that uses them.
    "boto3", "botocore", "moto", "google", "grpc", "requests", "urllib3", "cryptography", "httpx",
    "pyasn1", "pyasn1_modules",  # google-auth's
    "jinja2", "markupsafe",  # the dashboard's templates: loaded on the first page the server renders
    "cloudpickle",  # skyhop.function: loaded on the first call that goes to a pool (34 ms)
)

IMPORT_ONLY = "import skyhop"
HELP = """
import skyhop.cli.main
try:
    skyhop.cli.main.main(['--help'])
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
"""
REPORT = "\nimport json, sys\nprint('MODULES=' + json.dumps(sorted(sys.modules)))\n"


def modules_after(code: str, home) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + REPORT], capture_output=True, text=True, env=subprocess_env(home), timeout=60
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("MODULES="))
    return json.loads(line[len("MODULES=") :])


def heavy_in(modules: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.mark.parametrize("code", [IMPORT_ONLY, HELP], ids=["import", "help"])
def test_no_heavy_imports(code, isolated_home):
    modules = modules_after(code, isolated_home)
    assert "skyhop" in modules
    assert heavy_in(modules) == []


def test_help_does_not_import_the_commands(isolated_home):
    modules = modules_after(HELP, isolated_home)
    assert "skyhop.cli.main" in modules
    assert not {"skyhop.cli.optimize_cmd", "skyhop.cli.gpus_cmd", "skyhop.cli.check_cmd", "skyhop.sdk", "skyhop.catalog.load"} & set(modules)


CLIENT = "import skyhop.cli.launch_cmd, skyhop.cli.cluster_cmds, skyhop.cli.job_cmds, skyhop.cli.api_cmd, skyhop.client.api\n"


def test_the_client_side_of_cluster_verbs_stays_off_the_server_stack(isolated_home):
    """The CLI talks HTTP with the stdlib: the server's libraries load only in the server."""
    modules = modules_after(CLIENT, isolated_home)
    loaded = {m.split(".")[0] for m in modules} | set(modules)
    assert "skyhop.client.http" in loaded
    assert not {"sqlalchemy", "fastapi", "uvicorn", "starlette", "pydantic", "alembic", "skyhop.state.store", "skyhop.server.app"} & loaded
    # Nor http.client: it parses headers with the email package (a quarter of a quick command's start).
    assert not {"http.client", "email"} & loaded


def test_cloud_provider_modules_load_their_sdk_only_when_called(isolated_home):
    """A provider module is imported when its cloud is planned or launched; its SDK only when it calls the cloud."""
    assert heavy_in(modules_after("import skyhop.providers.aws, skyhop.providers.aws.errors", isolated_home)) == []


def test_the_gcp_provider_loads_google_auth_only_when_it_calls_gcp(isolated_home):
    assert heavy_in(modules_after("import skyhop.providers.gcp.provider, skyhop.providers.registry as r; r.get('gcp')", isolated_home)) == []


def test_decorating_a_function_loads_no_pickler(isolated_home):
    """`@skyhop.function` is free: cloudpickle and the pool's machinery load on the first call."""
    code = "import skyhop\n@skyhop.function(timeout=5)\ndef f(x):\n    return x\nassert f.local(2) == 2\nskyhop.shard\n"
    modules = modules_after(code, isolated_home)
    assert heavy_in(modules) == []
    assert not {"skyhop.functions.calls", "skyhop.functions.session", "skyhop.client.api"} & set(modules)


def test_the_guard_can_see_a_heavy_import(isolated_home):
    """The check itself works: importing yaml is noticed."""
    assert heavy_in(modules_after("import skyhop, yaml", isolated_home)) == ["yaml"]


def test_public_names_resolve_lazily(isolated_home):
    code = (
        "import sys, skyhop\n"
        "assert 'skyhop.spec.task' not in sys.modules\n"
        "task = skyhop.Task(name='t', resources={'accelerators': 'H100:8'})\n"
        "assert 'skyhop.spec.task' in sys.modules\n"
        "assert skyhop.Task is sys.modules['skyhop.spec.task'].Task\n"
        "print(type(task).__name__, task.resources.accelerator)\n"
        "try:\n"
        "    skyhop.NoSuchThing\n"
        "except AttributeError as error:\n"
        "    print('AttributeError', error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(isolated_home), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Task H100:8", "AttributeError module 'skyhop' has no attribute 'NoSuchThing'"]


def test_every_lazy_name_resolves():
    import skyhop

    for name in skyhop.__all__:
        assert getattr(skyhop, name) is not None, name


def test_a_local_catalog_needs_no_http_client(isolated_home):
    """urllib/http.client cost ~15 ms; only a download may import them."""
    code = "from skyhop import sdk\nassert len(sdk.load_catalog()) > 1000\n"
    modules = set(modules_after(code, isolated_home))
    assert "skyhop.catalog.load" in modules
    assert not {"urllib.request", "http.client", "concurrent.futures.thread"} & modules


STATUS = (
    "import skyhop.cli.main\n"
    "try:\n"
    "    skyhop.cli.main.main(['status', '--output', 'json'])\n"
    "except SystemExit as exit:\n"
    "    assert exit.code in (0, None), exit.code\n"
)


def test_status_does_not_load_the_execution_layer(isolated_home):
    """`skyhop status` runs often: it must not pay for the agent client, providers or the registry (~40 ms)."""
    modules = set(modules_after(STATUS, isolated_home))
    assert not {"skyhop.execution.handles", "skyhop.execution.agent", "skyhop.providers.registry", "skyhop_agent.nodeexec"} & modules
    # The error families (execution, providers, state) are for an answer that is an error (~10 ms).
    assert "skyhop.server.error_codes" not in modules
