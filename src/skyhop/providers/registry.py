"""Which providers exist: the built-in ones plus plugins from entry points.

A third-party package adds a provider by declaring, in its own metadata,
an entry point in the `skyhop.providers` group whose object is a Provider
class (or any zero-argument callable returning one). Plugins are loaded on
first use only, so `import skyhop` stays light. A plugin may take the name of
a cloud in the price catalog (`shadeform`): it then launches that cloud's offers,
which stay in the search as long as it declares catalog offers (the default).
"""

from __future__ import annotations

import functools
import importlib
from typing import Callable

from skyhop.errors import SkyhopError
from skyhop.providers.base import Capabilities, Provider, capabilities_of

ENTRY_POINT_GROUP = "skyhop.providers"

# name -> "module:attribute"; clouds without a provider yet are only priced, not launched.
BUILTIN: dict[str, str] = {
    "local": "skyhop.providers.local.provider:LocalProvider",
    "ssh": "skyhop.providers.ssh.provider:SSHProvider",
    "aws": "skyhop.providers.aws.provider:AWSProvider",
    "lambda": "skyhop.providers.lambda_.provider:LambdaProvider",
    "runpod": "skyhop.providers.runpod.provider:RunPodProvider",
    "gcp": "skyhop.providers.gcp.provider:GCPProvider",
}


def _load_builtin(target: str) -> Callable[[], Provider]:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@functools.lru_cache(maxsize=1)
def plugin_factories() -> dict[str, Callable[[], Provider]]:
    """Entry points of installed plugin packages, by provider name (not yet loaded)."""
    from importlib.metadata import entry_points

    from skyhop.spec.infra import register_cloud_name

    found: dict[str, Callable[[], Provider]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        name = entry.name.lower()
        if name in BUILTIN:
            continue  # a plugin may not replace a built-in provider
        found[name] = _lazy(entry)
        register_cloud_name(name)
    return found


def _lazy(entry) -> Callable[[], Provider]:
    def factory() -> Provider:
        try:
            return entry.load()()
        except Exception as error:  # a broken plugin must not break skyhop
            raise SkyhopError(f"The provider plugin '{entry.name}' ({entry.value}) failed to load: {error}") from None

    return factory


def names() -> list[str]:
    """Providers that can launch machines (built-in and plugins)."""
    return sorted(set(BUILTIN) | set(plugin_factories()))


@functools.lru_cache(maxsize=None)
def get(name: str) -> Provider:
    """The provider called `name`; a clear error for a cloud skyhop can price but not launch yet."""
    if name in BUILTIN:
        return _load_builtin(BUILTIN[name])()
    factory = plugin_factories().get(name)
    if factory is None:
        raise SkyhopError(
            f"skyhop cannot launch on '{name}' yet (it is in the price catalog, but no provider is installed for it). "
            f"Providers available: {', '.join(names())}."
        )
    return factory()


def capabilities(name: str) -> Capabilities:
    """What the provider called `name` declares (loads it)."""
    return capabilities_of(get(name))
