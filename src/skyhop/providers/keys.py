"""The SSH key pair skyhop logs in to cloud machines with.

Clouds put one public key on a new machine (AWS's key pair, GCP's `ssh-keys`
metadata, Lambda's and RunPod's account keys); the private half never leaves
this machine. One pair per `SKYHOP_HOME`, made on first use with
`ssh-keygen` in `SKYHOP_HOME/ssh/` (directory 0700, private key 0600), so a
second Unix user can neither read it nor swap it. The pair is generated under
a lock, so launches starting together on a new home all use one pair.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop.providers.ssh.runner import ssh_dir

KEY_NAME = "skyhop-key"


@dataclass(frozen=True)
class UserKey:
    """Where the private half is, and the public line a cloud installs (`ssh-ed25519 AAAA… skyhop`)."""

    private_path: Path
    public: str


def user_key() -> UserKey:
    """This installation's key pair, created on first use."""
    directory = ssh_dir()
    private = directory / KEY_NAME
    public = directory / f"{KEY_NAME}.pub"
    if not (private.exists() and public.exists()):
        with open(directory / ".keygen.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (private.exists() and public.exists()):
                _generate(private, public)
    paths.require_own(private)
    if private.stat().st_mode & 0o077:
        private.chmod(0o600)
    line = public.read_text(encoding="utf-8").strip()
    if not line.startswith("ssh-") or "\n" in line:
        raise SkyhopError(f"{public} does not hold one OpenSSH public key line; remove {private} and {public} to make a new pair.")
    return UserKey(private, line)


def _generate(private: Path, public: Path) -> None:
    tmp = private.with_name(f".{KEY_NAME}.{secrets.token_hex(6)}")
    try:
        done = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "skyhop", "-f", str(tmp)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SkyhopError("ssh-keygen (OpenSSH) is not installed; skyhop needs it to make the key it logs in to cloud machines with.") from None
    try:
        if done.returncode != 0:
            raise SkyhopError(f"ssh-keygen failed making {private}: {done.stderr.strip()[-300:]}")
        os.chmod(tmp, 0o600)
        os.replace(f"{tmp}.pub", public)  # a half left by a crash is replaced whole
        os.replace(tmp, private)
    finally:
        for leftover in (tmp, Path(f"{tmp}.pub")):
            leftover.unlink(missing_ok=True)
