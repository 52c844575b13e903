"""Feature gating (issue 10 A2): a task setting an optional field (ports, image_id, disk), spot, or more
nodes than a provider allows is planned only onto providers that honour it (`Capabilities.features/
spot/max_nodes`, `optimizer/gating.py`), and when none is left the error names the field and the
providers lacking it. One check, in planning: optimize, launch --dryrun and launch say the same."""

from __future__ import annotations

import pytest

from skyhop.errors import InfeasibleError
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import optimize_task
from skyhop.providers.base import FEATURE_DISK_SIZE, FEATURE_DISK_TIER, FEATURE_IMAGE_ID, FEATURE_PORTS, Capabilities, capabilities_of
from skyhop.spec.task import Task

H100_WITH_PORTS = {"resources": {"accelerators": "H100:8", "ports": [8080, "9000-9001"]}, "run": "true"}
BOTH = ("lambda", "primeintellect")  # H100:8 on demand: primeintellect 15.2/h, lambda 31.92/h
OPENS_PORTS = Capabilities(features=frozenset({FEATURE_PORTS}))
DISKS_AND_IMAGES = Capabilities(features=frozenset({FEATURE_IMAGE_ID, FEATURE_DISK_SIZE, FEATURE_DISK_TIER}))


def _task(num_nodes: int = 1, **resources) -> Task:
    return Task.from_dict({"num_nodes": num_nodes, "resources": {"accelerators": "H100:8", **resources}, "run": "true"})


def _refused(task: Task, catalog, scope: Scope) -> str:
    with pytest.raises(InfeasibleError) as error:
        optimize_task(task, catalog, scope)
    return str(error.value)


def test_the_optimizer_keeps_a_request_with_ports_on_clouds_that_can_open_them(shared_catalog):
    task = Task.from_dict(H100_WITH_PORTS)
    everywhere = optimize_task(task, shared_catalog, Scope(BOTH))  # no capabilities: no filter (a whole-catalog comparison)
    assert everywhere.chosen.offer.cloud == "primeintellect"  # the cheaper one, when both could
    only_lambda = optimize_task(task, shared_catalog, Scope(BOTH, capabilities={"lambda": OPENS_PORTS}))
    assert {c.offer.cloud for c in only_lambda.candidates} == {"lambda"}
    assert only_lambda.considered_clouds == ("lambda",)
    # Without ports the capability does not matter.
    plain = optimize_task(_task(), shared_catalog, Scope(BOTH, capabilities={"lambda": OPENS_PORTS}))
    assert plain.chosen.offer.cloud == "primeintellect"


def test_when_no_cloud_left_can_open_ports_the_error_says_so(shared_catalog):
    task = Task.from_dict(H100_WITH_PORTS)
    message = _refused(task, shared_catalog, Scope(BOTH, capabilities={}))
    assert "opening ports (resources.ports or --ports) is not supported yet on lambda, primeintellect; to run the task: remove resources.ports." in message
    pinned = Task.from_dict({**H100_WITH_PORTS, "resources": {**H100_WITH_PORTS["resources"], "infra": "primeintellect"}})
    message = _refused(pinned, shared_catalog, Scope(BOTH, capabilities={"lambda": OPENS_PORTS}))
    assert "not supported yet on primeintellect;" in message and "lambda" not in message  # only the pinned cloud is named


def test_a_provider_declaring_image_and_disk_gets_the_task_although_pricier(shared_catalog):
    scope = Scope(BOTH, capabilities={"lambda": DISKS_AND_IMAGES})
    for resources in ({"image_id": "docker:ubuntu:22.04"}, {"disk_size": 512}, {"disk_tier": "high"}):
        plan = optimize_task(_task(**resources), shared_catalog, scope)
        assert {c.offer.cloud for c in plan.candidates} == {"lambda"}, resources
    assert optimize_task(_task(), shared_catalog, scope).chosen.offer.cloud == "primeintellect"


def test_with_no_provider_declaring_a_field_the_error_names_each_field_and_provider(shared_catalog):
    scope = Scope(BOTH, capabilities={"lambda": OPENS_PORTS})
    message = _refused(_task(image_id="ami-1", disk_size=100, ports=[8080]), shared_catalog, scope)
    assert message.startswith("No offer can run the task (1 node(s)). [H100:8")
    assert (
        "a custom machine image (resources.image_id or --image-id) is not supported yet on lambda, primeintellect; "
        "choosing the disk size (resources.disk_size or --disk-size) is not supported yet on lambda, primeintellect; "
        "opening ports (resources.ports or --ports) is not supported yet on primeintellect; "
        "to run the task: remove resources.image_id, remove resources.disk_size, remove resources.ports."
    ) in message
    assert "\n" not in message and "Traceback" not in message


