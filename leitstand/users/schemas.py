from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field

from leitstand.web.types import (UNCHANGED, Flag, Input, Language, LoginEmail, Name, NewPassword, Patch, Public, RefId,
                                Secret)


class UserCreate(Input):
    tenant_id: RefId
    email: EmailStr = Field(max_length=254)
    display_name: Name
    language: Language = "de"
    send_invitation: Flag = True


class UserUpdate(Patch):
    display_name: Name = UNCHANGED
    language: Language = UNCHANGED
    is_active: Flag = UNCHANGED


class UserPublic(Public):
    id: int
    tenant_id: int
    email: str
    display_name: str
    language: str
    is_active: bool
    email_verified_at: datetime | None
    has_password: bool
    created_at: datetime


class UserCreated(UserPublic):
    invitation_sent: bool


class TokenRedemption(Input):
    token: Secret
    password: NewPassword


class PasswordResetRequest(Input):
    email: LoginEmail
