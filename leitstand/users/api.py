"""User routes: the people of an organisation, and their invitations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.permissions import Permission
from leitstand.tenancy.models import Tenant
from leitstand.users.schemas import UserCreate, UserCreated, UserPublic, UserUpdate
from leitstand.users.service import LinkPurpose, issue_link
from leitstand.web.crud import apply_changes, contains, get_visible, read_page
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest, SearchText

router = APIRouter(prefix="/users", tags=["users"])
Reader = Annotated[Access, requires(Permission.user_read)]
Writer = Annotated[Access, requires(Permission.user_write)]


@router.get("", response_model=Page[UserPublic])
def list_users(
    access: Reader,
    tenant_id: FilterId = None,
    is_active: Annotated[bool | None, Query()] = None,
    q: SearchText = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[UserPublic]:
    statement = select(User).order_by(User.email)
    if tenant_id is not None:
        statement = statement.where(User.tenant_id == tenant_id)
    if is_active is not None:
        statement = statement.where(User.is_active == is_active)
    if q:
        statement = statement.where(contains(User.email, q) | contains(User.display_name, q))
    return read_page(access.db, statement, PageRequest(limit, offset), UserPublic.model_validate)


@router.post("", response_model=UserCreated, status_code=201)
def invite_user(body: UserCreate, access: Writer) -> UserCreated:
    """Create a user without a password and e-mail them an invitation link to set one."""
    tenant = get_visible(access.db, Tenant, body.tenant_id, "tenant")
    email = body.email.lower()
    if access.db.scalar(select(User.id).where(User.email == email)) is not None:
        raise conflict("A user with this e-mail address exists.")
    user = User(tenant_id=tenant.id, email=email, display_name=body.display_name, language=body.language)
    access.db.add(user)
    access.db.flush()
    sent = issue_link(access.db, access.settings, user, LinkPurpose.invitation) if body.send_invitation else False
    access.db.commit()
    return UserCreated.model_validate({**UserPublic.model_validate(user).model_dump(), "invitation_sent": sent})


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: ObjectId, access: Reader) -> User:
    return get_visible(access.db, User, user_id, "user")


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: ObjectId, body: UserUpdate, access: Writer) -> User:
    user = get_visible(access.db, User, user_id, "user")
    if body.is_active is False and user.id == access.principal.user_id:
        raise conflict("You cannot deactivate yourself.")
    apply_changes(user, body)
    access.db.commit()
    return user


@router.post("/{user_id}/invitation", response_model=UserCreated)
def resend_invitation(user_id: ObjectId, access: Writer) -> UserCreated:
    user = get_visible(access.db, User, user_id, "user")
    if user.has_password:
        raise conflict("The user has already set a password; use a password reset instead.")
    sent = issue_link(access.db, access.settings, user, LinkPurpose.invitation)
    access.db.commit()
    return UserCreated.model_validate({**UserPublic.model_validate(user).model_dump(), "invitation_sent": sent})


@router.delete("/{user_id}", status_code=204)
def delete_user(user_id: ObjectId, access: Writer) -> Response:
    user = get_visible(access.db, User, user_id, "user")
    if user.id == access.principal.user_id:
        raise conflict("You cannot delete yourself.")
    access.db.delete(user)
    access.db.commit()
    return Response(status_code=204)
