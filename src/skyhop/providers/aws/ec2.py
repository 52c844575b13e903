"""One region's EC2 and SSM clients, with every failure turned into skyhop's typed errors.

Credentials come from boto3's standard chain (environment, ~/.aws, profiles,
instance role) and the endpoint from botocore itself, which honours
`AWS_ENDPOINT_URL` (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
Two EC2 clients: the ordinary one lets botocore retry throttling and 5xx
answers (`standard` mode, 3 attempts); the one for RunInstances and
StartInstances makes exactly one attempt, so an injected or real capacity
error costs one call and failover moves on at once, and a retried create can
never make a second machine (RunInstances also carries a ClientToken).
Every call has a read timeout (`aws.api_timeout_s`): an EC2 API that does not
answer is a region that failed, not a launch that hangs.

boto3 is imported here only, inside `Ec2.__init__` (skyhop's import guard).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

from skyhop.providers.aws.errors import translate
from skyhop.providers.errors import CLOUD, AuthError, ProviderError

_ZONES: dict[tuple[str, str], dict[str, str]] = {}  # (endpoint, region) -> zone id -> zone name
_ZONES_LOCK = threading.Lock()
_CLIENTS: OrderedDict[tuple[Any, ...], tuple[float, Ec2]] = OrderedDict()  # key -> (made at, monotonic; clients)
_CLIENTS_MAX = 32
#: How long shared clients live. What boto3 resolved once and never refreshes (a `credential_process` that gives
#: no Expiration, proxies from the environment) is read again at least this often, as every poll used to.
_CLIENTS_TTL_S = 300.0
_CLIENTS_LOCK = threading.Lock()
# What boto3 reads (digest) -> (made at, (boto3 session, the lock its clients are made under)).
_SESSIONS: OrderedDict[str, tuple[float, tuple[Any, threading.Lock]]] = OrderedDict()
_SESSIONS_MAX = 8
_LOADER: Any = None  # botocore's data loader, shared by the sessions (`_botocore_session`)
_LOADER_LOCK = threading.Lock()


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _session(region: str | None):
    try:
        import boto3
    except ImportError:
        raise ProviderError("skyhop needs boto3 for AWS: pip install 'skyhop[aws]' where the API server runs.", scope=CLOUD) from None

    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session(region_name=region, botocore_session=_botocore_session())
    except BotoCoreError as error:  # a profile that does not exist, an unparsable ~/.aws/config or credentials file
        raise AuthError(f"The AWS credentials or config cannot be used: {error}. Fix them (`aws configure list` shows what is read), "
                        "then run `skyhop check`.") from None


class _SearchPaths(list):
    """The shared loader's search path: boto3 appends its data directory for every session it makes."""

    def append(self, path: Any) -> None:
        if path not in self:
            super().append(path)


def _botocore_session():
    """A botocore session that reads AWS's API descriptions through the process's one loader.

    A session parses EC2's service model (megabytes of JSON) the first time it makes an EC2 client: 0.4 CPU s
    each time the credentials or config change (`shared`) or a caller makes its own `Ec2`. The loader holds
    only those published descriptions, nothing of the session's credentials or settings; a custom data path
    (`AWS_DATA_PATH` or `data_path` in the config) keeps the session's own loader.
    """
    global _LOADER
    import botocore.loaders
    import botocore.session

    session = botocore.session.get_session()
    if session.get_config_variable("data_path") is None:
        with _LOADER_LOCK:
            if _LOADER is None:
                _LOADER = botocore.loaders.Loader(extra_search_paths=_SearchPaths())
        session.register_component("data_loader", _LOADER)
    return session


def _config(timeout_s: float, attempts: int):
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=min(timeout_s, 20.0), read_timeout=timeout_s)


