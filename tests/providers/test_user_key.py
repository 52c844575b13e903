"""The key pair skyhop logs in to cloud machines with: private, made once, one pair under concurrency."""

from __future__ import annotations

import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from skyhop.errors import SkyhopError
from skyhop.providers.keys import user_key


def test_the_key_is_made_once_and_private(isolated_home):
    first = user_key()
    assert first.public.startswith("ssh-ed25519 ") and first.public.endswith(" skyhop")
    assert stat.S_IMODE(first.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.private_path.parent.stat().st_mode) == 0o700
    assert user_key() == first
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(first.private_path)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == first.public.split()[:2], "the public line belongs to the private key"


def test_launches_starting_together_share_one_pair(isolated_home):
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: user_key(), range(8)))
    assert len({k.public for k in keys}) == 1
    assert not [p for p in keys[0].private_path.parent.iterdir() if p.name.startswith(".skyhop-key.")], "no temporary halves left"


def test_a_damaged_public_half_is_a_clear_error(isolated_home):
    key = user_key()
    key.private_path.with_suffix(".pub").write_text("garbage\n")
    with pytest.raises(SkyhopError, match="one OpenSSH public key line"):
        user_key()
