import os

import pytest

from leitstand.auth.yubico_otp import (
    NEVER_USED,
    YubicoOtpError,
    counter_of,
    public_id_of,
    verify_yubico_otp,
)
from tests.helpers.yubikey import SoftYubiKey


def verify(key: SoftYubiKey, otp: str, last_counter: int = NEVER_USED, **overrides) -> int:
    secrets = {"public_id": key.public_id, "private_id": key.private_id, "aes_key": key.aes_key}
    secrets.update(overrides)
    return verify_yubico_otp(otp, last_counter=last_counter, **secrets)


def refusal_reason(key: SoftYubiKey, otp: str, last_counter: int = NEVER_USED, **overrides) -> str:
    with pytest.raises(YubicoOtpError) as refused:
        verify(key, otp, last_counter, **overrides)
    return refused.value.reason


def tamper(otp: str, position: int) -> str:
    replacement = "c" if otp[position] != "c" else "b"
    return otp[:position] + replacement + otp[position + 1 :]


def test_valid_otp_is_accepted_and_returns_a_higher_counter():
    key = SoftYubiKey.generate()

    first = verify(key, key.otp())
    second = verify(key, key.otp(), last_counter=first)

    assert first > NEVER_USED
    assert second > first


def test_counter_keeps_rising_across_replugs():
    key = SoftYubiKey.generate()
    for _ in range(3):
        key.otp()
    before_replug = verify(key, key.otp())

    key.replug()
    after_replug = verify(key, key.otp(), last_counter=before_replug)

    assert after_replug > before_replug


def test_counter_of_combines_session_counter_and_use():
    assert counter_of(1, 0) == 256
    assert counter_of(2, 0) > counter_of(1, 255)
    with pytest.raises(ValueError):
        counter_of(1, 256)


def test_otp_is_accepted_in_upper_case_with_whitespace():
    key = SoftYubiKey.generate()

    assert verify(key, f"  {key.otp().upper()}\n") > NEVER_USED


def test_public_id_of_returns_the_first_twelve_characters():
    key = SoftYubiKey.generate()

    assert public_id_of(key.otp().upper()) == key.public_id


def test_replayed_otp_is_refused():
    key = SoftYubiKey.generate()
    otp = key.otp()
    counter = verify(key, otp)

    assert refusal_reason(key, otp, last_counter=counter) == "replayed"


def test_older_otp_after_newer_one_is_refused():
    key = SoftYubiKey.generate()
    older, newer = key.otp(), key.otp()
    counter = verify(key, newer)

    assert refusal_reason(key, older, last_counter=counter) == "replayed"


def test_wrong_aes_key_is_refused():
    key = SoftYubiKey.generate()

    # A wrong key yields noise, which fails the CRC except with chance 2**-16,
    # in which case the private id check catches it.
    assert refusal_reason(key, key.otp(), aes_key=os.urandom(16)) in {"checksum", "wrong_key"}


def test_wrong_private_id_is_refused():
    key = SoftYubiKey.generate()

    assert refusal_reason(key, key.otp(), private_id=os.urandom(6)) == "wrong_key"


def test_otp_for_another_public_id_is_refused():
    key = SoftYubiKey.generate()
    other = SoftYubiKey.generate()

    assert refusal_reason(key, key.otp(), public_id=other.public_id) == "wrong_key"


@pytest.mark.parametrize("position", [0, 11, 12, 30, 43])
def test_tampered_character_is_refused(position):
    key = SoftYubiKey.generate()

    reason = refusal_reason(key, tamper(key.otp(), position))

    assert reason in {"checksum", "wrong_key"}


@pytest.mark.parametrize(
    "otp",
    [
        "",
        "   ",
        "cccccccccccc",
        "c" * 43,
        "c" * 45,
        "a" * 44,  # 'a' is hex, not modhex
        "cccccccccccc" + "x" * 32,
        "ccccccccccc\u00e9" + "c" * 32,
    ],
)
def test_malformed_otp_is_refused(otp):
    key = SoftYubiKey.generate()

    assert refusal_reason(key, otp) == "malformed"
    with pytest.raises(YubicoOtpError):
        public_id_of(otp)


def test_non_string_otp_is_malformed():
    key = SoftYubiKey.generate()

    assert refusal_reason(key, None) == "malformed"


def test_misconfigured_secrets_raise_value_error_not_refusal():
    key = SoftYubiKey.generate()

    with pytest.raises(ValueError) as raised:
        verify(key, key.otp(), aes_key=b"short")
    assert not isinstance(raised.value, YubicoOtpError)
