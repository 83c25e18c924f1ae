"""Recovery codes: single-use look-up secrets (OWASP ASVS 2.6) for a login whose second factor is lost.

A user with a second factor makes a set of ten, sees them once and keeps them somewhere safe;
a new set replaces the old one. Each code is ten characters of an alphabet without look-alikes
(no 0/O, 1/I/L), about 49 bits, shown as `ABCDE-FGHJK` and taken in any case, with or without
spaces and dashes. The login offers a recovery code only beside another second factor: the codes
are that factor's spare, never a factor of their own. Only keyed digests are stored
(leitstand.auth.secrets). What is left when a factor is lost and no code remains is the
operator's `leitstand user reset-second-factor` (README, "Lost second factor").
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from leitstand.auth.models import RecoveryCode
from leitstand.auth.second_factor import SecondFactorRefused
from leitstand.auth.secrets import SecretBox
from leitstand.clock import clock

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
CODES_PER_SET = 10
METHOD = "recovery_code"
# What a person may type around the characters: spaces, tabs and dashes; case does not matter.
_SEPARATORS = re.compile(r"[ \t-]+")


# The functions take the owner's id, and their second factors where it matters (`factors`, from
# leitstand.auth.second_factor.methods_of): the accounts' floor (leitstand.users) stays out of here.


def _digest(box: SecretBox, user_id: int, code: str) -> str:
    return box.keyed_digest(f"recovery-code:{user_id}", code)


def normalised(typed: str) -> str:
    return _SEPARATORS.sub("", typed).upper()


def grouped(code: str) -> str:
    """A code as it is shown: two groups of five."""
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def create_set(db: Session, user_id: int, box: SecretBox) -> list[str]:
    """Replace the user's codes with a new set and return it, grouped for showing: the only time
    the codes exist outside the user's hands."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(CODES_PER_SET)]
    now = clock.now()
    db.add_all(RecoveryCode(user_id=user_id, code_digest=_digest(box, user_id, code), created_at=now) for code in codes)
    return [grouped(code) for code in codes]


def unused_count(db: Session, user_id: int) -> int:
    unused = select(func.count()).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    return db.scalar(unused) or 0


def set_created_at(db: Session, user_id: int) -> datetime | None:
    """When the user's current set was made, used up or not; None if they never made one."""
    return db.scalar(select(func.min(RecoveryCode.created_at)).where(RecoveryCode.user_id == user_id))


def login_methods(db: Session, user_id: int, factors: list[str]) -> list[str]:
    """The second-factor methods a login of the user offers: their second factors and, while one
    of them exists and unused codes are left, a recovery code."""
    unused = exists().where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    return [*factors, METHOD] if factors and db.scalar(select(unused)) else list(factors)


def spend(db: Session, user_id: int, box: SecretBox, typed: str, factors: list[str]) -> int:
    """Spend one of the user's codes on a login; returns how many unused ones are left.
    SecondFactorRefused for a wrong or spent code, or for a user without another second factor."""
    if not factors:
        raise SecondFactorRefused("Recovery codes only stand in for a second factor, and you have none set up.")
    code = db.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user_id, RecoveryCode.code_digest == _digest(box, user_id, normalised(typed))))
    if code is None:
        raise SecondFactorRefused("The recovery code is wrong.")
    # Spent in one statement, so that two logins racing with the same code cannot both pass.
    spent = db.execute(update(RecoveryCode).where(RecoveryCode.id == code.id, RecoveryCode.used_at.is_(None))
                       .values(used_at=clock.now()))
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise SecondFactorRefused("This recovery code was already used.")
    return unused_count(db, user_id)
