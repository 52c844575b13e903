"""`SKYHOP_HOME/config.yaml`: user settings (read lazily, validated loosely).

Only the sections that exist so far are checked; unknown top-level keys are
rejected so a typo does not silently do nothing. A section named after a cloud
(`aws:`, `spheron:`, or a plugin's name) belongs to that cloud's provider,
which reads it with `cloud_section`: a plugin's settings need no change here.
"""

from __future__ import annotations

from typing import Any

from skyhop import paths
from skyhop.errors import ConfigError

KNOWN_SECTIONS = ("optimizer", "catalog", "infra", "ssh_node_pools", "api_server", "defaults", "jobs", "serve", "budgets", "active_workspace")


def load_config() -> dict[str, Any]:
    path = paths.config_file()
    if not path.is_file():
        return {}
    from skyhop.spec.errors import SpecError, did_you_mean
    from skyhop.spec.yaml_io import load_documents

    try:
        docs = load_documents(path.read_text(encoding="utf-8"))
    except SpecError as error:
        raise ConfigError(f"{path}: {error.detail}") from None
    data = docs[0] if docs else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}.")
    for key in data:
        if key not in KNOWN_SECTIONS and not _is_cloud(str(key)) and not _is_provider(str(key)):
            guess = did_you_mean(str(key), KNOWN_SECTIONS)
            raise ConfigError(f"{path}: unknown section '{key}'." + (f" Did you mean '{guess}'?" if guess else ""))
    return data


def _is_cloud(name: str) -> bool:
    from skyhop.spec.errors import SpecError
    from skyhop.spec.infra import canonical_cloud

    try:
        return canonical_cloud(name) == name  # the canonical name only: `k8s:` or `AWS:` would never be read
    except SpecError:
        return False


def _is_provider(name: str) -> bool:
    """A provider's own section, a plugin's included (asked only for a name that is no catalog cloud's)."""
    from skyhop.providers.registry import names

    return name in names()


def cloud_section(cloud: str) -> dict[str, Any]:
    """The settings under `<cloud>:` in config.yaml (`{}` when there are none)."""
    section = load_config().get(cloud)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"{paths.config_file()}: '{cloud}' must be a mapping of settings, got {type(section).__name__}.")
    return section


def number_settings(section: Any, name: str, keys: dict[str, tuple[float, float]], *, others: tuple[str, ...] = (), highest: float = 1e6) -> dict[str, float]:
    """A config.yaml section of numbers: `keys` maps each to (default, lowest allowed), every value below
    `highest`; `others` are keys the caller checks itself. A bad value is a ConfigError naming `name.key`."""
    section = section or {}
    if not isinstance(section, dict):
        raise ConfigError(f"config.yaml: {name} must be a mapping, got {type(section).__name__}.")
    unknown = sorted(set(map(str, section)) - set(keys) - set(others))
    if unknown:
        raise ConfigError(f"config.yaml: unknown {name} setting(s) {', '.join(unknown)}; known: {', '.join((*keys, *others))}.")
    values = {}
    for key, (default, lowest) in keys.items():
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lowest <= value < highest:
            raise ConfigError(f"config.yaml: {name}.{key} must be a number >= {lowest:g}, got {value!r}.")
        values[key] = float(value)
    return values
