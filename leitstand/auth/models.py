"""Records behind authentication: browser sessions, API tokens, second factors, recovery codes, login throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel


class PersonalModel(ScopedModel):
    """Rows that belong to one user and are only ever visible to that user."""

    personal = True
    user_id: Mapped[int]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return cls.user_id == (scope.user_id if scope.user_id is not None else -1)


class LoginSession(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A browser login. The cookie holds a random token; only its hash is stored. Each
    authentication step (password, second factor, re-authentication) gives the session a
    new token and CSRF token, so whatever was known of it before does not carry over.

    `second_factor_done` is false between the password step and the second factor.
    `authenticated_at`: when the user last proved every factor they have (the completed login
    or a re-authentication); changes of the password and second factors need it to be recent.
    `last_seen_at`: the last activity, written at most once a minute; the session ends
    `session_idle_minutes` after it (leitstand.web.deps).
    """

    __tablename__ = "login_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_done: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime]
    authenticated_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class KnownBrowser(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A browser the user completed a login in, known by the random token of its browser cookie
    (only the hash is stored). A login from a browser not yet known is mailed to the owner."""

    __tablename__ = "known_browsers"
    __table_args__ = (UniqueConstraint("user_id", "token_hash"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A bearer token for integrations. Scopes narrow the owner's permissions further."""

    __tablename__ = "api_tokens"
    __table_args__ = (json_holds("scopes", "array"),)
    __audited__ = True
    __audit_secret__ = frozenset({"token_hash"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expiry_reminded_at: Mapped[datetime | None]  # the owner was mailed that it lapses soon


class WebAuthnKey(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A registered security key (FIDO2/WebAuthn)."""

    __tablename__ = "webauthn_keys"
    __audited__ = True
    __audit_secret__ = frozenset({"public_key"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None]


class YubiKey(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A YubiKey in Yubico OTP mode, verified locally with its AES secret.

    public_id: the 12 modhex characters every OTP of the key starts with.
    The private id and AES key are encrypted at rest. `last_counter` is the highest
    (session counter, use counter) pair seen, which makes every OTP single-use.
    """

    __tablename__ = "yubikeys"
    __audited__ = True
    __audit_secret__ = frozenset({"secret_encrypted"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    last_counter: Mapped[int] = mapped_column(Integer, default=-1)
    last_used_at: Mapped[datetime | None]


class RecoveryCode(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """One code of a user's set of recovery codes (leitstand.auth.recovery_codes): a look-up
    secret that stands in for a lost second factor at one login. Only its keyed digest is stored
    (leitstand.auth.secrets.SecretBox.keyed_digest); `used_at` marks it spent. A new set replaces
    every row of the old one, so the rows' `created_at` is when the set was made. Not audited row
    by row: making a set and using a code are recorded as events (`auth.recovery_codes_created`,
    `auth.recovery_code_used`)."""

    __tablename__ = "recovery_codes"
    # Declared although the rows are not audited: it marks the digest as a secret (e.g. for exports).
    __audit_secret__ = frozenset({"code_digest"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class LoginThrottle(IdMixin, Base):
    """One counter of leitstand.auth.throttle: failed guesses (passwords, claim secrets) or
    mail-sending requests (password resets) of one kind and key, e.g. kind "login-pair",
    key "<e-mail>|<client address>". Kept in the database, so that every API process counts
    the same; rows quiet for longer than every window are removed by the scheduler."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(400))
    attempts: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime] = mapped_column(index=True)
    alerted_at: Mapped[datetime | None] = mapped_column(doc="When the owner was last told of the failures.")
