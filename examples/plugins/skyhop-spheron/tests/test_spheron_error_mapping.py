"""The plugin's own unit tests: Spheron answers in, typed errors with their failover scope out.

No network and no root: an `ApiError` is what skyhop's JSON client raises for
an HTTP error (status and decoded body), so these build one directly. Run
with `pytest tests/` from this directory, or as part of skyhop's suite.
"""

from __future__ import annotations

import pytest

from skyhop.providers.errors import CLOUD, REGION, AuthError, CapacityError, ProviderError
from skyhop.providers.http import ApiError
from skyhop_spheron import names
from skyhop_spheron.api import Deployment
from skyhop_spheron.errors import message_of, typed
from skyhop_spheron.facts import SpheronCluster, SpheronNode

SOURCE = "$SPHERON_API_KEY"
OWNER = "0123456789abcdef"
LAUNCH = "a1b2c3d4e5f6"


def _map(status: int, body: object = None, *, creating: bool = False) -> ProviderError:
    return typed(ApiError(f"Spheron API: answered {status}", status=status, body=body), creating=creating, where="H100 in CANADA-1", key_source=SOURCE)


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_blocks_the_whole_cloud_and_names_where_the_key_came_from(status):
    error = _map(status, {"error": "Unauthorized"}, creating=True)
    assert isinstance(error, AuthError) and error.scope == CLOUD
    assert SOURCE in str(error) and "Unauthorized" in str(error) and str(status) in str(error)


@pytest.mark.parametrize(("status", "body"), [(402, {"error": "Payment required"}), (400, {"message": "Insufficient balance to deploy"})])
def test_an_account_that_cannot_pay_blocks_the_cloud_not_just_the_region(status, body):
    error = _map(status, body, creating=True)
    assert type(error) is ProviderError and error.scope == CLOUD


@pytest.mark.parametrize(("status", "body"), [(400, {"error": "No capacity available"}), (404, {"error": "Offer not found"}), (422, {"message": ["gpuCount must be 1"]})])
def test_a_refused_create_is_a_capacity_error_for_the_region(status, body):
    error = _map(status, body, creating=True)
    assert isinstance(error, CapacityError) and error.scope == REGION
    assert message_of(ApiError("x", status=status, body=body)) in str(error)


@pytest.mark.parametrize("status", [500, 502, 0])
def test_an_api_failure_while_creating_moves_on_without_calling_it_capacity(status):
    error = _map(status, "upstream error", creating=True)
    assert type(error) is ProviderError and error.scope == REGION


def test_rate_limiting_stops_the_launch_instead_of_trying_every_region():
    assert _map(429, {"error": "Too many requests"}, creating=True).scope is None


def test_other_failures_carry_no_scope():
    error = _map(400, {"error": "bad page"})
    assert type(error) is ProviderError and error.scope is None and "bad page" in str(error)


def test_the_message_is_the_apis_own_words_when_it_has_them():
    assert message_of(ApiError("fallback", status=400, body={"message": ["a", "b"]})) == "a; b"
    assert message_of(ApiError("fallback", status=400, body="<html>")) == "fallback"


def test_names_carry_the_marks_and_never_match_another_cluster():
    name = names.deployment_name(OWNER, "a", LAUNCH, 0)
    assert name == f"skyhop-01234567-a-{LAUNCH}-0"
    assert names.of_cluster(name, OWNER, "a") == names.Marked(LAUNCH, "0", "a")
    other = names.deployment_name(OWNER, "a-b", LAUNCH, 1)
    assert names.of_cluster(other, OWNER, "a") is None and names.of_cluster(other, OWNER, "a-b") is not None
    assert names.parse(name, "fedcba9876543210") is None  # another installation's
    assert names.parse("my-own-deployment", OWNER) is None
    key = names.key_name(OWNER, "a", LAUNCH)
    assert names.of_cluster(key, OWNER, "a") == names.Marked(LAUNCH, "key", "a")


def test_the_longest_cluster_name_is_kept_whole():
    cluster = "c" * 63
    name = names.deployment_name(OWNER, cluster, LAUNCH, 12)
    assert len(name) <= names.LIMIT and names.parse(name, OWNER).cluster == cluster


def test_facts_round_trip_and_tolerate_missing_keys():
    facts = SpheronCluster(LAUNCH, "team-1", ("dep-1", "dep-2"), "key-1")
    assert SpheronCluster.from_json(facts.to_json()) == facts
    assert SpheronCluster.from_json({}) == SpheronCluster("")
    node = SpheronNode("dep-1", "skyhop-x")
    assert SpheronNode.from_json(node.to_json()) == node


def test_a_deployment_without_an_address_is_not_given_one():
    d = Deployment.from_json({"id": 7, "status": "deploying"})
    assert (d.id, d.ip, d.ssh_port, d.user) == ("7", None, 22, "ubuntu")
