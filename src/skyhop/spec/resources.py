"""`Resources`: what one node needs and where it may run.

Mirrors the SkyPilot `resources:` section field for field so a SkyPilot file
loads unchanged and dumps back to an equivalent file. Alternatives (an
accelerator set or list, `any_of`, `ordered`) stay nested here as the user
wrote them; `expand()` turns them into the tiers the optimizer searches.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from skyhop.spec.errors import SpecError, join_path
from skyhop.spec.fields import (
    as_bool,
    as_list,
    as_mapping,
    as_number,
    as_str,
    check_keys,
    format_number,
    number_out,
)
from skyhop.spec.infra import Infra
from skyhop.spec.quantities import Accelerator, Autostop, JobRecovery, Quantity, parse_size_gb

DISK_TIERS = ("low", "medium", "high", "ultra", "best")
NETWORK_TIERS = ("standard", "best")

RESOURCE_KEYS = (
    "infra", "cloud", "region", "zone", "accelerators", "gpus", "accelerator_args",
    "instance_type", "cpus", "memory", "use_spot", "job_recovery", "spot_recovery",
    "disk_size", "disk_tier", "network_tier", "ports", "labels", "image_id",
    "max_hourly_cost", "autostop", "any_of", "ordered",
)


@dataclass(frozen=True)
class Resources:
    """A resources request. `None`/empty means "not specified" (an `any_of`
    entry then inherits the value of the enclosing request)."""

    infra: Infra | None = None
    accelerators: tuple[Accelerator, ...] = ()
    accelerators_ordered: bool = False
    accelerator_args: Mapping[str, Any] | None = None
    instance_type: str | None = None
    cpus: Quantity | None = None
    memory: Quantity | None = None
    use_spot: bool | None = None
    job_recovery: JobRecovery | None = None
    disk_size: int | None = None
    disk_tier: str | None = None
    network_tier: str | None = None
    ports: tuple[str, ...] = ()
    labels: Mapping[str, str] | None = None
    image_id: str | Mapping[str, str] | None = None
    max_hourly_cost: float | None = None
    autostop: Autostop | None = None
    any_of: tuple["Resources", ...] = ()
    ordered: tuple["Resources", ...] = ()

    def __init__(
        self,
        infra: Infra | str | None = None,
        accelerators: Any = (),
        accelerators_ordered: bool = False,
        accelerator_args: Mapping[str, Any] | None = None,
        instance_type: str | None = None,
        cpus: Quantity | int | float | str | None = None,
        memory: Quantity | int | float | str | None = None,
        use_spot: bool | None = None,
        job_recovery: JobRecovery | str | None = None,
        disk_size: int | str | None = None,
        disk_tier: str | None = None,
        network_tier: str | None = None,
        ports: Any = (),
        labels: Mapping[str, str] | None = None,
        image_id: str | Mapping[str, str] | None = None,
        max_hourly_cost: float | None = None,
        autostop: Autostop | int | bool | None = None,
        any_of: Any = (),
        ordered: Any = (),
    ) -> None:
        """Python-friendly constructor: accepts the YAML spellings too
        (`Resources(accelerators="H100:8", infra="aws", cpus="8+")`)."""
        values = dict(locals())
        values.pop("self")
        if isinstance(accelerators, tuple) and all(isinstance(a, Accelerator) for a in accelerators):
            pass
        elif accelerators:
            accs, is_ordered = _parse_accelerators(accelerators, "resources.accelerators")
            values["accelerators"], values["accelerators_ordered"] = accs, is_ordered or accelerators_ordered
        else:
            values["accelerators"] = ()
        if isinstance(infra, str):
            values["infra"] = Infra.parse(infra)
        for name, unit in (("cpus", "vCPUs"), ("memory", "GB")):
            if values[name] is not None and not isinstance(values[name], Quantity):
                values[name] = Quantity.parse(values[name], f"resources.{name}", unit)
        for name in _TIERS:
            if values[name] is not None:
                values[name] = _tier(name, values[name], f"resources.{name}")
        if disk_size is not None and (isinstance(disk_size, bool) or not isinstance(disk_size, int)):
            values["disk_size"] = parse_disk_gb(disk_size, "resources.disk_size")
        if isinstance(job_recovery, (str, dict)):
            values["job_recovery"] = JobRecovery.parse(job_recovery, "resources.job_recovery")
        if autostop is not None and not isinstance(autostop, Autostop):
            values["autostop"] = Autostop.parse(autostop, "resources.autostop")
        if not (isinstance(ports, tuple) and all(isinstance(p, str) for p in ports)):
            values["ports"] = _parse_ports(ports, "resources.ports") if ports else ()
        for name in ("any_of", "ordered"):
            items = values[name]
            values[name] = tuple(
                item if isinstance(item, Resources) else _parse_mapping(item, f"resources.{name}[{i}]", nested=True)
                for i, item in enumerate(items or ())
            )
        for item in fields(self):
            object.__setattr__(self, item.name, values[item.name])

    # -- derived -----------------------------------------------------------
    @property
    def spot(self) -> bool:
        return bool(self.use_spot)

    @property
    def accelerator(self) -> Accelerator | None:
        """The single accelerator of a concrete (expanded) request."""
        return self.accelerators[0] if self.accelerators else None

    def merged_onto(self, base: "Resources") -> "Resources":
        """This request's specified fields on top of `base` (any_of semantics)."""
        changes = {}
        for item in fields(self):
            if item.name in ("any_of", "ordered"):
                continue
            value = getattr(self, item.name)
            if item.name == "accelerators_ordered":
                continue
            if value not in (None, ()):
                changes[item.name] = value
                if item.name == "accelerators":
                    changes["accelerators_ordered"] = self.accelerators_ordered
        return replace(base, any_of=(), ordered=(), **changes)

    def expand(self) -> list[list["Resources"]]:
        """Tiers of concrete requests, best tier first.

        Requests inside one tier compete on price (`any_of`, accelerator
        sets); a later tier is used only if no earlier one has any offer
        (`ordered`, accelerator lists). Each concrete request has at most one
        accelerator and no nested alternatives.
        """
        if self.ordered:
            entries = [[e.merged_onto(self)] for e in self.ordered]
        elif self.any_of:
            entries = [[e.merged_onto(self) for e in self.any_of]]
        else:
            entries = [[replace(self, any_of=(), ordered=())]]
        tiers: list[list[Resources]] = []
        for tier in entries:
            ordered_split: list[list[Resources]] = [[]]
            for request in tier:
                if len(request.accelerators) <= 1:
                    ordered_split[0].append(request)
                elif request.accelerators_ordered:
                    singles = [replace(request, accelerators=(a,), accelerators_ordered=False) for a in request.accelerators]
                    ordered_split[0].append(singles[0])
                    for index, single in enumerate(singles[1:], start=1):
                        while len(ordered_split) <= index:
                            ordered_split.append([])
                        ordered_split[index].append(single)
                else:
                    ordered_split[0].extend(
                        replace(request, accelerators=(a,), accelerators_ordered=False) for a in request.accelerators
                    )
            tiers.extend(t for t in ordered_split if t)
        return tiers

    def with_overrides(self, **changes: Any) -> "Resources":
        """Apply CLI-style overrides to this request and to every alternative."""
        parsed = Resources(**changes)
        given = {name: getattr(parsed, name) for name in changes}
        if "accelerators" in given:
            given["accelerators_ordered"] = parsed.accelerators_ordered
        return replace(
            self,
            any_of=tuple(replace(e, **_only_set(e, given)) for e in self.any_of),
            ordered=tuple(replace(e, **_only_set(e, given)) for e in self.ordered),
            **given,
        )

    # -- YAML --------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, path: str = "resources") -> "Resources":
        if data is None:
            return cls()
        return _parse_mapping(data, path, nested=False)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form; `from_dict(r.to_dict()) == r`."""
        out: dict[str, Any] = {}
        if self.infra is not None:
            out["infra"] = str(self.infra)
        if self.accelerators:
            out["accelerators"] = _dump_accelerators(self.accelerators, self.accelerators_ordered)
        if self.accelerator_args is not None:
            out["accelerator_args"] = dict(self.accelerator_args)
        if self.instance_type is not None:
            out["instance_type"] = self.instance_type
        for name in ("cpus", "memory"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.dump()
        if self.use_spot is not None:
            out["use_spot"] = self.use_spot
        if self.job_recovery is not None:
            out["job_recovery"] = self.job_recovery.dump()
        for name in ("disk_size", "disk_tier", "network_tier"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.ports:
            out["ports"] = [int(p) if p.isdigit() else p for p in self.ports]
        if self.labels is not None:
            out["labels"] = dict(self.labels)
        if self.image_id is not None:
            out["image_id"] = self.image_id if isinstance(self.image_id, str) else dict(self.image_id)
        if self.max_hourly_cost is not None:
            out["max_hourly_cost"] = number_out(self.max_hourly_cost)
        if self.autostop is not None:
            out["autostop"] = self.autostop.dump()
        if self.any_of:
            out["any_of"] = [e.to_dict() for e in self.any_of]
        if self.ordered:
            out["ordered"] = [e.to_dict() for e in self.ordered]
        return out

    def describe(self) -> str:
        """One-line summary such as `H100:8, 8+ vCPUs, spot, on aws`."""
        parts = [str(a) for a in self.accelerators]
        if self.instance_type:
            parts.append(self.instance_type)
        if self.cpus:
            parts.append(f"{self.cpus} vCPUs")
        if self.memory:
            parts.append(f"{self.memory} GB memory")
        if self.spot:
            parts.append("spot")
        if self.infra and not self.infra.is_any:
            parts.append(f"on {self.infra}")
        if self.max_hourly_cost is not None:
            parts.append(f"<= ${self.max_hourly_cost:g}/h")
        return ", ".join(parts) or "any machine"


def _only_set(entry: Resources, given: dict[str, Any]) -> dict[str, Any]:
    """Overrides that touch fields an alternative itself specifies."""
    out = {}
    for name, value in given.items():
        if name == "accelerators_ordered":
            if entry.accelerators:
                out[name] = value
        elif getattr(entry, name) not in (None, ()):
            out[name] = value
    return out


def _parse_mapping(data: Any, path: str, *, nested: bool) -> Resources:
    mapping = as_mapping(data, path, "a mapping of resource fields")
    allowed = [k for k in RESOURCE_KEYS if not (nested and k in ("any_of", "ordered"))]
    if nested:
        for key in ("any_of", "ordered"):
            if key in mapping:
                raise SpecError(join_path(path, key), f"'{key}' cannot be nested inside another alternative")
    check_keys(mapping, allowed, path, "resources")
    p = lambda key: join_path(path, key)  # noqa: E731 - local shorthand for field paths
    values: dict[str, Any] = {}

    infra_given = mapping.get("infra")
    legacy = {k: mapping.get(k) for k in ("cloud", "region", "zone") if mapping.get(k) is not None}
    if infra_given is not None and legacy:
        raise SpecError(p("infra"), f"cannot be combined with the legacy field(s) {', '.join(legacy)}", hint="Use only 'infra', e.g. infra: aws/us-east-1.")
    if infra_given is not None:
        values["infra"] = Infra.parse(infra_given, p("infra"))
    elif legacy:
        for key, value in legacy.items():
            as_str(value, p(key))
        if "cloud" not in legacy and "region" in legacy:
            raise SpecError(p("region"), "a region needs a cloud", value=legacy["region"], hint="Write infra: <cloud>/<region>.")
        values["infra"] = Infra.from_legacy(legacy.get("cloud"), legacy.get("region"), legacy.get("zone"), path)

    if mapping.get("accelerators") is not None and mapping.get("gpus") is not None:
        raise SpecError(p("gpus"), "cannot be combined with 'accelerators' (they are the same field)")
    acc_key = "gpus" if mapping.get("gpus") is not None else "accelerators"
    if mapping.get(acc_key) is not None:
        values["accelerators"], values["accelerators_ordered"] = _parse_accelerators(mapping[acc_key], p(acc_key))
    if mapping.get("accelerator_args") is not None:
        values["accelerator_args"] = dict(as_mapping(mapping["accelerator_args"], p("accelerator_args")))
    if mapping.get("instance_type") is not None:
        values["instance_type"] = as_str(mapping["instance_type"], p("instance_type")).strip()
    for name, unit in (("cpus", "vCPUs"), ("memory", "GB")):
        if mapping.get(name) is not None:
            values[name] = Quantity.parse(mapping[name], p(name), unit)
    if mapping.get("use_spot") is not None:
        values["use_spot"] = as_bool(mapping["use_spot"], p("use_spot"))
    if mapping.get("job_recovery") is not None and mapping.get("spot_recovery") is not None:
        # The legacy name must not be dropped silently when both are written.
        raise SpecError(p("spot_recovery"), "cannot be combined with 'job_recovery' (it is the legacy name of the same field)")
    recovery_key = "job_recovery" if mapping.get("job_recovery") is not None else "spot_recovery"
    if mapping.get(recovery_key) is not None:
        values["job_recovery"] = JobRecovery.parse(mapping[recovery_key], p(recovery_key))
    if mapping.get("disk_size") is not None:
        values["disk_size"] = parse_disk_gb(mapping["disk_size"], p("disk_size"))
    for name in _TIERS:
        if mapping.get(name) is not None:
            values[name] = _tier(name, mapping[name], p(name))
    if mapping.get("ports") is not None:
        values["ports"] = _parse_ports(mapping["ports"], p("ports"))
    if mapping.get("labels") is not None:
        labels = as_mapping(mapping["labels"], p("labels"), "a mapping of label: value")
        values["labels"] = {
            as_str(k, join_path(p("labels"), str(k))): as_str(v, join_path(p("labels"), str(k)), allow_numbers=True)
            for k, v in labels.items()
        }
    if mapping.get("image_id") is not None:
        image = mapping["image_id"]
        if isinstance(image, dict):
            values["image_id"] = {as_str(k, p("image_id")): as_str(v, join_path(p("image_id"), str(k))) for k, v in image.items()}
        else:
            values["image_id"] = as_str(image, p("image_id"))
    if mapping.get("max_hourly_cost") is not None:
        values["max_hourly_cost"] = number_out(as_number(mapping["max_hourly_cost"], p("max_hourly_cost"), positive=True))
    if mapping.get("autostop") is not None:
        values["autostop"] = Autostop.parse(mapping["autostop"], p("autostop"))
    for name in ("any_of", "ordered"):
        if mapping.get(name) is not None:
            items = as_list(mapping[name], p(name), "a list of resource mappings")
            if not items:
                raise SpecError(p(name), "is empty", expected="at least one alternative")
            values[name] = tuple(_parse_mapping(item, join_path(p(name), i), nested=True) for i, item in enumerate(items))
    if values.get("any_of") and values.get("ordered"):
        raise SpecError(p("ordered"), "cannot be combined with 'any_of'", hint="Use one or the other.")
    return Resources(**values)


_TIERS = {"disk_tier": DISK_TIERS, "network_tier": NETWORK_TIERS}


def _tier(name: str, raw: Any, path: str) -> str:
    tier = as_str(raw, path).lower()
    if tier not in _TIERS[name]:
        raise SpecError(path, "unknown tier", value=raw, expected=" or ".join(_TIERS[name]))
    return tier


def parse_disk_gb(raw: Any, path: str) -> int:
    """`disk_size`: whole GB, given as a number or with a unit (`'1024GB'`, `'1TB'`)."""
    size = parse_size_gb(raw, path)
    if not float(size).is_integer():
        raise SpecError(path, "is not a whole number of GB", value=raw, expected="a size in whole GB, e.g. 256 or '1TB'")
    return int(size)


def _parse_accelerators(raw: Any, path: str) -> tuple[tuple[Accelerator, ...], bool]:
    """Every SkyPilot spelling -> (accelerators, ordered?)."""
    if isinstance(raw, str):
        return (Accelerator.parse(raw, path),), False
    if isinstance(raw, (set, frozenset)):
        raw = {item: None for item in sorted(raw, key=str)}
    if isinstance(raw, dict):
        if not raw:
            raise SpecError(path, "is empty", expected="an accelerator such as 'H100:8'")
        accs = tuple(
            Accelerator.parse(k, join_path(path, str(k))) if v is None else Accelerator.of(k, v, join_path(path, str(k)))
            for k, v in raw.items()
        )
        return _unique(accs, path), False
    if isinstance(raw, list):
        if not raw:
            raise SpecError(path, "is empty", expected="an accelerator such as 'H100:8'")
        listed: list[Accelerator] = []
        for index, item in enumerate(raw):
            item_path = join_path(path, index)
            if isinstance(item, dict) and len(item) == 1:
                (name, count), = item.items()
                listed.append(Accelerator.parse(name, item_path) if count is None else Accelerator.of(name, count, item_path))
            else:
                listed.append(Accelerator.parse(item, item_path))
        return _unique(tuple(listed), path), True
    raise SpecError(path, "wrong type", value=raw, expected="'H100:8', {H100: 8}, a list (ordered) or a set (any of)")


def _unique(accs: tuple[Accelerator, ...], path: str) -> tuple[Accelerator, ...]:
    if len(set(accs)) != len(accs):
        raise SpecError(path, "lists the same accelerator twice", value=[str(a) for a in accs])
    return accs


def _dump_accelerators(accs: tuple[Accelerator, ...], ordered: bool) -> Any:
    if len(accs) == 1:
        return str(accs[0])
    if ordered:
        return [str(a) for a in accs]
    if len({a.name for a in accs}) != len(accs):
        # `{H100:8, H100:4}` would collapse to one key as {name: count}; the
        # flow-set spelling keeps every alternative.
        return {str(a): None for a in accs}
    return {a.name: number_out(a.count) for a in accs}


def _parse_ports(raw: Any, path: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for index, item in enumerate(items):
        item_path = join_path(path, index) if isinstance(raw, list) else path
        text = str(item).strip() if isinstance(item, (int, str)) and not isinstance(item, bool) else None
        low, _, high = (text or "").partition("-")
        try:
            bounds = [int(low)] + ([int(high)] if high else [])
        except ValueError:
            bounds = []
        if not bounds or any(not 1 <= b <= 65535 for b in bounds) or (len(bounds) == 2 and bounds[0] > bounds[1]):
            raise SpecError(item_path, "not a port or port range", value=item, expected="a port 1-65535 or a range like '8000-8010'")
        out.append("-".join(str(b) for b in bounds))
    return tuple(out)


__all__ = ["Accelerator", "Resources", "Quantity", "Autostop", "JobRecovery", "format_number"]
