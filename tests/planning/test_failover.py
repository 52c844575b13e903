"""Failover at offer granularity: typed errors block their scope, planning again finds the next zone."""

from __future__ import annotations

import json

import pytest

from skyhop.catalog.offer import Offer
from skyhop.errors import InfeasibleError
from skyhop.optimizer.blocklist import Blocked
from skyhop.planning import failover
from skyhop.planning.plan import plan_task
from skyhop.planning.space import search_space
from skyhop.providers.errors import AuthError, CapacityError, NotSupportedError, QuotaError
from skyhop.spec.task import Task

OFFER = Offer("aws", "p5.48xlarge", "H100", 8.0, 192.0, 2048.0, "us-east-1", "us-east-1a", 98.3, None, None)


@pytest.mark.parametrize(
    "error, blocked",
    [
        (CapacityError("full"), Blocked("aws", "us-east-1", "us-east-1a")),
        (QuotaError("quota"), Blocked("aws", "us-east-1")),
        (AuthError("expired"), Blocked("aws")),
        (NotSupportedError("no"), Blocked("aws", "us-east-1", "us-east-1a", "p5.48xlarge")),
        (CapacityError("the whole region is out", scope="region"), Blocked("aws", "us-east-1")),
    ],
)
def test_each_error_type_blocks_the_scope_it_names(error, blocked):
    assert Blocked.around(OFFER, error.scope) == blocked
    assert blocked.matches(OFFER)


def test_an_unknown_scope_is_a_bug_not_a_silent_block():
    with pytest.raises(ValueError):
        CapacityError("x", scope="planet")


def _task(infra: str) -> Task:
    return Task.from_dict({"resources": {"accelerators": "H100:8", "infra": infra}})


def test_a_full_zone_leaves_the_other_zones_of_its_region():
    """Before, one capacity error in a region skipped every other region of the cloud; now only that zone goes."""
    task = _task("primeintellect/FI")
    space = search_space([task], all_clouds=True)
    first = plan_task(task, space).chosen.offer
    assert (first.region, first.zone) == ("FI", "FIN-02")
    second = plan_task(task, space, [Blocked.around(first, CapacityError("full").scope)]).chosen.offer
    assert (second.cloud, second.region, second.zone) == ("primeintellect", "FI", "eu-north1")
    with pytest.raises(InfeasibleError, match="blocked resources"):
        plan_task(task, space, [Blocked.around(first, QuotaError("quota").scope)])  # quota: the whole region


def test_attempts_round_trip_and_add_up_to_the_blocked_set():
    attempts = [
        failover.Attempt("aws/us-east-1/us-east-1a", "1x p5.48xlarge (H100:8)", 98.3, failover.FAILED, "full", Blocked("aws", "us-east-1", "us-east-1a")),
        failover.Attempt("aws/us-east-1/us-east-1b", "1x p5.48xlarge (H100:8)", 98.3, failover.FAILED, "quota", Blocked("aws", "us-east-1")),
        failover.Attempt("aws/us-east-1/us-east-1a", "1x p5.48xlarge (H100:8)", 98.3, failover.FAILED, "full", Blocked("aws", "us-east-1", "us-east-1a")),
        failover.Attempt("gcp/us-central1/us-central1-a", "1x a3 (H100:8)", 88.0, failover.LAUNCHED),
    ]
    again = [failover.Attempt.from_json(json.loads(json.dumps(a.to_json()))) for a in attempts]
    assert again == attempts
    assert failover.blocked_by(again) == (Blocked("aws", "us-east-1", "us-east-1a"), Blocked("aws", "us-east-1"))
    table = failover.table(attempts).splitlines()
    assert table[0].split() == ["INFRA", "RESOURCES", "REASON"]
    assert table[1].split()[0] == "aws/us-east-1/us-east-1a" and table[1].endswith("full")
    assert table[-1].endswith("launched")
