"""One rule for every new password (issue 14, item 9; OWASP ASVS 4.0 V2.1): at least 12
characters, not a common or breached password, not the account's e-mail address. It holds
for /me/password, reset and invitation links, `leitstand user create` and the demo seed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leitstand.bootstrap import create_user, root_tenant
from leitstand.cli import app as cli
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.mail import mailed_invitation_link, mailed_reset_link
from tests.helpers.world import PASSWORD

READER = "reader@alpha.test"
INVITED = "greta@example.com"
GOOD = "Drei Haselnüsse für Aschenbrödel"
# (password, the code it is refused with): the two, and common ones long enough.
REFUSED = [
    ("aaaaaaaaaa", "password-too-short"),
    ("password12", "password-too-short"),
    ("aaaaaaaaaaaa", "password-too-common"),
    ("password1234", "password-too-common"),
    ("Password1234!", "password-too-common"),
    ("qwertzuiop123", "password-too-common"),
    ("iloveyouiloveyou", "password-too-common"),
    ("ab" + " " * 10 + "cd", "password-too-short"),  # a run of spaces counts as one (ASVS 2.1.1)
    (GOOD + " " + "x" * (128 - len(GOOD)), "password-too-long"),
]


def refused_with(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    return error["type"]


@pytest.fixture
def session(app) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost:8000")
    login = client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD})
    return client, {CSRF_HEADER: login.json()["csrf_token"]}


@pytest.mark.parametrize(("password", "code"), REFUSED)
def test_a_weak_new_password_is_refused_with_its_code(world, session, password, code):
    client, headers = session

    response = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": password},
                           headers=headers)

    assert refused_with(response) == code
    assert client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).status_code == 200


def test_the_own_e_mail_address_is_no_password(world, session):
    client, headers = session

    for password in (READER, READER.upper()):
        response = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": password},
                               headers=headers)
        assert refused_with(response) == "password-is-email"


def test_a_long_uncommon_passphrase_is_taken(world, session):
    client, headers = session

    response = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": GOOD}, headers=headers)

    assert response.status_code == 204, response.text


@pytest.mark.parametrize("length", [64, 128])
def test_passphrases_up_to_128_characters_are_taken(world, session, length):
    """ASVS 2.1.2: at least 64 characters must be allowed; above 128 may be refused."""
    client, headers = session
    passphrase = " ".join([GOOD, "und der Rest des Märchens"] * 5)[:length]

    response = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": passphrase},
                           headers=headers)

    assert response.status_code == 204, response.text
    assert client.post("/api/v1/auth/login", json={"email": READER, "password": passphrase}).status_code == 200


def test_a_password_is_compared_in_full_beyond_72_characters(world, session):
    """ASVS 2.1.3: nothing is cut off, as bcrypt would after 72 bytes (and zxcvbn judges only the start)."""
    client, headers = session
    passphrase = " ".join([GOOD, "und der Rest des Märchens"] * 4)[:90]
    assert client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": passphrase},
                       headers=headers).status_code == 204

    differing_at_the_end = passphrase[:-1] + ("x" if passphrase[-1] != "x" else "y")
    refused = client.post("/api/v1/auth/login", json={"email": READER, "password": differing_at_the_end})

    assert refused.status_code == 401 and refused.json()["type"].endswith("/bad-credentials"), refused.text
    assert client.post("/api/v1/auth/login", json={"email": READER, "password": passphrase}).status_code == 200


def test_a_reset_link_keeps_working_after_a_refused_password(world, smtp):
    link = mailed_reset_link(world.client, smtp, READER)
    confirm = "/api/v1/auth/password-reset/confirm"

    common = world.client.post(confirm, json={"token": link.token, "password": "password1234"})
    own_address = world.client.post(confirm, json={"token": link.token, "password": READER})
    taken = world.client.post(confirm, json={"token": link.token, "password": GOOD})

    assert refused_with(common) == "password-too-common"
    assert refused_with(own_address) == "password-is-email"
    assert taken.status_code == 204, taken.text


def test_an_invitation_takes_no_weak_password(world, smtp):
    _, link = mailed_invitation_link(world, smtp, INVITED)
    accept = "/api/v1/auth/invitation/accept"

    short = world.client.post(accept, json={"token": link.token, "password": "aaaaaaaaaa"})
    common = world.client.post(accept, json={"token": link.token, "password": "aaaaaaaaaaaa"})

    assert refused_with(short) == "password-too-short"
    assert refused_with(common) == "password-too-common"
    assert world.client.post(accept, json={"token": link.token, "password": GOOD}).status_code == 204


def test_the_command_line_takes_no_weak_password(tmp_path):
    runner, data_dir = CliRunner(), str(tmp_path / "cli")
    assert runner.invoke(cli, ["init", "--data-dir", data_dir]).exit_code == 0

    for weak in ("aaaaaaaaaa", "password1234", "ops@example.com"):
        result = runner.invoke(cli, ["user", "create", "ops@example.com", "--password", weak, "--data-dir", data_dir])
        assert result.exit_code == 2, result.output
    assert runner.invoke(cli, ["user", "create", "ops@example.com", "--password", GOOD, "--data-dir", data_dir]).exit_code == 0


def test_creating_a_user_with_a_password_follows_the_rule(world, system_db):
    """bootstrap.create_user: the CLI's and the demo seed's way to a user with a password."""
    from leitstand.auth.password_policy import PasswordRefused

    with pytest.raises(PasswordRefused) as refused:
        create_user(system_db, tenant=root_tenant(system_db), email="weak@example.com", display_name="Weak",
                    password="password12", role=None)

    assert refused.value.code == "password-too-short"


def test_the_demo_and_the_test_passwords_pass_the_rule():
    from leitstand.auth.password_policy import check_new_password
    from leitstand.demo.seed import DEMO_PASSWORD

    check_new_password(DEMO_PASSWORD, "admin@example.com")
    check_new_password(PASSWORD, READER)
