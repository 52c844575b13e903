"""`service:`: how a task is served behind skyhop's load balancer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from skyhop.spec.errors import SpecError, join_path
from skyhop.spec.fields import as_bool, as_int, as_mapping, as_number, as_str, check_keys, number_out

_QPS_ACCELERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?::[0-9]+)?$")
LOAD_BALANCING_POLICIES = ("round_robin", "least_load", "instance_aware_least_load")
# SkyServe's spot placers (SpotHedge's `dynamic_fallback`: spread spot replicas over zones, away from preempted ones).
SPOT_PLACERS = ("dynamic_fallback",)
_SERVICE_KEYS = ("readiness_probe", "replicas", "replica_policy", "load_balancing_policy", "ports", "tls")
_PROBE_KEYS = ("path", "post_data", "initial_delay_seconds", "timeout_seconds", "headers")
_POLICY_KEYS = (
    "min_replicas", "max_replicas", "target_qps_per_replica", "upscale_delay_seconds",
    "downscale_delay_seconds", "base_ondemand_fallback_replicas", "dynamic_ondemand_fallback",
    "num_overprovision", "spot_placer",
)
#: What a probe may put in its request line and headers (http.client refuses the rest at every probe, which would
#: leave the service stuck in REPLICA_INIT with the controller's step failing): a path of printable ASCII (percent-
#: encode the rest), RFC 9110 token header names, header values of printable ASCII and tabs.
_PROBE_PATH = re.compile(r"^/[\x21-\x7e]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
#: Longest delay or timeout a service may set (a year): far above any real one, and every timer and socket timeout
#: the controller and probe derive from it stays in range (1e300 s overflowed each probe).
MAX_SECONDS = 365 * 24 * 3600
_PROBE_DEFAULTS = {"initial_delay_seconds": 1200, "timeout_seconds": 15}
_POLICY_DEFAULTS = {"upscale_delay_seconds": 300, "downscale_delay_seconds": 1200, "base_ondemand_fallback_replicas": 0}


@dataclass(frozen=True)
class ServiceSpec:
    """A flattened SkyServe `service:` section with SkyServe's defaults filled in."""

    readiness_path: str = "/"
    post_data: Any = None
    # Seconds: SkyServe takes any number here, not only whole ones.
    initial_delay_seconds: float = 1200
    readiness_timeout_seconds: float = 15
    readiness_headers: Mapping[str, str] = field(default_factory=dict)
    min_replicas: int = 1
    max_replicas: int | None = None
    # A number, or accelerator -> QPS for instance-aware autoscaling.
    target_qps_per_replica: float | Mapping[str, float] | None = None
    num_overprovision: int | None = None
    upscale_delay_seconds: float = 300
    downscale_delay_seconds: float = 1200
    base_ondemand_fallback_replicas: int = 0
    dynamic_ondemand_fallback: bool = False
    spot_placer: str | None = None
    load_balancing_policy: str | None = None
    port: int | None = None
    tls_keyfile: str | None = None
    tls_certfile: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "service") -> "ServiceSpec":
        mapping = as_mapping(data, path, "a mapping with readiness_probe and replicas or replica_policy")
        check_keys(mapping, _SERVICE_KEYS, path, "service")
        p = lambda key: join_path(path, key)  # noqa: E731
        values: dict[str, Any] = {}
        probe = mapping.get("readiness_probe", "/")
        if isinstance(probe, str):
            values["readiness_path"] = probe
        else:
            probe_map = as_mapping(probe, p("readiness_probe"), "a path such as /health, or a mapping with path")
            check_keys(probe_map, _PROBE_KEYS, p("readiness_probe"), "readiness_probe")
            pp = lambda key: join_path(p("readiness_probe"), key)  # noqa: E731
            values["readiness_path"] = as_str(probe_map.get("path", "/"), pp("path"))
            values["post_data"] = _post_data(probe_map.get("post_data"), pp("post_data"))
            values["initial_delay_seconds"] = _seconds(probe_map.get("initial_delay_seconds", 1200), pp("initial_delay_seconds"))
            values["readiness_timeout_seconds"] = _seconds(probe_map.get("timeout_seconds", 15), pp("timeout_seconds"), positive=True)
            values["readiness_headers"] = _probe_headers(probe_map.get("headers") or {}, pp("headers"))
        if not values["readiness_path"].startswith("/"):
            raise SpecError(p("readiness_probe"), "path must start with '/'", value=values["readiness_path"])
        if not _PROBE_PATH.match(values["readiness_path"]):
            raise SpecError(p("readiness_probe"), "path must be printable ASCII without spaces", value=values["readiness_path"],
                            hint="Percent-encode other characters, e.g. /caf%C3%A9.")
        if "replicas" in mapping and "replica_policy" in mapping:
            raise SpecError(p("replicas"), "cannot be combined with 'replica_policy'", hint="Use replicas for a fixed count, replica_policy to autoscale.")
        if "replicas" in mapping:
            values["min_replicas"] = as_int(mapping["replicas"], p("replicas"), minimum=0)
        elif "replica_policy" in mapping:
            values.update(cls._policy(mapping["replica_policy"], p("replica_policy")))
        if mapping.get("load_balancing_policy") is not None:
            values["load_balancing_policy"] = _choice(mapping["load_balancing_policy"], p("load_balancing_policy"), LOAD_BALANCING_POLICIES, "policy")
        if mapping.get("ports") is not None:
            values["port"] = as_int(mapping["ports"], p("ports"), minimum=1)
            if values["port"] > 65535:
                raise SpecError(p("ports"), "not a port", value=values["port"], expected="1-65535")
        if mapping.get("tls") is not None:
            tls = as_mapping(mapping["tls"], p("tls"), "a mapping with keyfile and certfile")
            check_keys(tls, ("keyfile", "certfile"), p("tls"), "tls")
            for key in ("keyfile", "certfile"):
                if key not in tls:
                    raise SpecError(join_path(p("tls"), key), "is required")
            values["tls_keyfile"] = as_str(tls["keyfile"], join_path(p("tls"), "keyfile"))
            values["tls_certfile"] = as_str(tls["certfile"], join_path(p("tls"), "certfile"))
        return cls(**values)

    @staticmethod
    def _policy(data: Any, path: str) -> dict[str, Any]:
        policy = as_mapping(data, path, "a mapping with min_replicas, max_replicas, target_qps_per_replica")
        check_keys(policy, _POLICY_KEYS, path, "replica_policy")
        p = lambda key: join_path(path, key)  # noqa: E731
        if "min_replicas" not in policy:
            raise SpecError(p("min_replicas"), "is required")
        out: dict[str, Any] = {"min_replicas": as_int(policy["min_replicas"], p("min_replicas"), minimum=0)}
        if policy.get("max_replicas") is not None:
            out["max_replicas"] = as_int(policy["max_replicas"], p("max_replicas"), minimum=1)
            if out["max_replicas"] < out["min_replicas"]:
                raise SpecError(p("max_replicas"), "is below min_replicas", value=out["max_replicas"], expected=f">= {out['min_replicas']}")
        if policy.get("target_qps_per_replica") is not None:
            out["target_qps_per_replica"] = _target_qps(policy["target_qps_per_replica"], p("target_qps_per_replica"))
        fixed_size = out.get("max_replicas") == out["min_replicas"] and "target_qps_per_replica" not in out
        if not fixed_size and ("max_replicas" in out) != ("target_qps_per_replica" in out):
            missing = "target_qps_per_replica" if "max_replicas" in out else "max_replicas"
            raise SpecError(p(missing), "is required for autoscaling", hint="Autoscaling needs both max_replicas and target_qps_per_replica.")
        for key in ("upscale_delay_seconds", "downscale_delay_seconds"):
            if policy.get(key) is not None:
                out[key] = _seconds(policy[key], p(key))
        for key in ("base_ondemand_fallback_replicas", "num_overprovision"):
            if policy.get(key) is not None:
                out[key] = as_int(policy[key], p(key), minimum=0)
        if policy.get("spot_placer") is not None:
            out["spot_placer"] = _choice(policy["spot_placer"], p("spot_placer"), SPOT_PLACERS, "spot placer")
        if policy.get("dynamic_ondemand_fallback") is not None:
            out["dynamic_ondemand_fallback"] = as_bool(policy["dynamic_ondemand_fallback"], p("dynamic_ondemand_fallback"))
        return out

    def policy_summary(self) -> str:
        """One line, as `sky serve status` words it: `Fixed 2 replicas`, `Autoscaling from 1 to 3 replicas (...)`."""
        if self.max_replicas is None or self.max_replicas == self.min_replicas and self.target_qps_per_replica is None:
            text = f"Fixed {self.min_replicas} replica{'s' if self.min_replicas != 1 else ''}"
        else:
            qps = self.target_qps_per_replica
            target = "QPS per accelerator" if isinstance(qps, Mapping) else f"{qps:g} QPS"
            text = f"Autoscaling from {self.min_replicas} to {self.max_replicas} replicas (target {target} per replica)"
        extras = [
            words for given, words in (
                (self.num_overprovision, f"{self.num_overprovision} overprovisioned"),
                (self.base_ondemand_fallback_replicas, f"{self.base_ondemand_fallback_replicas} on-demand fallback"),
                (self.dynamic_ondemand_fallback, "dynamic on-demand fallback"),
            ) if given
        ]
        return ", ".join([text, *extras])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        probe: dict[str, Any] = {"path": self.readiness_path}
        if self.post_data is not None:
            probe["post_data"] = self.post_data
        if self.initial_delay_seconds != _PROBE_DEFAULTS["initial_delay_seconds"]:
            probe["initial_delay_seconds"] = self.initial_delay_seconds
        if self.readiness_timeout_seconds != _PROBE_DEFAULTS["timeout_seconds"]:
            probe["timeout_seconds"] = self.readiness_timeout_seconds
        if self.readiness_headers:
            probe["headers"] = dict(self.readiness_headers)
        out["readiness_probe"] = probe if len(probe) > 1 else self.readiness_path
        policy: dict[str, Any] = {"min_replicas": self.min_replicas}
        if self.max_replicas is not None:
            policy["max_replicas"] = self.max_replicas
        if isinstance(self.target_qps_per_replica, Mapping):
            policy["target_qps_per_replica"] = dict(self.target_qps_per_replica)
        elif self.target_qps_per_replica is not None:
            policy["target_qps_per_replica"] = self.target_qps_per_replica
        if self.num_overprovision is not None:
            policy["num_overprovision"] = self.num_overprovision
        for key, default in _POLICY_DEFAULTS.items():
            if getattr(self, key) != default:
                policy[key] = getattr(self, key)
        if self.dynamic_ondemand_fallback:
            policy["dynamic_ondemand_fallback"] = True
        if self.spot_placer:
            policy["spot_placer"] = self.spot_placer
        if len(policy) == 1:
            out["replicas"] = self.min_replicas
        else:
            out["replica_policy"] = policy
        if self.load_balancing_policy:
            out["load_balancing_policy"] = self.load_balancing_policy
        if self.port is not None:
            out["ports"] = self.port
        if self.tls_keyfile:
            out["tls"] = {"keyfile": self.tls_keyfile, "certfile": self.tls_certfile}
        return out


