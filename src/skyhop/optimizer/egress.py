"""Data-transfer prices, and where a task's inputs live.

Egress is charged by the cloud the data leaves: `internet` when it goes to
another cloud, `inter_region` when it stays in the cloud but changes region.
The defaults are the published list prices of the first pricing tier; clouds
not listed do not charge for egress. Override with `optimizer.egress_prices`
in `config.yaml` or the `egress_prices` argument of `skyhop.optimize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from skyhop.spec.errors import SpecError
from skyhop.spec.infra import Infra


@dataclass(frozen=True)
class EgressPrice:
    internet: float  # USD per GB leaving the cloud
    inter_region: float  # USD per GB between two regions of the cloud


DEFAULT_EGRESS_PRICES: dict[str, EgressPrice] = {
    "aws": EgressPrice(0.09, 0.02),
    "gcp": EgressPrice(0.12, 0.02),
    "azure": EgressPrice(0.087, 0.02),
    "oci": EgressPrice(0.0085, 0.0085),
    "ibm": EgressPrice(0.09, 0.02),
    "do": EgressPrice(0.01, 0.01),
}
FREE = EgressPrice(0.0, 0.0)

_SCHEME_CLOUD = {"s3": "aws", "gs": "gcp", "gcs": "gcp", "az": "azure", "azure": "azure", "cos": "ibm", "oci": "oci", "r2": "cloudflare", "nebius": "nebius"}

Location = tuple  # (cloud, region or None)


def data_location(key: str, path: str) -> Location | None:
    """Where an `inputs`/`outputs` entry lives: from a bucket URL's scheme, or an
    infra string (`aws/us-east-1: 100`, skyhop's extension for a region). A
    local path has no location: it is uploaded, not transferred between clouds."""
    if "://" in key:
        scheme, rest = key.split("://", 1)
        if scheme in _SCHEME_CLOUD:
            return (_SCHEME_CLOUD[scheme], None)
        if scheme == "https" and ".blob.core.windows.net" in rest:
            return ("azure", None)
        return None
    if key.startswith(("/", "~", ".")):
        return None
    try:
        infra = Infra.parse(key, path)
    except SpecError:
        return None
    return (infra.cloud, infra.region) if infra.cloud else None


def transfer_price(source: Location, dest: Location, prices: Mapping[str, EgressPrice]) -> float:
    """USD per GB to move data from `source` to `dest`."""
    src_cloud, src_region = source
    dst_cloud, dst_region = dest
    price = prices.get(src_cloud, FREE)
    if src_cloud != dst_cloud:
        return price.internet
    if src_region is None or dst_region is None or src_region == dst_region:
        return 0.0
    return price.inter_region


def parse_prices(raw: Mapping[str, object] | None) -> dict[str, EgressPrice]:
    """Defaults overlaid with user prices: `{aws: {internet: 0.05, inter_region: 0.01}}`."""
    prices = dict(DEFAULT_EGRESS_PRICES)
    for cloud, value in (raw or {}).items():
        if isinstance(value, EgressPrice):
            prices[cloud] = value
            continue
        if not isinstance(value, Mapping):
            raise SpecError(f"optimizer.egress_prices.{cloud}", "wrong type", value=value, expected="{internet: <USD/GB>, inter_region: <USD/GB>}")
        base = prices.get(cloud, FREE)
        try:
            prices[cloud] = EgressPrice(float(value.get("internet", base.internet)), float(value.get("inter_region", base.inter_region)))
        except (TypeError, ValueError):
            raise SpecError(f"optimizer.egress_prices.{cloud}", "prices must be numbers", value=dict(value)) from None
    return prices
