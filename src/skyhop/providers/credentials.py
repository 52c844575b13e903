"""Which clouds the user has credentials for, by looking for them locally.

No network and no SDK: presence of the files or environment variables each
cloud's own tooling uses. This is what `skyhop check` reports and what limits
the optimizer's search when `--all-clouds` is not given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skyhop.providers.base import MachineReach


@dataclass(frozen=True)
class CredentialRule:
    env: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


RULES: dict[str, CredentialRule] = {
    "aws": CredentialRule(("AWS_ACCESS_KEY_ID", "AWS_PROFILE"), ("~/.aws/credentials", "~/.aws/config")),
    "azure": CredentialRule(("AZURE_CLIENT_ID",), ("~/.azure/msal_token_cache.json", "~/.azure/azureProfile.json")),
    "cudo": CredentialRule(("CUDO_API_KEY",), ("~/.config/cudo/cudo.yml",)),
    "daytona": CredentialRule(("DAYTONA_API_KEY",), ("~/.daytona/config.json",)),
    "do": CredentialRule(("DIGITALOCEAN_ACCESS_TOKEN",), ("~/.config/doctl/config.yaml",)),
    "fluidstack": CredentialRule(("FLUIDSTACK_API_KEY",), ("~/.fluidstack/api_key",)),
    "gcp": CredentialRule(("GOOGLE_APPLICATION_CREDENTIALS",), ("~/.config/gcloud/application_default_credentials.json",)),
    "hyperbolic": CredentialRule(("HYPERBOLIC_API_KEY",), ("~/.hyperbolic/api_key",)),
    "hyperstack": CredentialRule(("HYPERSTACK_API_KEY",), ("~/.hyperstack/api_key",)),
    "ibm": CredentialRule(("IBM_API_KEY",), ("~/.ibm/credentials.yaml",)),
    "jarvislabs": CredentialRule(("JARVISLABS_API_KEY",), ("~/.jarvislabs/api_key",)),
    "kubernetes": CredentialRule(("KUBECONFIG",), ("~/.kube/config",)),
    "lambda": CredentialRule(("LAMBDA_API_KEY",), ("~/.lambda_cloud/lambda_keys",)),
    "lium": CredentialRule(("LIUM_API_KEY",), ("~/.lium/config.ini",)),
    "mithril": CredentialRule(("MITHRIL_API_KEY",), ("~/.flow/config.yaml",)),
    "nebius": CredentialRule(("NEBIUS_IAM_TOKEN",), ("~/.nebius/credentials.json",)),
    "oci": CredentialRule((), ("~/.oci/config",)),
    "paperspace": CredentialRule(("PAPERSPACE_API_KEY",), ("~/.paperspace/config.json",)),
    "primeintellect": CredentialRule(("PRIME_API_KEY",), ("~/.prime/config.json",)),
    "runpod": CredentialRule(("RUNPOD_API_KEY",), ("~/.runpod/config.toml",)),
    "seeweb": CredentialRule(("SEEWEB_API_KEY",), ("~/.seeweb_cloud/seeweb_keys",)),
    "shadeform": CredentialRule(("SHADEFORM_API_KEY",), ("~/.shadeform/api_key",)),
    "spheron": CredentialRule(("SPHERON_API_KEY",), ("~/.spheron/config.json",)),
    "vast": CredentialRule(("VAST_API_KEY",), ("~/.config/vastai/vast_api_key", "~/.vast_api_key")),
    "verda": CredentialRule(("VERDA_CLIENT_ID",), ("~/.verda/config.json", "~/.datacrunch/config.json")),
    "yotta": CredentialRule(("YOTTA_API_KEY",), ("~/.yotta/credentials",)),
}


@dataclass(frozen=True)
class CheckResult:
    """Whether one provider is usable, and why (not)."""

    name: str
    enabled: bool
    reason: str
    # Existing machines reached now (providers that are `MachineChecker`s); None: not that kind.
    machines: "tuple[MachineReach, ...] | None" = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "enabled": self.enabled, "reason": self.reason}
        if self.machines is not None:
            out["hosts"] = [m.to_json() for m in self.machines]
        return out


def check_cloud(name: str) -> CheckResult:
    rule = RULES.get(name)
    if rule is None:
        return CheckResult(name, False, "skyhop has no credential check for this cloud yet")
    for var in rule.env:
        if os.environ.get(var):
            return CheckResult(name, True, f"${var} is set")
    for file in rule.files:
        if Path(file).expanduser().is_file():
            return CheckResult(name, True, f"found {file}")
    wanted = [f"${v}" for v in rule.env] + list(rule.files)
    return CheckResult(name, False, f"no credentials (looked for {' or '.join(wanted)})")


def check_all() -> list[CheckResult]:
    return [check_cloud(name) for name in sorted(RULES)]
