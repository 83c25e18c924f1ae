"""Inviting users, and the e-mail link flows: accepting an invitation, resetting a password."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.auth.secrets import hash_password, new_token, token_digest
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.mail.sender import MailError, send_templated
from leitstand.users.models import EmailToken, User


class LinkPurpose(StrEnum):
    invitation = "invitation"
    password_reset = "password_reset"


LINK_PATHS = {LinkPurpose.invitation: "invitation", LinkPurpose.password_reset: "password-reset"}


class LinkRefused(ValueError):
    pass


def issue_link(db: Session, settings: Settings, user: User, purpose: LinkPurpose) -> bool:
    """Create a single-use token and mail its link. Returns whether the mail went out.

    Earlier unused tokens of the same purpose stop working: only the newest link counts.
    """
    now = clock.now()
    for old in db.scalars(
        select(EmailToken).where(EmailToken.user_id == user.id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
    ):
        old.used_at = now
    token = new_token()
    db.add(
        EmailToken(
            user_id=user.id, purpose=purpose, token_hash=token_digest(token),
            expires_at=now + timedelta(hours=settings.email_token_hours),
        )
    )
    db.flush()
    link = f"{settings.origin}/{LINK_PATHS[purpose]}?token={token}"
    try:
        send_templated(
            settings, user.email, purpose.value, user.language,
            name=user.display_name, link=link, hours=settings.email_token_hours,
        )
    except MailError:
        return False
    return True


def redeem_link(db: Session, purpose: LinkPurpose, token: str, password: str) -> User:
    """Set the password through a mailed link; the link is used up, the address thereby verified."""
    row = db.scalar(select(EmailToken).where(EmailToken.token_hash == token_digest(token), EmailToken.purpose == purpose))
    now = clock.now()
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise LinkRefused("The link is unknown, already used or expired.")
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise LinkRefused("The account is deactivated.")
    row.used_at = now
    user.password_hash = hash_password(password)
    user.email_verified_at = user.email_verified_at or now
    return user