def _post_data(raw: Any, path: str) -> Any:
    """The probe's POST body: a mapping or list, or a string holding JSON (SkyServe decodes it)."""
    if not isinstance(raw, str):
        return raw
    import json

    try:
        return json.loads(raw)
    except ValueError as error:
        raise SpecError(path, f"is not valid JSON ({error})", hint="Write the body as a YAML mapping, or a string of JSON.") from None


def _seconds(raw: Any, path: str, *, positive: bool = False) -> int | float:
    """A delay or timeout in seconds: >= 0 (> 0 if `positive`) and at most MAX_SECONDS."""
    return number_out(as_number(raw, path, positive=positive, minimum=None if positive else 0, maximum=MAX_SECONDS))


def _probe_headers(raw: Any, path: str) -> dict[str, str]:
    """The probe's extra headers, each one a probe can send (see _HEADER_NAME, _HEADER_VALUE)."""
    out: dict[str, str] = {}
    for key, value in as_mapping(raw, path).items():
        name = str(key)
        if not _HEADER_NAME.match(name):
            raise SpecError(join_path(path, name), "not an HTTP header name", value=name, expected="letters, digits and -, e.g. Authorization")
        text = as_str(value, join_path(path, name), allow_numbers=True)
        if not _HEADER_VALUE.match(text):
            raise SpecError(join_path(path, name), "header value must be printable ASCII (no line breaks)", value=text)
        out[name] = text
    return out


