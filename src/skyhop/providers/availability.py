"""Live availability from every provider whose cloud reports it (`base.LiveAvailability`).

The catalog says what a cloud sells and for how much; some clouds also say
what can be launched right now (Lambda's `regions_with_capacity_available`).
Asking needs the cloud's credentials, so this runs where launches run (the
API server, `GET /api/v1/availability`); `show-gpus --available` shows it.
A provider that cannot answer (no key, API down) says why instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from skyhop.errors import SkyhopError


@dataclass(frozen=True)
class CloudAvailability:
    """What one cloud can launch now: (instance type, region) pairs; `error` when it could not say."""

    cloud: str
    available: tuple[tuple[str, str], ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"cloud": self.cloud, "available": [list(pair) for pair in self.available], "error": self.error}


def live_availability() -> list[CloudAvailability]:
    from skyhop.providers import registry
    from skyhop.providers.base import LiveAvailability

    out = []
    for name in registry.names():
        try:
            provider = registry.get(name)
            if not isinstance(provider, LiveAvailability):
                continue
            pairs = provider.availability()
        except SkyhopError as error:
            out.append(CloudAvailability(name, error=str(error)))
            continue
        out.append(CloudAvailability(name, tuple(sorted(pair for pair, yes in pairs.items() if yes))))
    return out
