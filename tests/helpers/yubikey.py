"""A software YubiKey emitting Yubico OTPs, for tests."""

import os
import secrets

from yubiotp.modhex import modhex
from yubiotp.otp import OTP, encode_otp

# A real YubiKey's session counter stops here (15 bits).
MAX_SESSION_COUNTER = 0x7FFF


class SoftYubiKey:
    """Emits successive valid OTPs for one public id / private id / AES key.

    Like the hardware, `session_counter` starts at 1 (first plug-in) and
    `session_use` counts OTPs within the current plug-in.
    """

    def __init__(self, public_id: str, private_id: bytes, aes_key: bytes) -> None:
        self.public_id = public_id
        self.private_id = private_id
        self.aes_key = aes_key
        self.session_counter = 1
        self.session_use = 0
        # The hardware's 8 Hz timer starts at a random value on each plug-in.
        self._timestamp = secrets.randbelow(0x1000000)

    @classmethod
    def generate(cls) -> "SoftYubiKey":
        """A key with a random public id, private id and AES key."""
        return cls(
            public_id=modhex(os.urandom(6)).decode("ascii"),
            private_id=os.urandom(6),
            aes_key=os.urandom(16),
        )

    def otp(self) -> str:
        """Press the button: return the next OTP."""
        token = OTP(
            self.private_id,
            self.session_counter,
            self._timestamp,
            self.session_use,
            secrets.randbelow(0x10000),
        )
        otp = encode_otp(token, self.aes_key, self.public_id.encode("ascii")).decode("ascii")
        self._advance()
        return otp

    def replug(self) -> None:
        """Simulate unplugging and re-inserting the key."""
        self.session_counter = min(self.session_counter + 1, MAX_SESSION_COUNTER)
        self.session_use = 0
        self._timestamp = secrets.randbelow(0x1000000)

    def _advance(self) -> None:
        self._timestamp = (self._timestamp + 8) & 0xFFFFFF
        if self.session_use == 0xFF:
            # The use counter is one byte; on overflow the hardware bumps the
            # session counter instead, keeping the combined counter rising.
            self.session_counter = min(self.session_counter + 1, MAX_SESSION_COUNTER)
            self.session_use = 0
        else:
            self.session_use += 1
