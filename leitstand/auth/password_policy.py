"""The one rule for new passwords (OWASP ASVS 4.0, V2.1), for every way a password is set:
`/me/password`, reset and invitation links, `leitstand user create`, the demo seed.

A password is refused when it
- has fewer than MIN_LENGTH characters, where a run of spaces counts as one (ASVS 2.1.1), or more
  than MAX_LENGTH (ASVS 2.1.2: 64 must be allowed, above 128 may be refused); passphrases welcome,
- is a common or breached password, or a small variation of one, or
- is the account's e-mail address (or the part before the @).

There are no composition rules (ASVS 2.1.9). "Common or breached" is zxcvbn's estimate
against the lists it ships (30 000 passwords from breach corpora, English words, names,
keyboard walks, with l33t, reversed, repeated and date variants): fewer than
MIN_GUESSES guesses is refused. The lists are part of the package, so nothing is looked
up over the network.

Each refusal has a stable code, which API clients (and the portal, which translates it)
tell apart; the message is English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leitstand.i18n import Message, Refusal

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn's "score 3" line: safely unguessable against online guessing, and costly offline.
MIN_GUESSES = 10**8
# zxcvbn's own limit; its matching grows fast with length. A longer password is judged by its start.
_JUDGED_LENGTH = 72


class PasswordRefused(Refusal):
    """A new password breaks the rule. `code` is stable; the message is safe to show."""

    def __init__(self, code: str, text: str | Message) -> None:
        super().__init__(text)
        self.code = code


@dataclass(frozen=True)
class PasswordRule:
    """What the portal shows next to a new-password field."""

    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH


RULE = PasswordRule()


def check_length(password: str) -> None:
    """The part of the rule a request schema checks by itself (leitstand.web.types.NewPassword)."""
    if len(password) < MIN_LENGTH:
        raise PasswordRefused("password-too-short", Message("Use at least %(count)s characters.", count=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise PasswordRefused("password-too-long", Message("Use at most %(count)s characters.", count=MAX_LENGTH))


def check_new_password(password: str, email: str = "") -> None:
    """Raise PasswordRefused if `password` may not become the password of the account `email`."""
    check_length(password)
    # Here rather than in check_length: the request schema can state a plain minLength, not this.
    if len(re.sub(r" {2,}", " ", password)) < MIN_LENGTH:
        raise PasswordRefused("password-too-short", Message(
            "Use at least %(count)s characters; several spaces in a row count as one.", count=MIN_LENGTH))
    folded = password.strip().casefold()
    address = email.strip().casefold()
    if address and folded in {address, address.partition("@")[0]}:
        raise PasswordRefused("password-is-email", "The password must not be your e-mail address.")
    # Imported here: its word lists take tens of MB, which the ingest workers (they import the
    # users' domain, not its password rule) need not hold.
    from zxcvbn import zxcvbn

    # No user_inputs: zxcvbn keeps them in a module-level dictionary, which concurrent requests would share.
    if zxcvbn(password[:_JUDGED_LENGTH])["guesses"] < MIN_GUESSES:
        raise PasswordRefused(
            "password-too-common", "This password is common or was leaked in a breach; choose another one."
        )
