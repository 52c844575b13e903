"""Users, their API tokens, workspaces and memberships (tables of revision 0009): team mode's identity.

A token is `shp_<kind><id12>_<secret>`: `kind` is `u` (personal), `s`
(service: a job's API access) or `d` (a dashboard session); `id12` is 60
random bits in base32 and the row's primary key, so `tokens revoke ID` needs
no secret; the secret is `secrets.token_urlsafe(24)` (192 bits). The row
keeps only HMAC-SHA256(pepper, token) (`state/pepper.py`): the token is shown
once, at creation. A 192-bit random secret cannot be guessed, so a slow
password hash (bcrypt: 50-250 ms) would only cost that much CPU on every API
call; HMAC is a microsecond.

`authenticate` reads the token's row, its user and the user's memberships in
one query by primary key at every call (no cache), so a revoked token, an
expired one or a disabled user's is refused on the very next request.
`last_used_at` is written at most once a minute per token, so reads do not
all become writes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from skyhop.errors import ConflictError, NotFoundError
from skyhop.state.errors import StateError
from skyhop.state.models import Membership, Token, User, Workspace
from skyhop.state.store import StateStore, _record

#: A user id or workspace name: lower case, as it appears in listings, paths and logs.
NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
ROLES = ("admin", "user", "viewer")
USER_KINDS = ("human", "service")
MEMBER_ROLES = ("admin", "member", "viewer")
#: Token kinds and their letter inside the token.
TOKEN_KINDS = {"personal": "u", "service": "s", "dashboard": "d"}
_KIND_OF_LETTER = {letter: kind for kind, letter in TOKEN_KINDS.items()}
PREFIX = "shp_"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_TOKEN = re.compile(r"shp_([usd])([a-z2-7]{12})_([A-Za-z0-9_-]{32})")
DEFAULT_WORKSPACE = "default"
#: `last_used_at` is rewritten once this many seconds have passed since it was.
TOUCH_EVERY_S = 60.0
#: The bootstrap admin's user id.
BOOTSTRAP_ADMIN = "admin"


class InvalidName(StateError):
    """A user id, workspace name or role that the rules refuse."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    display_name: str | None
    role: str
    kind: str
    created_at: float
    created_by: str | None
    disabled_at: float | None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: never its hash nor its secret."""

    id: str
    user_id: str
    kind: str
    name: str | None
    scope: dict[str, Any] | None
    created_at: float
    last_used_at: float | None
    expires_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A minted token: `secret` is the whole token, shown once and never stored."""

    record: TokenRecord
    secret: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who presented a valid token: the token, its user's id, role and kind, and the user's workspaces."""

    token: TokenRecord
    user: str
    role: str
    user_kind: str
    workspaces: frozenset[str]


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    name: str
    description: str | None
    created_at: float
    members: tuple[tuple[str, str], ...]  # (user id, role), by user id


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        shown = repr(value[:80]) if isinstance(value, str) else type(value).__name__
        raise InvalidName(f"{what} {shown} is not valid: 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.")
    return value


def _check_choice(value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise InvalidName(f"{what} {value!r} is not one of {', '.join(choices)}.")
    return value


def _token_id() -> str:
    bits = secrets.randbits(60)
    return "".join(_BASE32[(bits >> shift) & 31] for shift in range(55, -1, -5))


class Users:
    """Reads and writes of users, tokens and workspaces (see the module doc).

    `pepper` keys the tokens' hashes; None loads the server's (`state/pepper.py`) on first need.
    """

    def __init__(self, store: StateStore, pepper: bytes | None = None) -> None:
        self._store = store
        self._pepper = pepper

    def _digest(self, token: str) -> bytes:
        if self._pepper is None:
            from skyhop.state import pepper

            self._pepper = pepper.load()
        return hmac.new(self._pepper, token.encode(), hashlib.sha256).digest()

    # --- users ---------------------------------------------------------------

    def create_user(self, user_id: str, *, role: str = "user", kind: str = "human", display_name: str | None = None,
                    created_by: str | None = None) -> UserRecord:
        """A new user, member of the `default` workspace; ConflictError when the id is taken."""
        check_name(user_id, "User id")
        _check_choice(role, ROLES, "Role")
        _check_choice(kind, USER_KINDS, "User kind")
        try:
            with self._store._write() as session:
                if session.get(User, user_id) is not None:
                    raise ConflictError(f"User {user_id!r} already exists.")
                row = User(id=user_id, display_name=display_name, role=role, kind=kind, created_at=time.time(), created_by=created_by,
                           disabled_at=None)
                session.add(row)
                session.flush()  # the user before its membership (no ORM relationship orders them)
                session.add(Membership(workspace=DEFAULT_WORKSPACE, user_id=user_id, role="member"))
                session.flush()
                return _record(row, UserRecord)
        except IntegrityError as error:  # PostgreSQL: created at the same moment by another process
            raise ConflictError(f"User {user_id!r} already exists.") from error

    def get_user(self, user_id: str) -> UserRecord | None:
        with self._store._read() as session:
            row = session.get(User, user_id)
            return None if row is None else _record(row, UserRecord)

    def list_users(self) -> list[UserRecord]:
        with self._store._read() as session:
            return [_record(row, UserRecord) for row in session.scalars(select(User).order_by(User.id))]

    def set_role(self, user_id: str, role: str) -> UserRecord:
        """Change a user's role; the last enabled admin cannot stop being one (nobody could then manage users)."""
        _check_choice(role, ROLES, "Role")
        return self._change_user(user_id, lambda row: setattr(row, "role", role), demotes=role != "admin")

    def disable(self, user_id: str) -> UserRecord:
        """Refuse the user's tokens from now on (idempotent); the row stays, so what they own keeps its owner."""
        def disable_row(row: User) -> None:
            if row.disabled_at is None:
                row.disabled_at = time.time()

        return self._change_user(user_id, disable_row, demotes=True)

    def enable(self, user_id: str) -> UserRecord:
        """Undo `disable` (idempotent): the user's unrevoked, unexpired tokens are accepted again."""
        def enable_row(row: User) -> None:
            row.disabled_at = None

        return self._change_user(user_id, enable_row, demotes=False)

    def _change_user(self, user_id: str, change: Callable[[User], None], *, demotes: bool) -> UserRecord:
        with self._store._write() as session:
            row = session.get(User, user_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"User {user_id!r} does not exist.")
            if demotes and row.role == "admin" and row.disabled_at is None:
                others = session.scalars(select(User.id).where(
                    User.role == "admin", User.disabled_at.is_(None), User.id != user_id).with_for_update()).all()
                if not others:
                    raise ConflictError(f"{user_id!r} is the only enabled admin; make another user admin first.")
            change(row)
            session.flush()
            return _record(row, UserRecord)

    def bootstrap_admin(self, *, force: bool = False) -> NewToken | None:
        """With no enabled admin (or with `force`), make user `admin` one (creating or re-enabling it) and mint its
        token; None when there is an admin and no `force`.

        A team server calls this at every start: the first start prints the token
        once, and a database whose admins were all lost gets one back by a
        restart; `force` (`--new-admin-token`) is for a bootstrap token that was
        lost (whoever can start the server on its database owns it anyway).
        """
        try:
            with self._store._write() as session:
                admins = select(User.id).where(User.role == "admin", User.disabled_at.is_(None)).limit(1).with_for_update()
                if not force and session.scalar(admins) is not None:
                    return None
                row = session.get(User, BOOTSTRAP_ADMIN, with_for_update=True)
                if row is None:
                    session.add(User(id=BOOTSTRAP_ADMIN, display_name=None, role="admin", kind="human", created_at=time.time(),
                                     created_by=None, disabled_at=None))
                    session.flush()
                    session.add(Membership(workspace=DEFAULT_WORKSPACE, user_id=BOOTSTRAP_ADMIN, role="admin"))
                elif not force and row.role == "admin" and row.disabled_at is None:
                    return None  # made by another process between the two reads (PostgreSQL reads committed rows per statement)
                else:
                    row.role, row.disabled_at = "admin", None
        except IntegrityError:  # another server process bootstrapped at the same moment
            return None
        return self.mint(BOOTSTRAP_ADMIN, name="bootstrap")

    # --- tokens --------------------------------------------------------------

    def mint(self, user_id: str, *, kind: str = "personal", name: str | None = None, expires_at: float | None = None,
             scope: dict[str, Any] | None = None) -> NewToken:
        """A new token of an enabled user; the answer's `secret` is the only copy of the token."""
        letter = TOKEN_KINDS.get(kind)
        if letter is None:
            raise InvalidName(f"Token kind {kind!r} is not one of {', '.join(TOKEN_KINDS)}.")
        token_id = _token_id()
        secret = f"{PREFIX}{letter}{token_id}_{secrets.token_urlsafe(24)}"
        with self._store._write() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"User {user_id!r} does not exist.")
            if user.disabled_at is not None:
                raise ConflictError(f"User {user_id!r} is disabled; its tokens would be refused.")
            row = Token(id=token_id, user_id=user_id, kind=kind, name=name, hash=self._digest(secret), scope=scope, created_at=time.time(),
                        last_used_at=None, expires_at=expires_at, revoked_at=None)
            session.add(row)
            session.flush()
            return NewToken(_record(row, TokenRecord), secret)

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self._store._read() as session:
            row = session.get(Token, token_id)
            return None if row is None else _record(row, TokenRecord)

    def list_tokens(self, user_id: str | None = None) -> list[TokenRecord]:
        """Tokens of one user (None: everyone's), oldest first; revoked ones too (they say when)."""
        query = select(Token).order_by(Token.created_at, Token.id)
        if user_id is not None:
            query = query.where(Token.user_id == user_id)
        with self._store._read() as session:
            return [_record(row, TokenRecord) for row in session.scalars(query)]

    def revoke(self, token_id: str) -> TokenRecord:
        """Refuse the token from now on; revoking it again keeps the first time. NotFoundError for an unknown id."""
        now = time.time()
        with self._store._write() as session:
            session.execute(update(Token).where(Token.id == token_id, Token.revoked_at.is_(None)).values(revoked_at=now))
            row = session.get(Token, token_id)
            if row is None:
                raise NotFoundError(f"Token {token_id!r} does not exist.")
            return _record(row, TokenRecord)

    def authenticate(self, token: str) -> Authenticated | None:
        """The holder of a presented token, or None: malformed, unknown, revoked, expired, or of a disabled user.

        One query by the token's primary key (the id inside it) joining its user and memberships, then a
        constant-time comparison of the keyed hash, so the answer's timing says nothing about the secret.
        """
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        letter, token_id, _ = match.groups()
        digest = self._digest(token)
        t, u, m = Token.__table__.c, User.__table__.c, Membership.__table__.c
        query = (
            select(t.id, t.user_id, t.kind, t.name, t.hash, t.scope, t.created_at, t.last_used_at, t.expires_at, t.revoked_at,
                   u.role, u.kind.label("user_kind"), u.disabled_at, m.workspace)
            .select_from(Token.__table__.join(User.__table__, u.id == t.user_id).outerjoin(Membership.__table__, m.user_id == u.id))
            .where(t.id == token_id)
        )
        with self._store._engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return None
        row = rows[0]
        now = time.time()
        if not hmac.compare_digest(bytes(row.hash), digest) or _KIND_OF_LETTER[letter] != row.kind:
            return None
        if row.revoked_at is not None or row.disabled_at is not None or (row.expires_at is not None and row.expires_at <= now):
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY_S:
            self._touch(token_id, now)
        record = TokenRecord(id=row.id, user_id=row.user_id, kind=row.kind, name=row.name, scope=row.scope, created_at=row.created_at,
                             last_used_at=row.last_used_at, expires_at=row.expires_at, revoked_at=None)
        workspaces = frozenset(r.workspace for r in rows if r.workspace is not None)
        return Authenticated(record, row.user_id, row.role, row.user_kind, workspaces)

    def _touch(self, token_id: str, now: float) -> None:
        """One conditional UPDATE: of several processes seeing the same stale time, one writes."""
        try:
            with self._store._write() as session:
                session.execute(update(Token).where(
                    Token.id == token_id, or_(Token.last_used_at.is_(None), Token.last_used_at <= now - TOUCH_EVERY_S)).values(last_used_at=now))
        except DBAPIError:  # a busy database must not refuse a valid token: the time is bookkeeping
            pass

    # --- workspaces ----------------------------------------------------------

    def create_workspace(self, name: str, description: str | None = None) -> WorkspaceRecord:
        check_name(name, "Workspace name")
        try:
            with self._store._write() as session:
                if session.get(Workspace, name) is not None:
                    raise ConflictError(f"Workspace {name!r} already exists.")
                row = Workspace(name=name, description=description, created_at=time.time())
                session.add(row)
                session.flush()
                return WorkspaceRecord(row.name, row.description, row.created_at, ())
        except IntegrityError as error:
            raise ConflictError(f"Workspace {name!r} already exists.") from error

    def list_workspaces(self, member: str | None = None) -> list[WorkspaceRecord]:
        """Every workspace with its members, by name; with `member`, only those that user belongs to."""
        with self._store._read() as session:
            rows = session.scalars(select(Workspace).order_by(Workspace.name)).all()
            members: dict[str, list[tuple[str, str]]] = {}
            for m in session.scalars(select(Membership).order_by(Membership.user_id)):
                members.setdefault(m.workspace, []).append((m.user_id, m.role))
        return [WorkspaceRecord(r.name, r.description, r.created_at, tuple(members.get(r.name, ())))
                for r in rows if member is None or any(user == member for user, _ in members.get(r.name, ()))]

    def delete_workspace(self, name: str) -> None:
        if name == DEFAULT_WORKSPACE:
            raise ConflictError(f"Workspace {DEFAULT_WORKSPACE!r} cannot be deleted: it holds everything not put elsewhere.")
        with self._store._write() as session:
            session.execute(delete(Membership).where(Membership.workspace == name))
            if session.execute(delete(Workspace).where(Workspace.name == name)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"Workspace {name!r} does not exist.")

    def add_member(self, workspace: str, user_id: str, role: str = "member") -> None:
        """Add a user to a workspace, or change their role in it."""
        _check_choice(role, MEMBER_ROLES, "Workspace role")
        try:
            with self._store._write() as session:
                if session.get(Workspace, workspace) is None:
                    raise NotFoundError(f"Workspace {workspace!r} does not exist.")
                if session.get(User, user_id) is None:
                    raise NotFoundError(f"User {user_id!r} does not exist.")
                row = session.get(Membership, (workspace, user_id), with_for_update=True)
                if row is None:
                    session.add(Membership(workspace=workspace, user_id=user_id, role=role))
                else:
                    row.role = role
        except IntegrityError:  # added at the same moment by another process: it is a member now
            pass

    def remove_member(self, workspace: str, user_id: str) -> None:
        with self._store._write() as session:
            if session.execute(delete(Membership).where(Membership.workspace == workspace, Membership.user_id == user_id)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"User {user_id!r} is not a member of workspace {workspace!r}.")

    def memberships(self, user_id: str) -> dict[str, str]:
        """The workspaces a user belongs to, with their role in each."""
        with self._store._read() as session:
            return {m.workspace: m.role for m in session.scalars(select(Membership).where(Membership.user_id == user_id))}
