"""A new password ends every reset and invitation link mailed before it, whichever way it was set.

An old link left in a mailbox must not undo a password change: whoever reads the mailbox
later (a shared inbox, a mailbox taken over) could otherwise set the password again.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers.mail import mailed_invitation_link, mailed_reset_link
from tests.helpers.world import PASSWORD

READER = "reader@alpha.test"
INVITED = "greta@example.com"
NEW_PASSWORD = "a brand new passphrase"
OTHER_PASSWORD = "somebody elses passphrase"


def browser(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url="http://localhost:8000")


def can_log_in(app, email: str, password: str) -> bool:  # type: ignore[no-untyped-def]
    return browser(app).post("/api/v1/auth/login", json={"email": email, "password": password}).status_code == 200


def confirm_reset(client: TestClient, token: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


def accept_invitation(client: TestClient, token: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/invitation/accept", json={"token": token, "password": password})


def assert_link_refused(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/link-refused")


def test_a_reset_link_mailed_before_a_password_change_is_refused_after_it(world, app, smtp) -> None:  # type: ignore[no-untyped-def]
    old_link = mailed_reset_link(world.client, smtp, READER)
    session = browser(app)
    csrf = session.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).json()["csrf_token"]

    changed = session.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                           headers={"x-csrf-token": csrf})

    assert changed.status_code == 204, changed.text
    assert_link_refused(confirm_reset(world.client, old_link.token, OTHER_PASSWORD))
    assert can_log_in(app, READER, NEW_PASSWORD)
    assert not can_log_in(app, READER, OTHER_PASSWORD)


def test_an_invitation_link_is_refused_once_a_reset_has_set_the_password(world, app, smtp) -> None:  # type: ignore[no-untyped-def]
    _, invitation = mailed_invitation_link(world, smtp, INVITED)
    reset = mailed_reset_link(world.client, smtp, INVITED)  # an invited user without a password may ask for one

    assert confirm_reset(world.client, reset.token, NEW_PASSWORD).status_code == 204

    assert_link_refused(accept_invitation(world.client, invitation.token, OTHER_PASSWORD))
    assert can_log_in(app, INVITED, NEW_PASSWORD)
    assert not can_log_in(app, INVITED, OTHER_PASSWORD)


def test_a_reset_link_is_refused_once_the_invitation_is_accepted(world, app, smtp) -> None:  # type: ignore[no-untyped-def]
    _, invitation = mailed_invitation_link(world, smtp, INVITED)
    reset = mailed_reset_link(world.client, smtp, INVITED)

    assert accept_invitation(world.client, invitation.token, NEW_PASSWORD).status_code == 204

    assert_link_refused(confirm_reset(world.client, reset.token, OTHER_PASSWORD))
    assert can_log_in(app, INVITED, NEW_PASSWORD)
