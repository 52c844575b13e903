"""Dashboard sessions: a signed cookie (HMAC-SHA256 with a per-install key file), and one-time login codes.

Why a signed cookie and not a session table or a per-process dict: a team
server runs several processes behind one port, and a browser's next request
may land on any of them. Every process on the host reads the same key file
(`SKYHOP_HOME/api/dashboard.key`, 0600, created once with an atomic link), so
each can check any cookie without a database round trip and without state to
share. The cookie holds the caller's identity (user, role, workspaces, the id
of the token it logged in with), an expiry and the session's CSRF value; never
the API token. An authenticator that can re-check a token by its id (team
mode: revoked? user disabled? role changed?) does so on every page through
`session_principal` (see `gate.py`), so a revoked token's sessions end at once.

One-time codes (`skyhop dashboard`): a random code in the URL, valid
`CODE_S` seconds and usable once, so the local token itself never appears in
a URL or the browser's history. A code is a 0600 file named by the code's
SHA-256 in a 0700 directory: redeeming it is an unlink, which exactly one
process on the host wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from skyhop.server.auth.principal import Principal, Role

COOKIE = "skyhop_session"
SESSION_S = 12 * 3600
CODE_S = 60.0
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Session:
    """A verified dashboard session: who, the CSRF value its forms must echo, until when."""

    principal: Principal
    csrf: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(principal: Principal) -> dict:
    return {"u": principal.user, "r": principal.role.value, "w": principal.workspace, "ws": sorted(principal.workspaces),
            "t": principal.token_id, "a": principal.acts_for}


def _principal(claims: dict) -> Principal:
    return Principal(user=str(claims["u"]), role=Role(claims["r"]), workspace=str(claims["w"]), workspaces=frozenset(map(str, claims["ws"])),
                     token_id=claims.get("t"), acts_for=claims.get("a"))


class Sessions:
    """Issues and checks session cookies and login codes for one install (`directory`: the server's api dir)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._key: bytes | None = None

    @property
    def key_file(self) -> Path:
        return self._directory / "dashboard.key"

    @property
    def codes_dir(self) -> Path:
        return self._directory / "dashboard-codes"

    def _signing_key(self) -> bytes:
        """The install's key: read, or made once (written to a private temporary file, then linked into
        place, so a concurrent process never reads a half-written key; the loser of the race reads the winner's)."""
        if self._key is None:
            path = self.key_file
            if not path.exists():
                self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                tmp = path.with_name(f".dashboard.key.{os.getpid()}.{secrets.token_hex(4)}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(_KEY_BYTES))
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            key = path.read_bytes()
            if len(key) < _KEY_BYTES:
                raise ValueError(f"{path} is not a dashboard key ({len(key)} bytes); remove it and restart the server.")
            self._key = key
        return self._key

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._signing_key(), payload.encode("ascii"), hashlib.sha256).digest())

    def issue(self, principal: Principal, now: float | None = None) -> tuple[str, Session]:
        """A new session for `principal`: (the cookie's value, the session)."""
        now = time.time() if now is None else now
        session = Session(principal, secrets.token_urlsafe(24), now + SESSION_S)
        claims = {**_claims(principal), "c": session.csrf, "e": session.expires_at}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", session

    def verify(self, value: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value carries, or None: absent, forged, altered, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        try:
            if not hmac.compare_digest(signature.encode("ascii"), self._sign(payload).encode("ascii")):
                return None
            claims = json.loads(_unb64(payload))
            session = Session(_principal(claims), str(claims["c"]), float(claims["e"]))
        except (ValueError, KeyError, TypeError, UnicodeError):
            return None
        return session if session.expires_at > (time.time() if now is None else now) else None

    # --- one-time login codes --------------------------------------------------------------

    def _code_path(self, code: str) -> Path:
        return self.codes_dir / hashlib.sha256(code.encode()).hexdigest()

    def new_code(self, principal: Principal) -> str:
        """A code that logs its first user in as `principal` within `CODE_S` seconds; stale codes are swept."""
        self.codes_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep()
        code = secrets.token_urlsafe(24)
        fd = os.open(self._code_path(code), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(_claims(principal), f)
        return code

    def redeem(self, code: str, now: float | None = None) -> Principal | None:
        """The code's principal, once: the process whose unlink succeeds wins; None when unknown, used or stale."""
        if not code or len(code) > 100:
            return None
        path = self._code_path(code)
        try:
            made = path.stat().st_mtime
            claims = json.loads(path.read_text())
            path.unlink()
        except (OSError, ValueError):
            return None
        if (time.time() if now is None else now) - made > CODE_S:
            return None
        try:
            return _principal(claims)
        except (ValueError, KeyError, TypeError):
            return None

    def _sweep(self) -> None:
        cutoff = time.time() - CODE_S
        for entry in self.codes_dir.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except OSError:
                pass
