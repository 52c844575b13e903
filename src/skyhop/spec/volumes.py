"""`volumes:` values: a volume name, or a mapping (an existing volume with a
`sub_path`, or a new ephemeral volume created with the cluster).

SkyPilot accepts `{/mnt/path: name}`, `{/mnt/path: {name: existing, sub_path:
dir}}` and an inline new volume `{/mnt/path: {size: 1Gi, labels: {...}}}`; this
module parses all three so such files load. Mounting volumes is refused at
launch until a provider supports it (`skyhop.execution.unsupported`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skyhop.spec.errors import SpecError, join_path
from skyhop.spec.fields import as_mapping, as_str, check_keys
from skyhop.spec.quantities import parse_size_gb

_VOLUME_KEYS = ("name", "sub_path", "size", "type", "labels", "config")


@dataclass(frozen=True)
class VolumeMount:
    """A volume given as a mapping: an existing volume's `sub_path`, or a new
    volume (`size`, `type`, `labels`, `config`) that lives as long as the cluster."""

    name: str | None = None
    sub_path: str | None = None
    size: str | None = None
    type: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        """No name: SkyPilot creates an ephemeral volume for the cluster."""
        return self.name is None

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in _VOLUME_KEYS:
            value = getattr(self, key)
            if value:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        return out


def parse_volume(raw: Any, path: str) -> str | VolumeMount:
    """A volume name (kept as the string), or a `VolumeMount`."""
    if isinstance(raw, str):
        if not raw.strip():
            raise SpecError(path, "empty volume name", expected="a volume name, or a mapping with name/sub_path or size")
        return raw
    mapping = as_mapping(raw, path, "a volume name, or a mapping with name/sub_path or size/labels")
    check_keys(mapping, _VOLUME_KEYS, path, "a volume")
    def p(key):
        return join_path(path, key)
    text = {k: as_str(mapping[k], p(k)) for k in ("name", "sub_path", "size", "type") if mapping.get(k) is not None}
    if "name" in text and not text["name"].strip():
        raise SpecError(p("name"), "is empty", expected="the name of an existing volume")
    if "name" not in text and "size" not in text:
        raise SpecError(path, "needs 'name' (an existing volume) or 'size' (a new one)", value=raw)
    sub_path = text.get("sub_path")
    if sub_path is not None and (sub_path.startswith("/") or ".." in sub_path.split("/") or not sub_path.strip()):
        raise SpecError(p("sub_path"), "must be a relative path inside the volume", value=sub_path, expected="a path like data/run1 (no leading / or ..)")
    if "size" in text:
        parse_size_gb(text["size"], p("size"))  # validated here, kept as written (e.g. 1Gi)
    labels = as_mapping(mapping.get("labels") or {}, p("labels"), "a mapping of label: value")
    config = as_mapping(mapping.get("config") or {}, p("config"), "a mapping of volume settings")
    volume = VolumeMount(
        labels={as_str(k, p("labels")): as_str(v, join_path(p("labels"), str(k)), allow_numbers=True) for k, v in labels.items()},
        config=dict(config),
        **text,
    )
    return volume.name if set(volume.dump()) == {"name"} and volume.name else volume


def dump_volume(value: str | VolumeMount) -> Any:
    return value if isinstance(value, str) else value.dump()
