"""`resources.ports` needs a provider that can open ports (`PortOpener`); others are skipped with the reason."""

from __future__ import annotations

import json

from helpers import run_cli


def test_ports_on_a_provider_that_cannot_open_them_fail_with_the_reason(isolated_home):
    task = isolated_home / "task.yaml"
    task.write_text("resources:\n  ports: 8080\nrun: echo never\n")
    try:
        result = run_cli(isolated_home, "launch", "-y", "-c", "p", str(task), "--output", "json")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        # Refused before planning (execution/unsupported.py): no provider here is a PortOpener.
        assert "Opening ports (resources.ports or --ports) is not supported yet on local" in result.stderr
        assert json.loads(run_cli(isolated_home, "status", "-o", "json").stdout) == []
    finally:
        run_cli(isolated_home, "api", "stop")
