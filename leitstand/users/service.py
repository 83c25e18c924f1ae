"""Inviting users, the e-mail link flows (accepting an invitation, resetting a password), the mails
about account changes, and the operator's reset of a lost second factor."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.accounts.models import EmailToken, User
from leitstand.audit.recorder import Actor, record
from leitstand.auth.models import ApiToken, LoginSession
from leitstand.auth.password_policy import check_new_password
from leitstand.auth.second_factor import remove_every_factor
from leitstand.auth.secrets import hash_password, new_token, token_digest
from leitstand.clock import clock
from leitstand.formats import format_moment
from leitstand.config import Settings
from leitstand.i18n import Message, Refusal
from leitstand.mail.outbox import send_after_commit
from leitstand.mail.sender import MailError, send_templated
from leitstand.tenancy.models import Tenant


class LinkPurpose(StrEnum):
    invitation = "invitation"
    password_reset = "password_reset"


LINK_PATHS = {LinkPurpose.invitation: "invitation", LinkPurpose.password_reset: "password-reset"}


class LinkRefused(Refusal):
    """A sign-up or reset link that cannot be used; the message says why."""


def issue_link(db: Session, settings: Settings, user: User, purpose: LinkPurpose, *, in_background: bool = False) -> bool:
    """Create a single-use token and mail its link. Returns whether the mail went out.

    Earlier unused tokens of the same purpose stop working: only the newest link counts.
    in_background: the mail goes out after db commits, without waiting for the SMTP server
    (leitstand.mail.outbox); True is returned then.
    """
    now = clock.now()
    _retire_links(db, user, now, purpose)
    token = new_token()
    db.add(
        EmailToken(
            user_id=user.id, purpose=purpose, token_hash=token_digest(token),
            expires_at=now + timedelta(hours=settings.email_token_hours),
        )
    )
    db.flush()
    link = f"{settings.origin}/{LINK_PATHS[purpose]}?token={token}"
    values = {"name": user.display_name, "link": link, "hours": settings.email_token_hours}
    if in_background:
        send_after_commit(db, settings, user.email, purpose.value, user.language, **values)
        return True
    try:
        send_templated(settings, user.email, purpose.value, user.language, **values)
    except MailError:
        return False
    return True


def usable_link(db: Session, purpose: LinkPurpose, token: str) -> User:
    """The active user whose unused, unexpired link of this purpose the token is; LinkRefused
    otherwise. Looking does not use the link up: the portal page a link opens asks first."""
    row = db.scalar(select(EmailToken).where(EmailToken.token_hash == token_digest(token), EmailToken.purpose == purpose))
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        raise LinkRefused("The link is unknown, already used or expired.")
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        raise LinkRefused("The account is deactivated.")
    return user


def redeem_link(db: Session, purpose: LinkPurpose, token: str, password: str) -> User:
    """Set the password through a mailed link; the link is used up, the address thereby verified."""
    user = usable_link(db, purpose, token)
    set_password(db, user, password)
    user.email_verified_at = user.email_verified_at or clock.now()
    return user


def set_password(db: Session, user: User, password: str) -> None:
    """Give the user a new password; every change of one comes here (`/me/password`, the mailed
    links, `leitstand user create` and the demo seed through bootstrap.create_user). The password
    must pass leitstand.auth.password_policy (PasswordRefused otherwise). It ends every outstanding
    reset and invitation link of the user: a link mailed before the change must not undo it."""
    check_new_password(password, user.email)
    user.password_hash = hash_password(password)
    _retire_links(db, user, clock.now())


def _retire_links(db: Session, user: User, now: datetime, purpose: LinkPurpose | None = None) -> None:
    """Mark the user's unused links (of one purpose, or all of them) used, so they are refused from now on."""
    if user.id is None:
        return  # a user being created has no links yet
    unused = select(EmailToken).where(EmailToken.user_id == user.id, EmailToken.used_at.is_(None))
    if purpose is not None:
        unused = unused.where(EmailToken.purpose == purpose)
    for row in db.scalars(unused):
        row.used_at = now


def issue_password_reset(db: Session, settings: Settings, user: User | None) -> None:
    """Mail a reset link to a known, active account, in the background after db commits.

    For an unknown address or a deactivated account a token is made and dropped: both
    answers do the same work and neither waits for the mail server, so the time of the
    answer does not tell which addresses have accounts.
    """
    if user is not None and user.is_active:
        issue_link(db, settings, user, LinkPurpose.password_reset, in_background=True)
    else:
        token_digest(new_token())


def warn_of_login_attempts(db: Session, settings: Settings, user: User, failures: int, minutes: int) -> None:
    """Tell the owner that their account is being guessed at (it is slowed down, never locked);
    sent after db commits. The throttle decides when: once per window."""
    send_after_commit(
        db, settings, user.email, "login_attempts", user.language,
        name=user.display_name, failures=failures, minutes=minutes, link=f"{settings.origin}/account",
    )


def notify_new_browser(db: Session, settings: Settings, user: User, client: str, browser: str) -> None:
    """Tell the owner of a login completed in a browser the account was never used in (ASVS 2.2.3);
    sent after db commits."""
    tenant = db.get(Tenant, user.tenant_id)
    when = format_moment(clock.now(), tenant.time_zone if tenant else settings.default_time_zone, user.language)
    send_after_commit(
        db, settings, user.email, "new_browser", user.language, name=user.display_name, when=when,
        address=client or "?", browser=browser or "?", link=f"{settings.origin}/account",
    )


