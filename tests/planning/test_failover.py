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


def test_a_spot_failure_blocks_its_market_only_and_a_cloud_failure_both():
    spot_full = Blocked.around(OFFER, CapacityError("no spot").scope, spot=True)
    assert spot_full.matches(OFFER, True) and not spot_full.matches(OFFER, False)
    assert Blocked.around(OFFER, CapacityError("no machines").scope, spot=False).matches(OFFER, True), "no on-demand capacity: no spare capacity either"
    assert Blocked.from_json(json.loads(json.dumps(spot_full.to_json()))) == spot_full
    assert Blocked.around(OFFER, QuotaError("MaxSpotInstanceCountExceeded").scope, spot=True) == Blocked("aws", "us-east-1", spot=True)
    assert Blocked.around(OFFER, AuthError("expired").scope, spot=True) == Blocked("aws")
    assert Blocked.from_json({"cloud": "aws", "region": "r", "zone": None, "instance_type": None}).spot is None  # logs of older versions


def test_a_zone_out_of_spot_is_tried_again_on_demand():
    """`any_of` spot then on-demand: the spot capacity error in a zone leaves that zone's on-demand offer."""
    spot_only = Task.from_dict({"resources": {"accelerators": "H100:8", "use_spot": True}})
    cheapest = plan_task(spot_only, search_space([spot_only], all_clouds=True)).chosen.offer
    pinned = failover.where(cheapest)  # a zone that sells H100:8 spot, and on-demand too
    task = Task.from_dict({"resources": {"accelerators": "H100:8", "infra": pinned, "any_of": [{"use_spot": True}, {"use_spot": False}]}})
    space = search_space([task], all_clouds=True)
    first = plan_task(task, space).chosen
    assert first.spot
    after = plan_task(task, space, [Blocked.around(first.offer, CapacityError("no spot").scope, spot=True)]).chosen
    assert not after.spot and after.offer.zone == first.offer.zone


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


def _candidate(offer: Offer = OFFER):
    from skyhop.optimizer.plan import Candidate
    from skyhop.spec.resources import Resources

    return Candidate(offer, Resources(), False, 1, 1.0)


def test_attempts_round_trip_and_add_up_to_the_blocked_set():
    gcp = Offer("gcp", "a3-highgpu-8g", "H100", 8.0, 208.0, 1872.0, "us-central1", "us-central1-a", 88.0, None, None)
    attempts = [
        failover.Attempt.failed(_candidate(), "full", "zone"),
        failover.Attempt.failed(_candidate(OFFER._replace(zone="us-east-1b")), "quota", "region"),
        failover.Attempt.failed(_candidate(), "full", "zone"),
        failover.Attempt.launched(_candidate(gcp)),
    ]
    again = [failover.Attempt.from_json(json.loads(json.dumps(a.to_json()))) for a in attempts]
    assert again == attempts
    assert failover.blocked_by(again) == (Blocked("aws", "us-east-1", "us-east-1a"), Blocked("aws", "us-east-1"))
    assert [(a.instance_type, a.scope) for a in again] == [("p5.48xlarge", "zone"), ("p5.48xlarge", "region"), ("p5.48xlarge", "zone"), ("a3-highgpu-8g", None)]
    assert attempts[0].to_json()["resources"] == "1x p5.48xlarge (H100:8)"


def test_the_table_has_infra_instance_type_blocked_and_error_columns():
    attempts = [
        failover.Attempt.failed(_candidate(), "InsufficientInstanceCapacity in us-east-1a.", "zone"),
        failover.Attempt.failed(_candidate(OFFER._replace(zone="us-east-1b")), "VcpuLimitExceeded.", "region"),
        failover.Attempt.failed(_candidate(OFFER._replace(cloud="gcp", region="us-central1", zone=None)), "401.", "cloud"),
        failover.Attempt.launched(_candidate(OFFER._replace(region="us-west-2", zone="us-west-2a"))),
    ]
    lines = failover.table(attempts).splitlines()
    assert lines[0].split() == ["INFRA", "INSTANCE", "TYPE", "BLOCKED", "ERROR"]
    assert lines[1].split()[:5] == ["aws/us-east-1/us-east-1a", "p5.48xlarge", "zone", "aws/us-east-1/us-east-1a", "InsufficientInstanceCapacity"]
    assert lines[2].split()[:4] == ["aws/us-east-1/us-east-1b", "p5.48xlarge", "region", "aws/us-east-1"]
    assert lines[3].split()[:4] == ["gcp/us-central1", "p5.48xlarge", "cloud", "gcp"]
    assert lines[4].split() == ["aws/us-west-2/us-west-2a", "p5.48xlarge", "-", "launched"]
    # The columns line up: ERROR starts at the same place on every row.
    assert len({line.index(word) for line, word in zip(lines, ["ERROR", "Insufficient", "VcpuLimit", "401.", "launched"])}) == 1


def test_a_zone_error_on_an_offer_without_zones_says_it_blocked_the_region():
    pool = OFFER._replace(cloud="flaky", region="r1", zone=None)
    attempt = failover.Attempt.failed(_candidate(pool), "no capacity.", "zone")
    assert attempt.scope == "zone" and attempt.blocked == Blocked("flaky", "r1")
    assert attempt.line() == "flaky/r1 p5.48xlarge: no capacity. Blocked region flaky/r1; trying the next candidate."


def test_attempts_logged_before_the_new_columns_still_load():
    """A request log written by an older server (resumed after an upgrade) has no instance_type or scope."""
    old = {"infra": "aws/us-east-1/us-east-1a", "resources": "1x p5.48xlarge (H100:8)", "cluster_hourly_price": 98.3,
           "outcome": "failed", "reason": "full", "blocked": {"cloud": "aws", "region": "us-east-1", "zone": "us-east-1a", "instance_type": None}}
    attempt = failover.Attempt.from_json(old)
    assert (attempt.instance_type, attempt.scope, attempt.blocked) == ("", None, Blocked("aws", "us-east-1", "us-east-1a"))
    assert failover.table([attempt]).splitlines()[1].split()[:3] == ["aws/us-east-1/us-east-1a", "-", "zone"]
