"""Where a task may run: `cloud[/region[/zone]]`, with `*` as a wildcard.

`infra: k8s/my-context` and `infra: ssh/my-pool` reuse the region slot for
the Kubernetes context or SSH node pool, as SkyPilot does; a Kubernetes
context may itself contain slashes, so everything after `k8s/` is the context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from skyhop.spec.errors import SpecError, did_you_mean

# Clouds skyhop knows by name. Third-party providers add theirs through
# `register_cloud_name` so that specs naming them validate.
_KNOWN_CLOUDS = {
    "aws", "azure", "cudo", "daytona", "do", "fluidstack", "gcp", "hyperbolic", "hyperstack",
    "ibm", "jarvislabs", "kubernetes", "lambda", "lium", "local", "mithril", "nebius", "oci",
    "paperspace", "primeintellect", "runpod", "scp", "seeweb", "shadeform", "spheron", "ssh",
    "vast", "verda", "vsphere", "yotta",
}
_CLOUD_ALIASES = {"k8s": "kubernetes", "datacrunch": "verda", "lambdalabs": "lambda", "gke": "kubernetes"}
# Clouds whose second segment is a free-form name (context, pool) and that have no zones.
_NAMED_SECOND_SEGMENT = {"kubernetes", "ssh"}
_SEGMENT = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9_.:,@ *-]*$")


def register_cloud_name(name: str) -> None:
    """Let specs name a cloud served by a plugin provider."""
    _KNOWN_CLOUDS.add(name.lower())


def _plugin_clouds() -> set[str]:
    """Names of installed provider plugins (entry points of the `skyhop.providers` group).

    Read only when a name is not known already, so the common path costs nothing.
    """
    from importlib.metadata import entry_points

    return {entry.name.lower() for entry in entry_points(group="skyhop.providers")}


def known_clouds() -> list[str]:
    return sorted(_KNOWN_CLOUDS)


def canonical_cloud(name: str, path: str = "resources.infra") -> str:
    lowered = name.strip().lower()
    lowered = _CLOUD_ALIASES.get(lowered, lowered)
    if lowered not in _KNOWN_CLOUDS and lowered in _plugin_clouds():
        _KNOWN_CLOUDS.add(lowered)
    if lowered not in _KNOWN_CLOUDS:
        guess = did_you_mean(lowered, list(_KNOWN_CLOUDS) + list(_CLOUD_ALIASES))
        hint = f"Did you mean '{guess}'?" if guess else f"Known: {', '.join(known_clouds())}."
        raise SpecError(path, "unknown cloud", value=name, hint=hint)
    return lowered


@dataclass(frozen=True)
class Infra:
    """A placement pin; `None` in any slot means "anywhere"."""

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None

    @classmethod
    def parse(cls, text: str, path: str = "resources.infra") -> "Infra":
        if not isinstance(text, str) or not text.strip():
            raise SpecError(path, "wrong type", value=text, expected="a string like 'aws', 'aws/us-east-1' or 'gcp/*/us-central1-a'")
        text = text.strip()
        head, _, rest = text.partition("/")
        cloud = None if head == "*" else canonical_cloud(head, path)
        if cloud in _NAMED_SECOND_SEGMENT:
            return cls(cloud, rest or None, None)
        parts = rest.split("/") if rest else []
        if len(parts) > 2:
            raise SpecError(path, "too many '/' segments", value=text, expected="cloud[/region[/zone]]")
        for part in parts:
            if not _SEGMENT.match(part):
                raise SpecError(path, "bad region or zone name", value=text, expected="cloud[/region[/zone]] with non-empty names")
        region = parts[0] if parts and parts[0] != "*" else None
        zone = parts[1] if len(parts) > 1 and parts[1] != "*" else None
        return cls(cloud, region, zone)

    @classmethod
    def from_legacy(cls, cloud: str | None, region: str | None, zone: str | None, path: str = "resources") -> "Infra":
        """The `cloud:`/`region:`/`zone:` fields of older task files."""
        canonical = canonical_cloud(cloud, f"{path}.cloud") if cloud else None
        if canonical in _NAMED_SECOND_SEGMENT and zone:
            # A context or node pool has no zones; keeping one would be lost on dump.
            raise SpecError(f"{path}.zone", f"{canonical} has no zones", value=zone, hint=f"Write infra: {canonical}/<name>.")
        return cls(canonical, region, zone)

    def __str__(self) -> str:
        cloud = self.cloud or "*"
        if self.cloud in _NAMED_SECOND_SEGMENT:
            return f"{cloud}/{self.region}" if self.region else cloud
        if self.zone:
            return f"{cloud}/{self.region or '*'}/{self.zone}"
        if self.region:
            return f"{cloud}/{self.region}"
        return cloud

    @property
    def is_any(self) -> bool:
        return self.cloud is None and self.region is None and self.zone is None

    def matches(self, cloud: str, region: str | None, zone: str | None) -> bool:
        """Whether an offer at (cloud, region, zone) satisfies this pin."""
        if self.cloud is not None and self.cloud != cloud:
            return False
        if self.region is not None and self.region != region:
            return False
        if self.zone is not None and self.zone != zone:
            return False
        return True
