"""How passwords are stored (ASVS 2.4): argon2id with a salt of its own for every hash."""

from __future__ import annotations

import base64

from argon2 import Type, extract_parameters

from leitstand.accounts.models import User
from leitstand.auth.secrets import PASSWORD_HASHING, hash_password


def salt_of(password_hash: str) -> bytes:
    """The salt of an argon2 hash string: `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`, unpadded base64."""
    encoded = password_hash.split("$")[4]
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def test_two_users_with_the_same_password_get_different_hashes_and_salts(world) -> None:
    reader, admin = world.users["alpha_reader"], world.users["alpha_admin"]
    world.db.refresh(reader)
    world.db.refresh(admin)
    assert isinstance(reader, User) and reader.password_hash and admin.password_hash

    assert reader.password_hash != admin.password_hash  # both were set to the test password
    assert salt_of(reader.password_hash) != salt_of(admin.password_hash)
    assert len(salt_of(reader.password_hash)) * 8 >= 32  # ASVS 2.4.2: at least 32 bits, even in the cheap test cost


def test_hashing_one_password_twice_draws_a_new_salt_each_time() -> None:
    first, second = hash_password("the same passphrase"), hash_password("the same passphrase")

    assert salt_of(first) != salt_of(second)


def test_production_hashing_is_argon2id_with_a_128_bit_salt_and_owasp_cost() -> None:
    """ASVS 2.4.1/2.4.2: the installation's hasher; the test suite swaps in argon2's cheapest cost."""
    assert PASSWORD_HASHING.type is Type.ID
    assert PASSWORD_HASHING.salt_len >= 16
    # OWASP's argon2id minimum: 19 MiB with 2 passes, or more memory (KiB here) with fewer.
    assert PASSWORD_HASHING.memory_cost >= 19 * 1024 and PASSWORD_HASHING.time_cost >= 2
    assert extract_parameters(hash_password("x" * 12)).type is Type.ID


def test_a_recovery_code_digest_needs_the_installation_secret_and_differs_per_owner() -> None:
    """ASVS 2.6.2/2.6.3: a ~49-bit recovery code is stored as an HMAC under a key derived from the
    installation's secret, salted by its owner: a database copy alone cannot be searched offline."""
    from leitstand.auth.secrets import SecretBox

    here, elsewhere = SecretBox("this installation"), SecretBox("another installation")

    assert here.keyed_digest("recovery-code:1", "ABCDEFGHJK") == here.keyed_digest("recovery-code:1", "ABCDEFGHJK")
    assert here.keyed_digest("recovery-code:1", "ABCDEFGHJK") != here.keyed_digest("recovery-code:2", "ABCDEFGHJK")
    assert here.keyed_digest("recovery-code:1", "ABCDEFGHJK") != elsewhere.keyed_digest("recovery-code:1", "ABCDEFGHJK")
