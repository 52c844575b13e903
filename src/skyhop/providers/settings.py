"""A cloud's section of config.yaml (`aws:`, `lambda:`, a plugin's name): its endpoint, address choice and login.

Every cloud provider (and plugin) reads its settings here, so they are
checked one way. The keys every cloud has: `api_endpoint` (a test or enterprise knob: the tests point it at a
replay server on loopback), `use_internal_ips` (SkyPilot's name: SSH to the
private addresses, for a skyhop that runs inside the cloud's network) and
`ssh_user` (the login the cloud's image has; the tests' hosts log in as
root). A provider names the further keys it reads (`extra_keys`: AWS's
`use_placement_group`, GCP's `project_id`) and gets them in `extra`. A typo is
an error naming the key, not a setting silently ignored.
The other helpers here are what every API-key cloud's provider does alike:
find its key (`api_key`), check it (`api_check`), and undo a failed launch
(`undo_failed_launch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from skyhop.errors import ConfigError

if TYPE_CHECKING:
    from skyhop.providers.credentials import CheckResult

_KEYS = ("api_endpoint", "use_internal_ips", "ssh_user")


@dataclass(frozen=True)
class CloudSettings:
    api_endpoint: str
    use_internal_ips: bool
    ssh_user: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # the provider's own keys that are set


def _inside_network(url: str) -> bool:
    """Whether `url`'s host is loopback or a private address, where plain http keeps the key off the internet."""
    import ipaddress
    import urllib.parse

    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: it may resolve anywhere
    return address.is_loopback or address.is_private


def cloud_settings(cloud: str, *, default_endpoint: str, default_user: str, extra_keys: tuple[str, ...] = ()) -> CloudSettings:
    """`cloud`'s settings from config.yaml, with the defaults for what it does not set."""
    from skyhop.config import cloud_section
    from skyhop.spec.errors import did_you_mean

    section: Any = cloud_section(cloud)
    known = _KEYS + extra_keys
    for key in section:
        if key not in known:
            guess = did_you_mean(str(key), known)
            raise ConfigError(f"config.yaml: unknown setting '{cloud}.{key}'." + (f" Did you mean '{guess}'?" if guess else ""))
    endpoint = section.get("api_endpoint", default_endpoint)
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise ConfigError(f"config.yaml: '{cloud}.api_endpoint' must be an http(s) URL, got {endpoint!r}.")
    if endpoint.startswith("http://") and not _inside_network(endpoint):
        raise ConfigError(
            f"config.yaml: '{cloud}.api_endpoint' is plain http to a public address ({endpoint}): the API key would cross "
            "the internet unencrypted. Use https://, or http:// only to loopback or a private address (a proxy inside your network)."
        )
    internal = section.get("use_internal_ips", False)
    if not isinstance(internal, bool):
        raise ConfigError(f"config.yaml: '{cloud}.use_internal_ips' must be true or false, got {internal!r}.")
    user = section.get("ssh_user", default_user)
    if not isinstance(user, str) or not user or not user.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"config.yaml: '{cloud}.ssh_user' must be a login name, got {user!r}.")
    return CloudSettings(endpoint.rstrip("/"), internal, user, {k: section[k] for k in extra_keys if k in section})


def api_key(cloud: str, env: str, found_in_file: str | None, file: str) -> str:
    """The key from `$env`, else what the cloud's own file holds; an AuthError naming both when neither has one."""
    import os

    from skyhop.providers.errors import AuthError

    key = os.environ.get(env) or found_in_file
    if not key:
        raise AuthError(f"No {cloud} API key: set ${env} or write it to {file}.")
    return key.strip()


def api_check(cloud: str, ask: Callable[[], str]) -> CheckResult:
    """`check()` of an API-key cloud: without a key, where keys are looked for (no round trip); with
    one, `ask()` calls the API and says what it found, and a refusal or an unreachable API says why."""
    from skyhop.providers.credentials import CheckResult, check_cloud
    from skyhop.providers.errors import ProviderError

    local = check_cloud(cloud)
    if not local.enabled:
        return local
    try:
        return CheckResult(cloud, True, ask())
    except ProviderError as error:
        return CheckResult(cloud, False, str(error).rstrip("."))


def undo_failed_launch(remove: Callable[[], None], error: BaseException, leftover: str) -> None:
    """Run `remove` after a launch failed with `error`; when removing fails too, raise `error` again
    (same type and scope, so failover blocks what it would have) saying what may be left (`leftover`)."""
    from skyhop.providers.errors import ProviderError

    try:
        remove()
    except Exception as cleanup:  # noqa: BLE001 - whatever broke the cleanup, the launch's own error is what failover reads
        note = (f" Removing what the launch created failed as well ({cleanup}): {leftover} may be left; "
                "`skyhop status --refresh` lists it once the API works again.")
        if isinstance(error, ProviderError):
            raise type(error)(f"{error}{note}", scope=error.scope) from None
        raise ProviderError(f"{error}{note}") from None
