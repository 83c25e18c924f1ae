"""Problem answers speak the reader's language: the user's setting, then Accept-Language, then English.

The machine-readable `type` stays the same in every language; only `title` and `detail` change.
"""

from __future__ import annotations

import pytest

from tests.web.test_problems import assert_problem


def _set_language(world, user_key: str, language: str) -> None:  # type: ignore[no-untyped-def]
    world.users[user_key].language = language
    world.db.commit()


def test_a_german_users_problem_is_german(world):
    response = world.as_user("alpha_operator").get("/api/v1/devices/999999")

    body = assert_problem(response, 404, "not-found")
    assert body["title"] == "Nicht gefunden"
    assert body["detail"] == "Nicht gefunden oder für Sie nicht sichtbar: Gerät."
    assert response.headers["content-language"] == "de"


def test_the_users_setting_wins_over_accept_language(world):
    _set_language(world, "alpha_operator", "en")

    response = world.as_user("alpha_operator").get("/api/v1/devices/999999", headers={"Accept-Language": "de-DE"})

    body = assert_problem(response, 404, "not-found")
    assert body["detail"] == "No such device, or not visible to you."
    assert response.headers["content-language"] == "en"


@pytest.mark.parametrize(("accept", "language", "title"), [
    ("de-DE,de;q=0.9,en;q=0.5", "de", "Anmeldung erforderlich"),
    ("en-GB", "en", "Authentication required"),
    ("fr-FR", "en", "Authentication required"),
    (None, "en", "Authentication required"),  # machine clients without a preference read English
])
def test_without_a_user_accept_language_decides_then_english(client, accept, language, title):
    response = client.get("/api/v1/devices", headers={"Accept-Language": accept} if accept else {})

    body = assert_problem(response, 401, "unauthenticated")
    assert body["title"] == title
    assert response.headers["content-language"] == language
    assert "Accept-Language" in response.headers["vary"]


def test_interpolated_details_are_translated_with_their_values(world):
    # alpha_reader lacks device.write: the permission's name stays as it is inside the German sentence.
    response = world.as_user("alpha_reader").post("/api/v1/devices", json={})

    body = assert_problem(response, 403, "forbidden")
    assert body["title"] == "Kein Zugriff"
    assert body["detail"] == "Ihnen fehlt die Berechtigung device.write."


def test_a_schema_error_has_a_german_title_and_detail_but_keeps_the_validators_messages(world):
    response = world.as_user("alpha_operator").get("/api/v1/devices", params={"limit": "many"})

    body = assert_problem(response, 422, "invalid")
    assert body["title"] == "Ungültige Anfrage"
    assert body["detail"] == "Die Anfrage entspricht nicht dem Schema."
    assert body["errors"][0]["loc"] == ["query", "limit"] and body["errors"][0]["msg"]


def test_the_api_description_says_how_the_language_is_chosen(client):
    description = client.get("/api/v1/openapi.json").json()["info"]["description"]

    assert "Accept-Language" in description and "Content-Language" in description and "English" in description


def test_the_portals_language_cookie_decides_before_the_browser(client):
    # The login page is German by the cookie; its failed login must not answer in English.
    client.cookies.set("leitstand_lang", "de")

    response = client.post("/api/v1/auth/login", json={"email": "nobody@example.test", "password": "wrong password!"},
                           headers={"Accept-Language": "en-GB"})

    body = assert_problem(response, 401, "bad-credentials")
    assert body["detail"] == "E-Mail oder Passwort ist falsch."


# --- the domains' refusals (leitstand.i18n.Refusal) ------------------------------------------


def test_a_command_refusal_is_german_with_its_values_translated_too(world):
    # The thermostat has no licence: the status inside the sentence is German as well.
    api = world.as_user("alpha_operator")
    url = f"/api/v1/devices/{world.alpha.thermostat.id}/commands"

    response = api.post(url, json={"name": "set_target_temperature", "parameters": {"celsius": 20}})

    body = assert_problem(response, 409, "license-inactive")
    assert body["detail"] == "Lizenz des Geräts: ohne Lizenz; Befehle brauchen eine aktive Lizenz."


def test_a_parameter_refusal_names_the_parameter_and_its_bounds_in_english_for_an_english_user(world):
    from tests.commands.test_commands_api import license_thermostat

    license_thermostat(world)
    _set_language(world, "alpha_operator", "en")
    url = f"/api/v1/devices/{world.alpha.thermostat.id}/commands"

    response = world.as_user("alpha_operator").post(url, json={"name": "set_target_temperature",
                                                               "parameters": {"celsius": 50}})

    body = assert_problem(response, 422, "invalid-parameters")
    assert body["detail"] == "celsius must lie between 5.0 and 30.0."


def test_a_second_factor_refusal_follows_accept_language(world, app):
    from tests.auth.test_second_factor_api import signed_in, wrong_totp_code

    client, headers = signed_in(app)
    secret = client.post("/api/v1/me/totp/setup", headers=headers).json()["secret"]

    response = client.post("/api/v1/me/totp", json={"secret": secret, "code": wrong_totp_code(secret)},
                           headers={**headers, "Accept-Language": "de-DE"})

    body = assert_problem(response, 422, "invalid")
    assert body["detail"] == "Der Code passt nicht zum Schlüssel; prüfen Sie die Uhrzeit des Telefons."