def test_a_provider_selling_no_spot_is_skipped_for_spot_requests(shared_catalog):
    spot_both = ("nebius", "primeintellect")  # spot H100:8: primeintellect 6.84/h, nebius 10.0/h
    task = _task(use_spot=True)
    assert optimize_task(task, shared_catalog, Scope(spot_both, capabilities={})).chosen.offer.cloud == "primeintellect"
    no_spot = Scope(spot_both, capabilities={"primeintellect": Capabilities(spot=False)})
    assert {c.offer.cloud for c in optimize_task(task, shared_catalog, no_spot).candidates} == {"nebius"}
    assert optimize_task(_task(), shared_catalog, no_spot).chosen.offer.cloud == "primeintellect"  # on demand: still there
    message = _refused(task, shared_catalog, Scope(("primeintellect",), capabilities={"primeintellect": Capabilities(spot=False)}))
    assert "spot machines (resources.use_spot or --use-spot) are not sold by primeintellect; to run the task: ask for on-demand machines." in message


def test_a_provider_with_one_node_per_cluster_is_skipped_for_two_nodes(shared_catalog):
    one_node = Scope(BOTH, capabilities={"primeintellect": Capabilities(max_nodes=1)})
    assert optimize_task(_task(1), shared_catalog, one_node).chosen.offer.cloud == "primeintellect"
    two = optimize_task(_task(2), shared_catalog, one_node)
    assert {c.offer.cloud for c in two.candidates} == {"lambda"} and two.considered_clouds == ("lambda",)
    message = _refused(_task(2, infra="primeintellect"), shared_catalog, one_node)
    assert "2 nodes (num_nodes or --num-nodes) are more than primeintellect can put in one cluster (at most 1); to run the task: use fewer nodes." in message


def test_the_refusal_comes_after_why_the_remaining_clouds_have_no_offer(shared_catalog):
    """lambda may take the image but has no H100:8 with exactly 104 vCPUs; primeintellect has one but
    cannot take the image: both halves are said, and clouds with no offer anyway are not blamed."""
    scope = Scope((*BOTH, "nebius"), capabilities={"lambda": DISKS_AND_IMAGES})
    message = _refused(_task(image_id="img", cpus=104), shared_catalog, scope)
    assert "nothing satisfies cpus 104 on the enabled clouds (lambda)" in message and "nebius" not in message
    assert "Elsewhere, a custom machine image (resources.image_id or --image-id) is not supported yet on primeintellect;" in message


def test_an_image_per_region_keeps_the_task_in_those_regions(shared_catalog):
    """SkyPilot's `image_id: {region: image}`: the image exists only there, so only those regions are offered."""
    scope = Scope(BOTH, capabilities={"lambda": DISKS_AND_IMAGES, "primeintellect": DISKS_AND_IMAGES})
    plan = optimize_task(_task(image_id={"us-east-1": "img-east", "FI": "img-fi"}), shared_catalog, scope)
    assert {(c.offer.cloud, c.offer.region) for c in plan.candidates} == {("lambda", "us-east-1"), ("primeintellect", "FI")}
    assert plan.chosen.offer.region == "FI"
    message = _refused(_task(image_id={"mars-1": "img"}), shared_catalog, scope)
    assert "nothing satisfies image_id regions (mars-1)" in message


def test_a_port_opener_honours_ports_without_declaring_it():
    class Opener:
        capabilities = Capabilities(features=frozenset({FEATURE_IMAGE_ID}), max_nodes=1)

        def open_ports(self, cluster, ports):
            pass

    class Plain:
        capabilities = Capabilities(spot=False)

    assert capabilities_of(Opener()).features == {FEATURE_IMAGE_ID, FEATURE_PORTS} and capabilities_of(Opener()).max_nodes == 1
    assert capabilities_of(Plain()) is Plain.capabilities and capabilities_of(Plain()).features == frozenset()
    assert capabilities_of(object()) == Capabilities()  # a plugin declaring nothing: spot, any size, no optional field


def test_a_pinned_cloud_that_is_enabled_but_sells_no_spot_says_so(shared_catalog):
    """Not "lambda is not enabled here": it is, and what it lacks is spot (its catalog has no spot prices either)."""
    scope = Scope(BOTH, capabilities={"lambda": Capabilities(spot=False)})
    message = _refused(_task(use_spot=True, infra="lambda"), shared_catalog, scope)
    assert "not sold by lambda" in message and "not enabled" not in message
