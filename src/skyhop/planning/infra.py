"""Which infra exists and is usable here, and what each kind is.

Catalog clouds are usable when their credentials are found; providers
(built-in and plugins) say themselves. A provider may carry a catalog
cloud's name: its own check then replaces the credential check.

Every plan surveys every provider, and a cloud's `check()` is an HTTP call
(`Capabilities.remote_check`), so the API server keeps those answers for
`CHECK_TTL_S`; `skyhop check` always asks again and refreshes them. Only
"usable" answers are kept: a user who just fixed their credentials is not
told "not usable" for minutes, and a cloud without credentials usually
answers without a round trip anyway. Checks that read local files are not
kept at all: an edited config counts at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from skyhop.errors import SkyhopError
from skyhop.providers.base import DEFAULT_CAPABILITIES, Capabilities, MachineChecker
from skyhop.providers.credentials import CheckResult


@dataclass(frozen=True)
class Infra:
    """One name in the search space: whether it is usable, why, and what it is."""

    check: CheckResult
    capabilities: Capabilities
    has_provider: bool  # False: priced from the catalog only, no provider can launch it yet

    @property
    def name(self) -> str:
        return self.check.name


#: How long a remote check's answer is reused for planning (a launch after `skyhop check` needs no round trip).
CHECK_TTL_S = 300.0
# (SKYHOP_HOME, provider name) -> (monotonic time, answer): one process may serve several homes (tests do).
_checked: dict[tuple[str, str], tuple[float, CheckResult]] = {}
_checked_lock = threading.Lock()


def _check(name: str, provider, capabilities: Capabilities, fresh: bool) -> CheckResult:
    """The provider's check; a remote one's "usable" answer is reused while younger than CHECK_TTL_S."""
    if not capabilities.remote_check:
        return provider.check()
    from skyhop import paths

    key = (str(paths.home()), name)
    with _checked_lock:
        kept = _checked.get(key)
    if kept is not None and not fresh and time.monotonic() - kept[0] < CHECK_TTL_S:
        return kept[1]
    result = provider.check()
    with _checked_lock:
        if result.enabled:
            _checked[key] = (time.monotonic(), result)
        else:
            _checked.pop(key, None)
    return result


def survey(*, reach_machines: bool = False, fresh: bool = False) -> dict[str, Infra]:
    """Every infra skyhop knows, by name. `reach_machines` also reaches every existing machine now (slow);
    `fresh` asks remote checks again instead of reusing a recent answer."""
    from skyhop.providers import registry
    from skyhop.providers.base import capabilities_of
    from skyhop.providers.credentials import check_all

    disabled = _disabled_in_config()
    found = {r.name: Infra(_off(r) if r.name in disabled else r, DEFAULT_CAPABILITIES, False) for r in check_all()}
    for name in registry.names():
        if name in disabled:
            found[name] = Infra(_off(CheckResult(name, False, "")), capabilities_of(registry.get(name)), True)
            continue
        try:
            provider = registry.get(name)
            capabilities = capabilities_of(provider)
            result = _check(name, provider, capabilities, fresh)
            if reach_machines and isinstance(provider, MachineChecker):
                result = replace(result, machines=tuple(provider.check_machines()) if result.enabled else ())
            found[name] = Infra(result, capabilities, True)
        except SkyhopError as error:
            found[name] = Infra(CheckResult(name, False, str(error)), DEFAULT_CAPABILITIES, True)
    return dict(sorted(found.items()))


def _disabled_in_config() -> frozenset[str]:
    """Infra that config.yaml turns off (`infra: {NAME: false}`): never searched, whatever its credentials say.

    A team server sets it for this machine (`infra.local: false`): users' jobs must not run as the
    server's own Unix user. The contract test runs the API with every provider off, so nothing it
    sends can create a cluster."""
    from skyhop.config import load_config

    section = load_config().get("infra") or {}
    return frozenset(str(name) for name, on in section.items() if on is False) if isinstance(section, dict) else frozenset()


def _off(result: CheckResult) -> CheckResult:
    return replace(result, enabled=False, reason=f"disabled in config.yaml (infra.{result.name}: false)")


def check(*, reach_machines: bool = False) -> list[CheckResult]:
    """`skyhop check`: every infra checked now (never a kept answer), which also renews what planning reuses."""
    return [infra.check for infra in survey(reach_machines=reach_machines, fresh=True).values()]
