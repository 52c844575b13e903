"""Another local user can neither read nor replace the key skyhop logs in to cloud machines with."""

from __future__ import annotations

from skyhop.providers.keys import user_key


def test_another_user_cannot_read_or_swap_the_key(isolated_home, second_user):
    key = user_key()
    read = second_user.run(["cat", str(key.private_path)])
    assert read.returncode != 0 and "PRIVATE KEY" not in read.stdout
    swap = second_user.run(["sh", "-c", 'echo "ssh-ed25519 AAAA mallory" > "$1"', "sh", str(key.private_path.with_suffix(".pub"))])
    assert swap.returncode != 0
    assert user_key() == key