class Ec2:
    """EC2 in `region`: `call` an operation by its API name, get the decoded answer or a typed error."""

    def __init__(self, region: str, timeout_s: float = 60.0, session: Any = None) -> None:
        """Clients made from `session` (one of `shared`'s) or from a session of their own."""
        if session is None:
            session = _session(region)
        self._session = session
        self.region = region
        self._retrying = session.client("ec2", region_name=region, config=_config(timeout_s, 3))
        self._once = session.client("ec2", region_name=region, config=_config(timeout_s, 1))
        self._ssm = session.client("ssm", region_name=region, config=_config(timeout_s, 3))

    def credentials(self) -> dict[str, str]:
        """The credentials these clients sign with, as they are now (for the head's self-stop file)."""
        found = self._session.get_credentials()
        if found is None:
            raise ProviderError("No AWS credentials to give the cluster's head for autostop (aws.remote_identity: LOCAL_CREDENTIALS).", scope=CLOUD)
        frozen = found.get_frozen_credentials()
        out = {"access_key_id": frozen.access_key, "secret_access_key": frozen.secret_key}
        if frozen.token:
            out["session_token"] = frozen.token
        return out

    def call(self, operation: str, *, zone: str | None = None, once: bool = False, ok: Iterable[str] = (), **params: Any) -> dict[str, Any]:
        """EC2 `operation` (e.g. "RunInstances") with `params`; an error whose code is in `ok` answers {}."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._once if once else self._retrying
        method = getattr(client, _snake(operation))
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in set(ok):
                return {}
            raise translate(error, region=self.region, zone=zone) from None

    def pages(self, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item under `key` of a paginated Describe call."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            paginator = self._retrying.get_paginator(_snake(operation))
            return [item for page in paginator.paginate(**params) for item in page.get(key, [])]
        except (ClientError, BotoCoreError) as error:
            raise translate(error, region=self.region) from None

    def parameter(self, name: str) -> str | None:
        """An SSM parameter's value, None when it does not exist in this region."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return str(self._ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in ("ParameterNotFound", "ParameterVersionNotFound"):
                return None
            raise translate(error, region=self.region) from None

    def zone_names(self) -> dict[str, str]:
        """Zone id -> zone name in this region (ids are the same for every account, names are not),
        asked once per process and endpoint."""
        key = (os.environ.get("AWS_ENDPOINT_URL", ""), self.region)
        with _ZONES_LOCK:
            known = _ZONES.get(key)
        if known is None:
            zones = self.call("DescribeAvailabilityZones", Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}])
            known = {z["ZoneId"]: z["ZoneName"] for z in zones.get("AvailabilityZones", [])}
            with _ZONES_LOCK:
                _ZONES[key] = known
        return dict(known)


def shared(region: str, timeout_s: float = 60.0) -> Ec2:
    """The `Ec2` of `region`, made once per process while the credentials and settings stay the same.

    Making one costs about half a CPU second (a boto3 session and three clients, each parsing its service
    model), and the server makes one for every status poll, stop and teardown of a cluster: a managed
    job's controller polling a few clusters spent most of its CPU there. boto3's clients are safe to share
    between threads. What boto3 reads to make them is the key: every `AWS_*` variable (credentials,
    profile, endpoint, region) and the config and credentials files' identity, so a changed key, profile or
    file gets new clients at once; credentials that expire (roles, SSO) refresh inside the session, and
    clients older than `_CLIENTS_TTL_S` are made again (a `credential_process` without an Expiration is
    static to boto3: its first answer would otherwise be used for the server's whole life).
    Every region's clients come from one boto3 session per key, which parses each service model once:
    another region's clients cost 0.05 CPU s instead of 0.45 (a failover walks many regions).
    """
    inputs = _boto_inputs()
    key = (region, timeout_s, inputs)
    now = time.monotonic()
    with _CLIENTS_LOCK:
        shared_session = _young(_SESSIONS, inputs, now)
        found = _young(_CLIENTS, key, now)
        if found is not None and shared_session is not None and found._session is shared_session[0]:
            return found
        if shared_session is None:
            shared_session = (_session(None), threading.Lock())
            _remember(_SESSIONS, inputs, (now, shared_session), _SESSIONS_MAX)
    # A boto3 session is not safe to make clients from in two threads at once; each session has its own lock,
    # so a slow credential_process or SSO login of one identity holds up no other.
    session, making = shared_session
    with making:
        made = Ec2(region, timeout_s, session)
    with _CLIENTS_LOCK:
        _remember(_CLIENTS, key, (now, made), _CLIENTS_MAX)
    return made


def _young(cache: OrderedDict[Any, tuple[float, Any]], key: Any, now: float) -> Any:
    """What `cache` holds for `key` if it is younger than `_CLIENTS_TTL_S`, else None."""
    found = cache.get(key)
    if found is None or now - found[0] >= _CLIENTS_TTL_S:
        return None
    cache.move_to_end(key)
    return found[1]


def _remember(cache: OrderedDict[Any, tuple[float, Any]], key: Any, entry: tuple[float, Any], most: int) -> None:
    cache[key] = entry
    cache.move_to_end(key)
    while len(cache) > most:
        cache.popitem(last=False)


def _boto_inputs() -> str:
    """A digest of what boto3 reads to build a session (held as a digest: the variables include secrets)."""
    digest = hashlib.sha256()
    for name, value in sorted(os.environ.items()):
        if name.startswith("AWS_"):
            digest.update(f"{name}={value}\0".encode())
    home = Path.home() / ".aws"
    for path in (os.environ.get("AWS_CONFIG_FILE") or home / "config", os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials"):
        try:
            stat = Path(path).expanduser().stat()
            digest.update(f"{path}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}\0".encode())
        except OSError:
            digest.update(f"{path}:-\0".encode())
    return digest.hexdigest()


def _snake(operation: str) -> str:
    """boto3's method name for an API operation (RunInstances -> run_instances)."""
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index and not operation[index - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def caller_identity() -> dict[str, Any]:
    """STS GetCallerIdentity: who the credentials are (the cheapest call that proves they work)."""
    from botocore.exceptions import BotoCoreError, ClientError

    session = _session(os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    try:
        return session.client("sts", config=_config(15.0, 2)).get_caller_identity()
    except (ClientError, BotoCoreError) as error:
        raise translate(error, region=session.region_name or "us-east-1") from None
