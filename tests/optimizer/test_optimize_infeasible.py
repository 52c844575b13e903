"""Requests nothing can satisfy: non-zero exit, one paragraph on stderr, no traceback."""

from __future__ import annotations

import re

import pytest
from helpers import run_cli
from rawcsv import H100_SXM_SPELLINGS, RawCatalog


def assert_one_paragraph_error(code: int, out: str, err: str) -> str:
    assert code != 0
    assert out == "", "nothing on stdout when the request fails"
    assert "Traceback" not in err
    message = err.strip()
    assert message.startswith("Error: ")
    assert len(message.splitlines()) == 1, f"expected one paragraph, got:\n{err}"
    return message


def test_more_accelerators_than_any_node_has(cli, raw_catalog: RawCatalog):
    largest = max(r.count for r in raw_catalog.rows if r.accelerator in H100_SXM_SPELLINGS)
    assert largest == 8
    result = cli("optimize", "--all-clouds", "--gpus", "H100:16")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "H100:8 is the largest" in message
    assert "num_nodes" in message


def test_unknown_accelerator_suggests_the_nearest_name(cli):
    result = cli("optimize", "--all-clouds", "--gpus", "H1000:8")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "'H1000'" in message and "Did you mean 'H100'?" in message


def test_instance_type_typo_suggests_the_real_one(cli, raw_catalog: RawCatalog):
    assert any(r.instance_type == "gpu_8x_h100_sxm5" for r in raw_catalog.rows)
    result = cli("optimize", "--all-clouds", "--instance-type", "gpu_8x_h100_sxm6")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "gpu_8x_h100_sxm6" in message and "Did you mean 'gpu_8x_h100_sxm5'?" in message


@pytest.mark.parametrize("infra", ["lambda", "lambda/us-east-1"])
def test_spot_pinned_to_a_cloud_without_spot(cli, raw_catalog: RawCatalog, infra):
    assert not raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, spot=True, cloud="lambda")
    with_spot = sorted({r.cloud for r in raw_catalog.select(spellings=H100_SXM_SPELLINGS, count=8, spot=True)})
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--use-spot", "--infra", infra)
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "spot" in message and infra in message
    assert f"they exist on {', '.join(with_spot)}" in message


def test_too_many_cpus_lists_the_nearest_offers(cli, raw_catalog: RawCatalog):
    cpu_rows = raw_catalog.select(cpu_only=True)
    biggest = max(r.vcpus for r in cpu_rows)
    biggest_types = {r.instance_type for r in cpu_rows if r.vcpus == biggest}
    result = cli("optimize", "--all-clouds", "--cpus", f"{int(biggest) * 4}+")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert f"cpus {int(biggest) * 4}+" in message
    nearest = message.split("Nearest:", 1)[1]
    # The nearest offers are the biggest machines, not the cheapest ones.
    assert any(t in nearest.split(";")[0] for t in biggest_types)
    assert f"({int(biggest)} vCPUs" in nearest


def test_exact_cpu_count_that_no_machine_has_lists_close_sizes(cli, raw_catalog: RawCatalog):
    sizes = {r.vcpus for r in raw_catalog.select(cpu_only=True)}
    assert 3.0 not in sizes and {2.0, 4.0} <= sizes
    result = cli("optimize", "--all-clouds", "--cpus", "3")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    shown = [int(n) for n in re.findall(r"\((\d+) vCPUs", message.split("Nearest:", 1)[1])]
    assert shown and all(n in (2, 4) for n in shown)


def test_memory_too_high(cli, raw_catalog: RawCatalog):
    biggest = max(r.memory for r in raw_catalog.select(cpu_only=True) if r.memory is not None)
    result = cli("optimize", "--all-clouds", "--memory", f"{int(biggest) + 1}+")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "memory" in message and f"{int(biggest)} GB" in message.split("Nearest:", 1)[1]


def test_infra_pinned_to_a_cloud_not_in_the_catalog(cli, raw_catalog: RawCatalog):
    assert "aws" not in raw_catalog.clouds
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", "aws")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "aws" in message and "not in the catalog" in message


def test_infra_pinned_to_a_region_the_cloud_lacks(cli):
    result = cli("optimize", "--all-clouds", "--gpus", "H100:8", "--infra", "lambda/mars-1")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "lambda/mars-1" in message


def test_without_all_clouds_and_without_credentials(cli):
    result = cli("optimize", "--gpus", "H100:8")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "skyhop check" in message and "--all-clouds" in message


def test_every_alternative_is_explained(cli, tmp_path):
    task = tmp_path / "t.yaml"
    task.write_text("resources:\n  any_of:\n    - accelerators: H100:16\n    - accelerators: H1000:1\n")
    result = cli("optimize", str(task), "--all-clouds")
    message = assert_one_paragraph_error(result.code, result.out, result.err)
    assert "[H100:16]" in message and "[H1000:1]" in message


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--gpus", "H100:16"), "H100:8 is the largest"),
        (("--gpus", "H100:8", "--use-spot", "--infra", "lambda"), "no spot offers"),
        (("--infra", "aws", "--gpus", "H100:8"), "not in the catalog"),
    ],
)
def test_infeasible_through_a_real_subprocess(planning_home, args, needle):
    result = run_cli(planning_home, "optimize", "--all-clouds", *args, "--output", "json")
    message = assert_one_paragraph_error(result.returncode, result.stdout, result.stderr)
    assert needle in message


def test_no_credentials_through_a_real_subprocess(isolated_home):
    result = run_cli(isolated_home, "optimize", "--gpus", "H100:8")
    message = assert_one_paragraph_error(result.returncode, result.stdout, result.stderr)
    assert "skyhop check" in message and "--all-clouds" in message
