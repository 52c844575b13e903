from helpers import run_cli


def test_optimize_hello_runs_in_a_subprocess(isolated_home):
    result = run_cli(isolated_home, "optimize", "examples/hello.yaml", "--all-clouds", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert '"cloud"' in result.stdout
