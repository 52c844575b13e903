"""Property test: random requests against the shared catalog, checked by brute force.

The brute force below is the specification, written out plainly: an offer
satisfies a request when it is priced for the requested market (on-demand or
spot), carries exactly the requested accelerator and count (or none at all for
a CPU-only request), has the requested instance type, vCPUs and memory
(exact, or at least with "+"), sits where the infra pin says, costs at most
max_hourly_cost per node and is not blocked. With nothing requested a task
gets 4+ vCPUs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from helpers import examples
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from skyhop.catalog.index import Catalog
from skyhop.catalog.offer import Offer
from skyhop.errors import InfeasibleError
from skyhop.optimizer.blocklist import Blocked
from skyhop.optimizer.scope import Scope
from skyhop.optimizer.search import optimize_task
from skyhop.spec.infra import Infra
from skyhop.spec.quantities import Accelerator, Quantity
from skyhop.spec.resources import Resources
from skyhop.spec.task import Task

EPS = 1e-9


def squash(name: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", name.upper())


@dataclass(frozen=True)
class Amount:
    value: float
    at_least: bool

    def ok(self, have: float | None) -> bool:
        if have is None:
            return False
        return have >= self.value - EPS if self.at_least else abs(have - self.value) < 1e-6

    def spelled(self) -> str:
        text = repr(float(self.value))  # every digit: an exact request must not be rounded
        return text + "+" if self.at_least else text


@dataclass(frozen=True)
class Request:
    accelerator: str | None
    count: float
    instance_type: str | None
    cpus: Amount | None
    memory: Amount | None
    spot: bool
    infra: tuple | None  # (cloud, region, zone), None slots are wildcards
    cap: float | None
    nodes: int
    blocked: tuple  # of (cloud, region, zone, instance_type), None slots are wildcards

    def satisfied_by(self, o: Offer) -> bool:
        price = o.spot_price if self.spot else o.price
        if price is None:
            return False
        if self.accelerator is not None:
            if o.accelerator is None or squash(o.accelerator) != squash(self.accelerator) or o.accelerator_count != self.count:
                return False
        elif self.instance_type is None and o.accelerator is not None:
            return False  # CPU-only requests get machines without accelerators
        if self.instance_type is not None and o.instance_type != self.instance_type:
            return False
        cpus = self.cpus
        if self.accelerator is None and self.instance_type is None and cpus is None and self.memory is None:
            cpus = Amount(4, True)
        if cpus is not None and not cpus.ok(o.vcpus):
            return False
        if self.memory is not None and not self.memory.ok(o.memory_gib):
            return False
        if self.infra is not None:
            for want, have in zip(self.infra, (o.cloud, o.region, o.zone)):
                if want is not None and want != have:
                    return False
        if self.cap is not None and price > self.cap + EPS:
            return False
        for block in self.blocked:
            if all(want is None or want == have for want, have in zip(block, (o.cloud, o.region, o.zone, o.instance_type))):
                return False
        return True

    def price(self, o: Offer) -> float:
        return o.spot_price if self.spot else o.price

    def task(self) -> Task:
        resources = Resources(
            infra=Infra(*self.infra) if self.infra is not None else None,
            accelerators=(Accelerator.of(self.accelerator, self.count, "test"),) if self.accelerator else (),
            instance_type=self.instance_type,
            cpus=Quantity.parse(self.cpus.spelled(), "cpus", "vCPUs") if self.cpus else None,
            memory=Quantity.parse(self.memory.spelled(), "memory", "GB") if self.memory else None,
            use_spot=self.spot,
            max_hourly_cost=self.cap,
        )
        return Task(resources=resources, num_nodes=self.nodes)

    def blocks(self) -> list[Blocked]:
        return [Blocked(*b) for b in self.blocked]


def requests(catalog: Catalog) -> st.SearchStrategy[Request]:
    offers = list(catalog.offers)
    names = sorted({o.accelerator for o in offers if o.accelerator})
    counts = {n: sorted({o.accelerator_count for o in offers if o.accelerator == n}) for n in names}
    vcpus = sorted({o.vcpus for o in offers if o.vcpus is not None})
    memories = sorted({o.memory_gib for o in offers if o.memory_gib is not None})
    prices = sorted({p for o in offers for p in (o.price, o.spot_price) if p is not None})
    any_offer = st.sampled_from(offers)

    @st.composite
    def build(draw) -> Request:
        # Most fields either copy a random "anchor" offer (so that many requests
        # are feasible and the comparison with brute force means something) or
        # are drawn freely (so that infeasible corners are explored too).
        anchor = draw(any_offer)
        pick = lambda *choices: draw(st.sampled_from(choices))  # noqa: E731

        accelerator, count = None, 0.0
        how = pick("none", "anchor", "anchor", "anchor", "random", "unknown")
        if how == "anchor" and anchor.accelerator:
            accelerator, count = anchor.accelerator, anchor.accelerator_count
        elif how == "random":
            accelerator = draw(st.sampled_from(names))
            count = draw(st.one_of(st.sampled_from(counts[accelerator]), st.sampled_from([0.5, 1, 2, 3, 4, 8, 16])))
        elif how == "unknown":
            accelerator, count = "H1000", draw(st.sampled_from([1, 8]))

        how = pick("none", "none", "none", "none", "anchor", "random", "typo")
        instance_type = {"none": None, "anchor": anchor.instance_type, "typo": "no-such-type"}.get(how)
        if how == "random":
            instance_type = draw(any_offer).instance_type

        def amount(have: float | None, values: list[float]) -> Amount | None:
            how = pick("none", "none", "none", "exact", "at-least", "at-least", "random")
            if how == "exact" and have is not None:
                return Amount(have, False)
            if how == "at-least" and have is not None:
                return Amount(max(1.0, float(int(have * draw(st.floats(0.1, 1.0))))), True)
            if how == "random":
                value = draw(st.one_of(st.sampled_from(values), st.integers(1, 300).map(float)))
                return Amount(value, draw(st.booleans()))
            return None

        cpus = amount(anchor.vcpus, vcpus)
        memory = amount(anchor.memory_gib, memories)

        if anchor.price is not None and anchor.spot_price is not None:
            spot = draw(st.booleans())
        else:
            spot = draw(st.one_of(st.just(anchor.spot_price is not None), st.booleans()))

        how = pick("none", "none", "cloud", "region", "zone", "zone-only", "region-only", "absent-cloud")
        o = anchor if draw(st.integers(0, 3)) else draw(any_offer)
        infra = {
            "none": None,
            "cloud": (o.cloud, None, None),
            "region": (o.cloud, o.region, None),
            "zone": (o.cloud, o.region, o.zone),
            "zone-only": (o.cloud, None, o.zone),
            "region-only": (None, o.region, None),
            "absent-cloud": ("aws", None, None),
        }[how]

        how = pick("none", "none", "anchor", "above-anchor", "price", "random")
        anchor_price = anchor.spot_price if spot else anchor.price
        cap = None
        if how == "anchor" and anchor_price is not None:
            cap = anchor_price
        elif how == "above-anchor" and anchor_price is not None:
            cap = anchor_price * draw(st.floats(1.0, 3.0))
        elif how == "price":
            cap = draw(st.sampled_from(prices))
        elif how == "random":
            cap = draw(st.floats(0.01, 80, allow_nan=False))

        blocked = []
        for b in draw(st.lists(any_offer, max_size=2)):
            mask = draw(st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()))
            if not any(mask):
                mask = (True, False, False, False)
            blocked.append(tuple(v if keep else None for v, keep in zip((b.cloud, b.region, b.zone, b.instance_type), mask)))
        nodes = draw(st.integers(1, 3))
        return Request(accelerator, float(count), instance_type, cpus, memory, spot, infra, cap, nodes, tuple(blocked))

    return build()


@pytest.fixture(scope="module")
def request_strategy(shared_catalog):
    return requests(shared_catalog)


@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_optimizer_agrees_with_brute_force(shared_catalog: Catalog, request_strategy, data):
    request = data.draw(request_strategy, label="request")
    clouds = sorted(shared_catalog.clouds)
    satisfying = [o for o in shared_catalog.offers if request.satisfied_by(o)]
    try:
        plan = optimize_task(request.task(), shared_catalog, Scope(clouds, blocked=request.blocks()))
    except InfeasibleError as error:
        event("infeasible")
        assert not satisfying, f"skyhop said infeasible ({error}) but e.g. {satisfying[0]} satisfies the request"
        assert str(error).strip()
        return

    event("feasible")
    assert satisfying, "skyhop returned a plan although no offer satisfies the request"
    for candidate in plan.candidates:
        assert request.satisfied_by(candidate.offer), f"{candidate.offer} violates the request"
        assert candidate.nodes == request.nodes and candidate.spot == request.spot
        assert candidate.hourly_price == request.price(candidate.offer)
        assert candidate.total_cost == pytest.approx(candidate.hourly_price * request.nodes)
    chosen = plan.chosen
    assert chosen in plan.candidates
    best = min(request.price(o) for o in satisfying)
    assert chosen.hourly_price <= best + EPS, f"{chosen.offer} costs more than a satisfying offer at ${best}/h"
    tied = [o for o in satisfying if abs(request.price(o) - best) < EPS]
    assert chosen.offer == min(tied, key=lambda o: (o.cloud, o.region, o.zone or "", o.instance_type))

    # One candidate per cloud that can serve the request, at that cloud's best price.
    per_cloud: dict[str, float] = {}
    for o in satisfying:
        per_cloud[o.cloud] = min(per_cloud.get(o.cloud, float("inf")), request.price(o))
    assert {c.offer.cloud for c in plan.candidates} == set(per_cloud)
    for candidate in plan.candidates:
        assert candidate.hourly_price == pytest.approx(per_cloud[candidate.offer.cloud])
