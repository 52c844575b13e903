"""Which infra exists and is usable here, and what each kind is.

Catalog clouds are usable when their credentials are found; providers
(built-in and plugins) say themselves. A provider may carry a catalog
cloud's name: its own check then replaces the credential check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from skyhop.errors import SkyhopError
from skyhop.providers.base import DEFAULT_CAPABILITIES, Capabilities, MachineChecker, PortOpener
from skyhop.providers.credentials import CheckResult


@dataclass(frozen=True)
class Infra:
    """One name in the search space: whether it is usable, why, and what it is."""

    check: CheckResult
    capabilities: Capabilities
    has_provider: bool  # False: priced from the catalog only, no provider can launch it yet
    opens_ports: bool = False  # its provider is a `PortOpener`: tasks with `ports` may be planned onto it

    @property
    def name(self) -> str:
        return self.check.name


def survey(*, reach_machines: bool = False) -> dict[str, Infra]:
    """Every infra skyhop knows, by name. `reach_machines` also reaches every existing machine now (slow)."""
    from skyhop.providers import registry
    from skyhop.providers.base import capabilities_of
    from skyhop.providers.credentials import check_all

    found = {r.name: Infra(r, DEFAULT_CAPABILITIES, False) for r in check_all()}
    for name in registry.names():
        try:
            provider = registry.get(name)
            result = provider.check()
            if reach_machines and isinstance(provider, MachineChecker):
                result = replace(result, machines=tuple(provider.check_machines()) if result.enabled else ())
            found[name] = Infra(result, capabilities_of(provider), True, opens_ports=isinstance(provider, PortOpener))
        except SkyhopError as error:
            found[name] = Infra(CheckResult(name, False, str(error)), DEFAULT_CAPABILITIES, True)
    return dict(sorted(found.items()))


def check(*, reach_machines: bool = False) -> list[CheckResult]:
    return [infra.check for infra in survey(reach_machines=reach_machines).values()]