def _choice(raw: Any, path: str, choices: tuple[str, ...], what: str) -> str:
    """One of `choices`, in any letter case (SkyServe matches these names case-insensitively)."""
    name = as_str(raw, path)
    if name.lower() not in choices:
        raise SpecError(path, f"unknown {what}", value=name, expected=" or ".join(choices))
    return name.lower()


def _target_qps(raw: Any, path: str) -> float | dict[str, float]:
    """A QPS number, or a mapping accelerator -> QPS (`{H100: 10, A100:1: 5}`):
    SkyServe then weighs each replica by the accelerator it landed on."""
    if not isinstance(raw, dict):
        return number_out(as_number(raw, path, positive=True))
    if not raw:
        raise SpecError(path, "is empty", expected="a number, or a mapping of accelerator: QPS")
    out: dict[str, float] = {}
    for key, value in raw.items():
        name = as_str(key, path)
        if not _QPS_ACCELERATOR.match(name):
            raise SpecError(join_path(path, name), "not an accelerator name", value=name, expected="an accelerator like H100 or A100:1")
        out[name] = number_out(as_number(value, join_path(path, name), positive=True))
    return out


def qps_of_accelerator(table: Mapping[str, float], accelerator: str | None) -> float | None:
    """A replica's target QPS from an instance-aware `target_qps_per_replica` map, or None if the map has
    none for it. Keys and the replica's accelerator may carry a count or not (`A100:1`, `A100`): the exact
    key wins, else the first key with the same accelerator name. The autoscaler and the load balancer
    both look replicas up here, so they weigh a replica alike."""
    if not accelerator:
        return None
    if accelerator in table:
        return table[accelerator]
    name = accelerator.split(":", 1)[0]
    return next((qps for key, qps in table.items() if key.split(":", 1)[0] == name), None)
