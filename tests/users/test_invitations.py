"""Mailed links, delivered over real SMTP: inviting a user, and resetting a password."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.clock import clock
from leitstand.runtime import app_without_transports
from tests.helpers.world import PASSWORD, ApiClient

NEW_PASSWORD = "a brand new passphrase"
READER = "reader@alpha.test"
LINK = re.compile(r"(http://localhost:8000/[a-z-]+)\?token=([A-Za-z0-9_-]+)")


def invite(api, world, email: str, language: str = "en"):  # type: ignore[no-untyped-def]
    """An operator of Alpha's customer invites a colleague."""
    body = {"tenant_id": world.alpha.customer.id, "email": email, "display_name": "Greta Neu", "language": language}
    return api.post("/api/v1/users", json=body)


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def text_of(message: Message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


def the_mail_to(smtp, address: str) -> Message:  # type: ignore[no-untyped-def]
    [message] = smtp.to(address)
    return message


def link_in(message: Message) -> tuple[str, str]:
    """(page, token) of the one link in a mail."""
    match = LINK.search(text_of(message))
    assert match, text_of(message)
    return match.group(1), match.group(2)


def accept(client: TestClient, token: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/invitation/accept", json={"token": token, "password": password})


def reset(client: TestClient, token: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


def login(app, email: str, password: str):  # type: ignore[no-untyped-def]
    return TestClient(app, base_url="http://localhost:8000").post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )


def closed_port() -> int:
    """A local port nothing listens on: the port was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{kind}")


@pytest.fixture
def operator(world) -> ApiClient:  # type: ignore[no-untyped-def]
    return world.as_user("alpha_operator")


@pytest.fixture
def app_without_mail(settings, session_factory) -> Iterator:  # type: ignore[no-untyped-def]
    """The same installation, but its SMTP server does not answer."""
    with app_without_transports(settings.model_copy(update={"smtp_port": closed_port()})) as application:
        yield application


# --- invitations ----------------------------------------------------------------


def test_an_invitation_is_mailed_in_the_users_language(world, smtp, operator):
    response = invite(operator, world, "greta@example.com", language="en")

    assert response.status_code == 201, response.text
    assert response.json()["invitation_sent"] is True
    assert response.json()["has_password"] is False
    mail = the_mail_to(smtp, "greta@example.com")
    assert subject_of(mail) == "Your invitation to Leitstand"
    assert text_of(mail).startswith("Hello Greta Neu")
    page, token = link_in(mail)
    assert page == "http://localhost:8000/invitation" and token


def test_a_german_invitation_is_mailed_in_german(world, smtp, operator):
    invite(operator, world, "greta@example.com", language="de")

    mail = the_mail_to(smtp, "greta@example.com")

    assert subject_of(mail) == "Einladung zu Leitstand"
    assert "Hallo Greta Neu" in text_of(mail) and "gültig" in text_of(mail)
    assert link_in(mail)[0] == "http://localhost:8000/invitation"


def test_accepting_an_invitation_sets_the_password(world, app, smtp, operator, system_db):
    invite(operator, world, "greta@example.com")
    _, token = link_in(the_mail_to(smtp, "greta@example.com"))

    accepted = accept(world.client, token)

    assert accepted.status_code == 204
    logged_in = login(app, "greta@example.com", NEW_PASSWORD)
    assert logged_in.status_code == 200, logged_in.text
    system_db.rollback()
    user = system_db.scalar(select(User).where(User.email == "greta@example.com"))
    assert user.email_verified_at is not None


def test_an_invited_user_cannot_log_in_before_accepting(world, app, smtp, operator):
    invite(operator, world, "greta@example.com")

    assert_problem(login(app, "greta@example.com", ""), 422, "invalid")
    assert_problem(login(app, "greta@example.com", NEW_PASSWORD), 401, "bad-credentials")


def test_an_invitation_link_works_once(world, smtp, operator):
    invite(operator, world, "greta@example.com")
    _, token = link_in(the_mail_to(smtp, "greta@example.com"))
    assert accept(world.client, token).status_code == 204

    again = accept(world.client, token, "someone elses password")

    assert_problem(again, 400, "link-refused")


def test_an_expired_invitation_link_is_refused(world, app, smtp, operator, settings):
    clock.freeze()
    invite(operator, world, "greta@example.com")
    _, token = link_in(the_mail_to(smtp, "greta@example.com"))

    clock.advance(timedelta(hours=settings.email_token_hours, minutes=1))

    assert_problem(accept(world.client, token), 400, "link-refused")
    assert_problem(login(app, "greta@example.com", NEW_PASSWORD), 401, "bad-credentials")


def test_an_invitation_link_is_valid_until_shortly_before_it_expires(world, app, smtp, operator, settings):
    clock.freeze()
    invite(operator, world, "greta@example.com")
    _, token = link_in(the_mail_to(smtp, "greta@example.com"))

    clock.advance(timedelta(hours=settings.email_token_hours) - timedelta(minutes=1))

    assert accept(world.client, token).status_code == 204


def test_only_the_newest_invitation_link_counts(world, smtp, operator):
    user_id = invite(operator, world, "greta@example.com").json()["id"]
    _, first = link_in(the_mail_to(smtp, "greta@example.com"))
    smtp.messages.clear()

    resent = operator.post(f"/api/v1/users/{user_id}/invitation")
    _, second = link_in(the_mail_to(smtp, "greta@example.com"))

    assert resent.status_code == 200 and resent.json()["invitation_sent"] is True
    assert_problem(accept(world.client, first), 400, "link-refused")
    assert accept(world.client, second).status_code == 204


def test_an_invitation_link_does_not_reset_passwords(world, smtp, operator):
    invite(operator, world, "greta@example.com")
    _, token = link_in(the_mail_to(smtp, "greta@example.com"))

    assert_problem(reset(world.client, token), 400, "link-refused")


def test_a_made_up_link_is_refused(world):
    assert_problem(accept(world.client, "made-up-token"), 400, "link-refused")


def test_an_invitation_without_mail_server_still_creates_the_user(world, smtp, app_without_mail, system_db):
    operator = ApiClient(TestClient(app_without_mail, base_url="http://localhost:8000"), world.token_for("alpha_operator"))

    response = invite(operator, world, "greta@example.com")

    assert response.status_code == 201, response.text
    assert response.json()["invitation_sent"] is False
    system_db.rollback()
    assert system_db.scalar(select(User.id).where(User.email == "greta@example.com")) == response.json()["id"]
    assert smtp.messages == []


def test_inviting_needs_permission_to_write_users(world, smtp):
    reader = world.as_user("alpha_reader")

    assert_problem(invite(reader, world, "greta@example.com"), 403, "forbidden")
    assert smtp.messages == []


# --- password reset -------------------------------------------------------------


def test_a_password_reset_mails_a_link_for_an_existing_address(world, smtp):
    response = world.client.post("/api/v1/auth/password-reset", json={"email": READER})

    assert response.status_code == 202
    mail = the_mail_to(smtp, READER)
    assert subject_of(mail) == "Passwort zurücksetzen"  # the reader's language is German
    assert link_in(mail)[0] == "http://localhost:8000/password-reset"


def test_redeeming_a_reset_link_changes_the_password_and_ends_sessions(world, app, smtp):
    browser = TestClient(app, base_url="http://localhost:8000")
    assert browser.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).status_code == 200
    world.client.post("/api/v1/auth/password-reset", json={"email": READER})
    _, token = link_in(the_mail_to(smtp, READER))

    redeemed = reset(world.client, token)

    assert redeemed.status_code == 204
    assert_problem(browser.get("/api/v1/me"), 401, "unauthenticated")
    assert_problem(login(app, READER, PASSWORD), 401, "bad-credentials")
    assert login(app, READER, NEW_PASSWORD).status_code == 200
    assert_problem(reset(world.client, token, "yet another passphrase"), 400, "link-refused")


def test_a_password_reset_for_an_unknown_address_answers_the_same_and_mails_nothing(world, smtp):
    response = world.client.post("/api/v1/auth/password-reset", json={"email": "nobody@alpha.test"})

    assert response.status_code == 202
    assert response.content == world.client.post("/api/v1/auth/password-reset", json={"email": READER}).content
    assert smtp.to("nobody@alpha.test") == []


def test_a_deactivated_user_gets_no_reset_mail(world, smtp, system_db):
    world.users["alpha_reader"].is_active = False
    system_db.commit()

    assert world.client.post("/api/v1/auth/password-reset", json={"email": READER}).status_code == 202
    assert smtp.messages == []


def test_an_expired_reset_link_is_refused(world, app, smtp, settings):
    clock.freeze()
    world.client.post("/api/v1/auth/password-reset", json={"email": READER})
    _, token = link_in(the_mail_to(smtp, READER))

    clock.advance(timedelta(hours=settings.email_token_hours, minutes=1))

    assert_problem(reset(world.client, token), 400, "link-refused")
    assert login(app, READER, PASSWORD).status_code == 200
