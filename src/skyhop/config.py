"""`SKYHOP_HOME/config.yaml`: user settings (read lazily, validated loosely).

Only the sections that exist so far are checked; unknown top-level keys are
rejected so a typo does not silently do nothing.
"""

from __future__ import annotations

from typing import Any

from skyhop import paths
from skyhop.errors import ConfigError

KNOWN_SECTIONS = ("optimizer", "catalog", "infra", "ssh_node_pools", "api_server", "defaults", "gcp")


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
        if key not in KNOWN_SECTIONS:
            guess = did_you_mean(str(key), KNOWN_SECTIONS)
            raise ConfigError(f"{path}: unknown section '{key}'." + (f" Did you mean '{guess}'?" if guess else ""))
    return data
