"""`resources.ports`: planned only onto providers that can open ports (`PortOpener`), and when none
is left the error says "not supported yet on <provider>" (issue 9 §5). One check, in planning."""

from __future__ import annotations

import pytest

from skyhop.errors import InfeasibleError
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import optimize_task
from skyhop.spec.task import Task

H100_WITH_PORTS = {"resources": {"accelerators": "H100:8", "ports": [8080, "9000-9001"]}, "run": "true"}


def test_the_optimizer_keeps_a_request_with_ports_on_clouds_that_can_open_them(shared_catalog):
    task = Task.from_dict(H100_WITH_PORTS)
    everywhere = optimize_task(task, shared_catalog, Scope(("lambda", "primeintellect")))
    assert everywhere.chosen.offer.cloud == "primeintellect"  # the cheaper one, when both could
    only_lambda = optimize_task(task, shared_catalog, Scope(("lambda", "primeintellect"), port_openers={"lambda"}))
    assert {c.offer.cloud for c in only_lambda.candidates} == {"lambda"}
    assert only_lambda.considered_clouds == ("lambda",)
    # Without ports the capability does not matter.
    plain = optimize_task(Task.from_dict({"resources": {"accelerators": "H100:8"}}), shared_catalog, Scope(("lambda", "primeintellect"), port_openers={"lambda"}))
    assert plain.chosen.offer.cloud == "primeintellect"


def test_when_no_cloud_left_can_open_ports_the_error_says_so(shared_catalog):
    task = Task.from_dict(H100_WITH_PORTS)
    with pytest.raises(InfeasibleError) as error:
        optimize_task(task, shared_catalog, Scope(("lambda", "primeintellect"), port_openers=()))
    assert "opening ports (resources.ports or --ports) is not supported yet on lambda, primeintellect" in str(error.value)
    pinned = Task.from_dict({**H100_WITH_PORTS, "resources": {**H100_WITH_PORTS["resources"], "infra": "primeintellect"}})
    with pytest.raises(InfeasibleError) as error:
        optimize_task(pinned, shared_catalog, Scope(("lambda", "primeintellect"), port_openers={"lambda"}))
    assert "not supported yet on primeintellect;" in str(error.value)  # only the pinned cloud is named
