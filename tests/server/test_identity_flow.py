"""Who a request acts for comes from its token, passed down as a Principal, never from the server process.

`identity.current_user()` answers "the Unix user this process runs as": on a team server that is the
server's own account, so any call of it where requests are served or executed would act for the wrong
user. This test fails on such a call, wherever someone adds one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skyhop.errors import ForbiddenError, NotFoundError
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal, Role, local

SRC = Path(__file__).resolve().parents[2] / "src" / "skyhop"
SERVED = [SRC / "server", SRC / "execution", SRC / "serve", SRC / "jobs"]


def test_no_server_side_code_asks_the_process_for_its_user():
    offenders = []
    for root in SERVED:
        for path in root.rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"\bcurrent_user\(|\brequester\(|getpass\.getuser\(", line):
                    offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    # The one allowed place: a local server's start names its single user (server/__main__.py).
    offenders = [o for o in offenders if not o.startswith("server/__main__.py:")]
    assert offenders == [], "act for the request's Principal (server/auth/principal.py), not the process's user:\n" + "\n".join(offenders)


ALICE = Principal(user="alice", role=Role.USER)
VIEWER = Principal(user="fin", role=Role.VIEWER)
ADMIN = Principal(user="root", role=Role.ADMIN)


@pytest.mark.parametrize(
    ("caller", "owner", "read", "write"),
    [
        (ALICE, "alice", True, True),
        (ALICE, "bob", False, False),
        (ALICE, None, False, False),
        (VIEWER, "bob", True, False),
        (VIEWER, "fin", True, False),
        (ADMIN, "bob", True, True),
        (local("me"), "other", True, True),
    ],
)
def test_who_reads_and_writes_what(caller, owner, read, write):
    assert policy.can_read(caller, owner) is read
    assert policy.can_write(caller, owner) is write


def test_another_users_object_is_missing_and_a_viewer_cannot_change_what_it_sees():
    with pytest.raises(NotFoundError, match="Cluster 'x' does not exist"):
        policy.require_write(ALICE, "bob", "Cluster 'x'")
    with pytest.raises(ForbiddenError, match="viewer"):
        policy.require_write(VIEWER, "bob", "Cluster 'x'")
    policy.require_write(ADMIN, "bob", "Cluster 'x'")


def test_every_users_listing_needs_a_role_that_sees_all():
    assert policy.owners(ALICE, all_users=False) == ["alice"]
    with pytest.raises(ForbiddenError, match="-u/--all-users needs the admin or viewer role"):
        policy.owners(ALICE, all_users=True)
    assert policy.owners(VIEWER, all_users=True) is None
    with pytest.raises(ForbiddenError):
        policy.require_writer(VIEWER)
    with pytest.raises(ForbiddenError, match="admin"):
        policy.require_admin(ALICE, "Adding hosts to a node pool")