class AccountChange(StrEnum):
    """A change of how an account is signed in to or used by programs; each one is mailed to its owner."""

    password_changed = "password_changed"
    totp_added = "totp_added"
    totp_removed = "totp_removed"
    security_key_added = "security_key_added"
    security_key_removed = "security_key_removed"
    yubikey_added = "yubikey_added"
    yubikey_removed = "yubikey_removed"
    recovery_codes_created = "recovery_codes_created"
    recovery_code_used = "recovery_code_used"
    second_factors_reset = "second_factors_reset"
    token_created = "token_created"
    token_revoked = "token_revoked"


# What the mail says happened, by message id (German in locale/de/.../account.po);
# %(name)s is the key's or token's name, %(left)s the unused recovery codes, %(reason)s the operator's.
ACCOUNT_CHANGE_TEXT: dict[AccountChange, Message] = {
    AccountChange.password_changed: Message("Your password was changed."),
    AccountChange.totp_added: Message("An authenticator app was set up as a second factor."),
    AccountChange.totp_removed: Message("The authenticator app was removed as a second factor."),
    AccountChange.security_key_added: Message("The security key “%(name)s” was registered."),
    AccountChange.security_key_removed: Message("The security key “%(name)s” was removed."),
    AccountChange.yubikey_added: Message("The YubiKey “%(name)s” was added for one-time passwords."),
    AccountChange.yubikey_removed: Message("The YubiKey “%(name)s” was removed."),
    AccountChange.recovery_codes_created: Message("New recovery codes were created; earlier ones no longer work."),
    AccountChange.recovery_code_used: Message("A recovery code was used to log in. Unused recovery codes left: %(left)s."),
    AccountChange.second_factors_reset: Message(
        "An operator removed all your second factors (authenticator app, security keys, YubiKeys and recovery codes) "
        "and logged out your sessions. Reason given: %(reason)s. Set up a new second factor when you next log in."),
    AccountChange.token_created: Message("The API token “%(name)s” was created."),
    AccountChange.token_revoked: Message("The API token “%(name)s” was revoked."),
}


def notify_account_change(db: Session, settings: Settings, user: User, change: AccountChange, client: str,
                          name: str = "", **values: object) -> None:
    """Mail the owner about a change of their password, second factors or tokens, once db commits,
    so a change they did not make does not go unnoticed (the audit log records it as well)."""
    tenant = db.get(Tenant, user.tenant_id)
    when = format_moment(clock.now(), tenant.time_zone if tenant else settings.default_time_zone, user.language)
    send_after_commit(
        db, settings, user.email, "account_changed", user.language, name=user.display_name,
        change=Message(ACCOUNT_CHANGE_TEXT[change].id, name=name, **values).in_language(user.language), when=when,
        address=client or "?", link=f"{settings.origin}/account",
    )


def remind_of_expiring_tokens(db: Session, settings: Settings) -> int:
    """Mail each owner once about an API token that lapses within `token_expiry_reminder_days`
    (ASVS 2.3.3), so an integration does not stop one night without warning. A token made to
    last no longer than the reminder window gets none: its owner chose that end moments ago.
    Returns how many reminders were queued; the caller commits, and the mails go out then."""
    window = timedelta(days=settings.token_expiry_reminder_days)
    if not window:
        return 0
    now = clock.now()
    lapsing = db.scalars(select(ApiToken).where(
        ApiToken.revoked_at.is_(None), ApiToken.expiry_reminded_at.is_(None),
        ApiToken.expires_at > now, ApiToken.expires_at <= now + window,
    ).order_by(ApiToken.id)).all()
    reminded = 0
    for token in lapsing:
        token.expiry_reminded_at = now
        user = db.get(User, token.user_id)
        if user is None or not user.is_active or token.expires_at - token.created_at <= window:
            continue
        tenant = db.get(Tenant, user.tenant_id)
        zone = tenant.time_zone if tenant else settings.default_time_zone
        send_after_commit(db, settings, user.email, "token_expiring", user.language, name=user.display_name,
                          token=token.name, when=format_moment(token.expires_at, zone, user.language),
                          link=f"{settings.origin}/account")
        reminded += 1
    return reminded


def reset_second_factors(db: Session, settings: Settings, user: User, reason: str, operator: Actor) -> dict[str, int]:
    """The operator's way out for a user who lost their second factor and has no recovery code
    left (`leitstand user reset-second-factor`): every second factor and recovery code goes, every
    session of the user ends, the audit log records it with the operator's reason, and the user is
    mailed. The user then logs in with the password alone and sets up a new factor (a tenant that
    requires one asks for it at once). The identity proofing before it is the operator's
    procedure (README, "Lost second factor"). Returns what was removed."""
    removed = remove_every_factor(db, user)
    sessions = list(db.scalars(select(LoginSession).where(LoginSession.user_id == user.id)))
    for login in sessions:
        db.delete(login)
    removed["sessions"] = len(sessions)
    record(db, "auth.second_factor_reset", tenant_id=user.tenant_id, target_type=User.__tablename__, target_id=user.id,
           details={"reason": reason, "removed": removed}, actor=operator)
    notify_account_change(db, settings, user, AccountChange.second_factors_reset, operator.source_ip, reason=reason)
    return removed
