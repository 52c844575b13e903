"""Which providers may take a request beyond its shape and price: the optional fields they honour,
spot, and how many nodes one cluster may have (`Capabilities.features/spot/max_nodes`).

A task field a provider would silently ignore (a custom image on a pool of
existing hosts, spot on a cloud that sells none) makes that provider no
candidate at all, so planning never offers it and failover never tries it;
when nothing is left, `explain` names each field and the providers that
lack it, in one paragraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from skyhop.providers.base import (
    FEATURE_DISK_SIZE,
    FEATURE_DISK_TIER,
    FEATURE_IMAGE_ID,
    FEATURE_NETWORK_TIER,
    FEATURE_PORTS,
    Capabilities,
)
from skyhop.spec.resources import Resources

# Each optional field: what asking for it means, and the CLI flag that sets it (None: task files only).
_FEATURES = (
    (FEATURE_IMAGE_ID, "a custom machine image", "--image-id"),
    (FEATURE_DISK_SIZE, "choosing the disk size", "--disk-size"),
    (FEATURE_DISK_TIER, "choosing the disk tier", "--disk-tier"),
    (FEATURE_NETWORK_TIER, "choosing the network tier", None),
    (FEATURE_PORTS, "opening ports", "--ports"),
)
_FLAGS = {feature: flag for feature, _, flag in _FEATURES}


@dataclass(frozen=True)
class Refusal:
    """Why a provider cannot take a request: a clause with `{clouds}` to fill, and what the user can change."""

    clause: str
    fix: str


def missing_features(request: Resources, capabilities: Capabilities) -> list[tuple[str, str]]:
    """(field, what it means) for each optional field `request` sets that a provider with
    `capabilities` does not honour; an existing cluster is checked for these too (it is not planned again)."""
    return [(f, what) for f, what, _ in _FEATURES if getattr(request, f) not in (None, ()) and f not in capabilities.features]


def asked(request: Resources, feature: str) -> str:
    """What the request sets a field to, for a message (`ports 8080, 9000-9001`)."""
    value = getattr(request, feature)
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def refusals(request: Resources, num_nodes: int, capabilities: Capabilities) -> list[Refusal]:
    """Everything `request` (on `num_nodes` nodes) asks for that a provider with `capabilities` does not do."""
    out = []
    for feature, what in missing_features(request, capabilities):
        flag = _FLAGS[feature]
        via = f"resources.{feature}" + (f" or {flag}" if flag else "")
        out.append(Refusal(f"{what} ({via}) is not supported yet on {{clouds}}", f"remove resources.{feature}"))
    if request.spot and not capabilities.spot:
        out.append(Refusal("spot machines (resources.use_spot or --use-spot) are not sold by {clouds}", "ask for on-demand machines"))
    limit = capabilities.max_nodes
    if limit is not None and num_nodes > limit:
        out.append(Refusal(f"{num_nodes} nodes (num_nodes or --num-nodes) are more than {{clouds}} can put in one cluster (at most {limit})", "use fewer nodes"))
    return out


def explain(refused: Mapping[str, list[Refusal]]) -> str:
    """One sentence naming each refused field with the clouds lacking it, then what would make it run."""
    by_clause: dict[str, list[str]] = {}
    fixes: dict[str, None] = {}
    for cloud, reasons in sorted(refused.items()):
        for reason in reasons:
            by_clause.setdefault(reason.clause, []).append(cloud)
            fixes[reason.fix] = None
    clauses = "; ".join(clause.format(clouds=", ".join(clouds)) for clause, clouds in by_clause.items())
    return f"{clauses}; to run the task: {', '.join(fixes)}."
