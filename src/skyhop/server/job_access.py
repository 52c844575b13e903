"""`api_server_access: true`: the API server's address and a token for a job, so it can launch nested work.

A job's token acts for the user who owns its cluster: what the job launches
is that user's (their `status`, their budget, they can cancel it). On a team
server it is a service token minted for that user with the scope
`{"acts_for", "workspace", "cluster", "launched_at"}`; `TeamTokens` refuses
(and revokes) it at its first use once that cluster is gone or is another
launch of the same name, so no sweep is needed. A single-user server hands
the job its own token (the machine owner's, whom the job runs as anyway); it
changes when the server restarts, so a job outliving its server loses access.

The values reach the job as secrets (job_spec's `secrets`): never in the
stored request, argv or logs; on the node they live in the agent's 0600
state like any task secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from skyhop.execution.unsupported import NotSupportedYet

if TYPE_CHECKING:
    from skyhop.server.middleware import Authenticator
    from skyhop.state.records import ClusterRecord

#: The variables a job with access gets: the URL under SkyPilot's and skyhop's client names, the token under both.
URL_NAMES = ("SKYPILOT_API_SERVER_ENDPOINT", "SKYHOP_API_SERVER_URL")
TOKEN_NAMES = ("SKYHOP_API_TOKEN", "SKYPILOT_SERVICE_ACCOUNT_TOKEN")

#: The token scope's keys that tie a job token to one launch of one cluster.
CLUSTER_KEY = "cluster"
LAUNCHED_AT_KEY = "launched_at"

Grant = Callable[["ClusterRecord"], dict[str, str]]


class NoAccessForJobs(NotSupportedYet):
    """`api_server_access: true` asked of a server that cannot hand its jobs a token or an address.

    A `NotSupportedYet`: a managed job fails at once (FAILED_PRECHECKS) instead of retrying the launch."""


class JobAccess:
    """Mints what a job with `api_server_access` is given; `url` is set once the server is bound (`bind`)."""

    def __init__(self, mint: Callable[[ClusterRecord], str] | None, public_url: str | None = None) -> None:
        self._mint = mint
        self._public_url = public_url.rstrip("/") if public_url else None
        self._bound_url: str | None = None

    def bind(self, host: str, port: int) -> None:
        """The address the server listens on; a wildcard address becomes loopback (what a local job can reach)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        self._bound_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def url(self) -> str | None:
        """`api_server.public_url` when set (jobs on remote hosts need it), else the bound address."""
        return self._public_url or self._bound_url

    def grant(self, record: ClusterRecord) -> dict[str, str]:
        """The environment for a job on `record`'s cluster: the server's URL and a token acting for the cluster's owner."""
        url = self.url
        if self._mint is None or url is None:
            raise NoAccessForJobs(
                "api_server_access: this API server cannot give jobs access to itself (it has no address or no way to make "
                "tokens for them); remove api_server_access or set it to false."
            )
        token = self._mint(record)
        return {**dict.fromkeys(URL_NAMES, url), **dict.fromkeys(TOKEN_NAMES, token)}


def for_authenticator(authenticator: Authenticator, public_url: str | None) -> JobAccess:
    """A team server mints a scoped service token per launch; a local one hands out its own token."""
    from skyhop.server.auth.tokens import TeamTokens
    from skyhop.server.middleware import LocalToken

    if isinstance(authenticator, TeamTokens):
        return JobAccess(authenticator.mint_for_job, public_url)
    if isinstance(authenticator, LocalToken):
        return JobAccess(lambda _record: authenticator.secret, public_url)
    return JobAccess(None, public_url)
