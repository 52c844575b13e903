"""Providers declare what they are; the rest of skyhop asks that, not their names."""

from __future__ import annotations

import re
from pathlib import Path

from skyhop.providers.base import DEFAULT_CAPABILITIES, FEATURE_PORTS, Capabilities, OfferSource, Preemptible, capabilities_of
from skyhop.providers.local.provider import LocalProvider
from skyhop.providers.ssh.provider import SSHProvider

SRC = Path(__file__).resolve().parents[2] / "src" / "skyhop"
# The only places a built-in provider's name may appear outside its own package: its
# registration line, the names specs accept, and the `skyhop ssh` command group.
ALLOWED = {"providers/registry.py", "spec/infra.py", "cli/main.py"}


def test_no_provider_name_outside_its_package():
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative in ALLOWED or relative.startswith(("providers/local/", "providers/ssh/")):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["'](local|ssh)["']""", line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_built_in_providers_declare_existing_machines():
    assert capabilities_of(LocalProvider()) == Capabilities(
        offers=OfferSource.EXISTING, can_stop=True, opt_in=True, cheap_query=True, own_filesystem=False, spot=False,
        shared_network=True, features=frozenset({FEATURE_PORTS}),
    )
    assert capabilities_of(SSHProvider()).offers is OfferSource.EXISTING
    # Machines that exist: no spot market, no image/disk of the task's choosing, any number of nodes; ports
    # need no opening (the local machine's own, a pool host's own network).
    assert all(capabilities_of(p()).features == {FEATURE_PORTS} and not capabilities_of(p()).spot and capabilities_of(p()).max_nodes is None for p in (LocalProvider, SSHProvider))
    assert not capabilities_of(SSHProvider()).shared_network  # each pool host has its own ports
    assert capabilities_of(SSHProvider()).own_filesystem  # a pool host is a machine: /data is its own
    assert isinstance(LocalProvider(), Preemptible) and isinstance(SSHProvider(), Preemptible)


def test_plugins_that_declare_nothing_get_defaults_from_what_they_implement():
    class PricedOnly:
        name = "lambda"

    class Lister:
        name = "toy"

        def offers(self):
            return []

    assert capabilities_of(PricedOnly()) == DEFAULT_CAPABILITIES and DEFAULT_CAPABILITIES.offers is OfferSource.CATALOG
    assert capabilities_of(Lister()).offers is OfferSource.LIVE
    assert not isinstance(PricedOnly(), Preemptible)
