"""Local verification of Yubico OTPs, without the Yubico cloud.

A Yubico OTP is 44 modhex characters: a 12-character *public id* followed by a
32-character *token*, which is one AES-128 block encrypted with the key's
secret AES key.  Modhex is hex spelled with the letters ``cbdefghijklnrtuv``,
chosen because they sit on the same keys in most keyboard layouts.

Terms:

public id
    Fixed, unencrypted prefix naming the key.  Used to look the key up; it is
    not a secret.
private id
    Six secret bytes inside the encrypted token.  Matching it proves the token
    was made by the key we think it was, not merely by someone holding the AES
    key of another slot.
session counter
    Non-volatile counter the key increments each time it is powered up
    (plugged in), and when the session use counter overflows.
session use
    Volatile counter incremented with every OTP emitted during one power-up;
    it restarts at zero on the next plug-in.

Together the two counters only ever increase, which is what makes replay
detection possible: the server remembers the highest counter it has accepted.
"""

import hmac

from yubiotp.modhex import is_modhex
from yubiotp.otp import CRCError, decode_otp

PUBLIC_ID_LENGTH = 12
TOKEN_LENGTH = 32
OTP_LENGTH = PUBLIC_ID_LENGTH + TOKEN_LENGTH
PRIVATE_ID_SIZE = 6
AES_KEY_SIZE = 16

# No stored counter can be lower than this, so it is the right `last_counter`
# for a key that has never been used: even counter_of(0, 0) beats it.
NEVER_USED = -1


class YubicoOtpError(ValueError):
    """An OTP was refused.

    ``reason`` is one of:

    * ``"malformed"`` – not 44 modhex characters, or undecodable;
    * ``"checksum"`` – the decrypted token fails its CRC: tampered with, or
      encrypted under a different AES key;
    * ``"wrong_key"`` – the token decrypts, but belongs to another key
      (different private id or public id);
    * ``"replayed"`` – the counter is not above the last accepted one.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _normalize(otp: str) -> str:
    """Return the OTP lower-cased and stripped, or raise "malformed"."""
    if not isinstance(otp, str):
        raise YubicoOtpError("malformed", "OTP must be a string")
    # Keyboards with caps lock on, or users pasting, produce upper case and
    # stray whitespace; neither changes the meaning of the OTP.
    normalized = "".join(otp.split()).lower()
    if len(normalized) != OTP_LENGTH:
        raise YubicoOtpError(
            "malformed", f"OTP must be {OTP_LENGTH} characters, got {len(normalized)}"
        )
    if not normalized.isascii() or not is_modhex(normalized.encode("ascii")):
        raise YubicoOtpError("malformed", "OTP contains non-modhex characters")
    return normalized


def public_id_of(otp: str) -> str:
    """Return the (lower-case) public id of `otp`, to look up its key."""
    return _normalize(otp)[:PUBLIC_ID_LENGTH]


def counter_of(session_counter: int, session_use: int) -> int:
    """Combine both counters into one number that only ever increases."""
    if not 0 <= session_use <= 0xFF:
        raise ValueError("session_use must fit in one byte")
    if session_counter < 0:
        raise ValueError("session_counter must not be negative")
    return (session_counter << 8) | session_use


def verify_yubico_otp(
    otp: str,
    *,
    public_id: str,
    private_id: bytes,
    aes_key: bytes,
    last_counter: int,
) -> int:
    """Verify `otp` against one key's secrets and return its combined counter.

    `last_counter` is the counter returned by the last accepted OTP of this key
    (``NEVER_USED`` if none).  The caller must store the returned value, or
    the same OTP will be accepted again.

    Raises YubicoOtpError if the OTP is refused, and plain ValueError if the
    stored secrets have the wrong size (a configuration error, not a bad OTP).
    """
    if len(private_id) != PRIVATE_ID_SIZE:
        raise ValueError(f"private_id must be {PRIVATE_ID_SIZE} bytes")
    if len(aes_key) != AES_KEY_SIZE:
        raise ValueError(f"aes_key must be {AES_KEY_SIZE} bytes")

    normalized = _normalize(otp)
    try:
        otp_public_id, decoded = decode_otp(normalized.encode("ascii"), aes_key)
    except CRCError as exc:
        raise YubicoOtpError(
            "checksum", "OTP checksum mismatch: tampered, or not made with this key's AES key"
        ) from exc
    except ValueError as exc:
        raise YubicoOtpError("malformed", f"OTP could not be decoded: {exc}") from exc

    # Constant-time, because the private id is a secret.
    if not hmac.compare_digest(decoded.uid, private_id):
        raise YubicoOtpError("wrong_key", "OTP was made by a different key (private id mismatch)")
    if otp_public_id.decode("ascii") != public_id.lower():
        raise YubicoOtpError("wrong_key", "OTP public id does not match this key")

    # The token's timestamp is deliberately not checked: it restarts at a
    # random value on every plug-in, so the counter is the only reliable
    # freshness signal.
    counter = counter_of(decoded.session, decoded.counter)
    if counter <= last_counter:
        raise YubicoOtpError(
            "replayed", f"OTP counter {counter} is not above the last accepted {last_counter}"
        )
    return counter
