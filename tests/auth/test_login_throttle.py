"""Login throttling that cannot be turned against the account's owner: failures count per
(account, client address), per address and per account; a client that has not failed is
never refused; the owner is warned; nothing locks. Clients are told apart by their
address, which TestClient lets each test choose, or by X-Forwarded-For behind a proxy
the installation trusts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.header import decode_header, make_header
from ipaddress import ip_network

import argon2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.auth import secrets
from leitstand.auth.models import LoginThrottle
from leitstand.clock import clock
from leitstand.scheduler.loop import JOBS, JobContext
from leitstand.runtime import app_without_transports
from tests.auth.test_login_api import assert_problem, login
from tests.helpers.world import PASSWORD

READER = "reader@alpha.test"
PROXY = "10.0.0.2"


def from_address(app, address: str, **headers: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A browser at a client address of its own."""
    return TestClient(app, base_url="http://localhost:8000", client=(address, 50000), headers=headers)


def behind_proxy(app, forwarded_for: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A browser whose requests reach Leitstand through the reverse proxy at PROXY."""
    return from_address(app, PROXY, **{"X-Forwarded-For": forwarded_for})


def wait_out(response) -> None:  # type: ignore[no-untyped-def]
    clock.advance(timedelta(seconds=int(response.headers["Retry-After"])))


def source_addresses(db, outcome: str) -> list[str]:  # type: ignore[no-untyped-def]
    db.rollback()  # see what the app committed
    entries = select(AuditEntry.source_ip).where(AuditEntry.action == "auth.login", AuditEntry.outcome == outcome)
    return list(db.scalars(entries.order_by(AuditEntry.id)))


@pytest.fixture
def proxied_app(settings, session_factory) -> Iterator:  # type: ignore[no-untyped-def]
    """The app behind a reverse proxy in 10.0.0.0/8 that it trusts."""
    with app_without_transports(settings.model_copy(update={"trusted_proxies": [ip_network("10.0.0.0/8")]})) as application:
        yield application


# --- failures from elsewhere -----------------------------------------------------------


def test_failures_from_many_addresses_never_refuse_a_client_that_has_not_failed(world, app, settings):
    clock.freeze()
    for n in range(3 * settings.login_account_alert_after):
        assert_problem(login(from_address(app, f"203.0.113.{n + 1}"), READER, "guess"), 401, "bad-credentials")

    assert login(from_address(app, "198.51.100.7"), READER, PASSWORD).status_code == 200


def test_an_address_that_keeps_failing_waits_while_the_owner_elsewhere_does_not(world, app, settings):
    clock.freeze()
    guesser = from_address(app, "203.0.113.5")
    for _ in range(settings.login_slowdown_after):
        assert_problem(login(guesser, READER, "guess"), 401, "bad-credentials")

    refused = login(guesser, READER, PASSWORD)

    assert_problem(refused, 429, "login-throttled")
    assert login(from_address(app, "198.51.100.7"), READER, PASSWORD).status_code == 200
    wait_out(refused)
    assert login(guesser, READER, PASSWORD).status_code == 200


def test_past_the_account_threshold_addresses_that_failed_for_it_wait_but_are_never_locked_out(world, app, settings):
    clock.freeze()
    guessers = [from_address(app, f"203.0.113.{n + 1}") for n in range(settings.login_account_alert_after)]
    for guesser in guessers:  # one failure each: no address on its own is past its threshold
        assert_problem(login(guesser, READER, "guess"), 401, "bad-credentials")

    slowed = login(guessers[0], READER, "guess")

    assert_problem(slowed, 429, "login-throttled")
    assert login(from_address(app, "198.51.100.7"), READER, PASSWORD).status_code == 200
    wait_out(slowed)
    assert login(guessers[0], READER, PASSWORD).status_code == 200


def test_an_address_guessing_at_many_accounts_is_slowed_down_for_every_account(world, app, settings):
    clock.freeze()
    sprayer = from_address(app, "203.0.113.9")
    for n in range(settings.login_address_slowdown_after):
        assert_problem(login(sprayer, f"user{n}@nowhere.test", "guess"), 401, "bad-credentials")

    assert_problem(login(sprayer, READER, PASSWORD), 429, "login-throttled")
    assert login(from_address(app, "198.51.100.7"), READER, PASSWORD).status_code == 200


def test_logging_in_to_an_own_account_does_not_wipe_an_address_count(world, app, settings):
    clock.freeze()
    sprayer = from_address(app, "203.0.113.9")
    for n in range(settings.login_address_slowdown_after - 1):
        login(sprayer, f"user{n}@nowhere.test", "guess")
    assert login(sprayer, "operator@alpha.test", PASSWORD).status_code == 200

    assert_problem(login(sprayer, "user-last@nowhere.test", "guess"), 401, "bad-credentials")
    assert_problem(login(sprayer, "another@nowhere.test", "guess"), 429, "login-throttled")


# --- the owner is told -----------------------------------------------------------------


def test_the_owner_is_mailed_once_per_window_when_failures_pile_up(world, app, settings, smtp):
    clock.freeze()
    for n in range(2 * settings.login_account_alert_after):
        login(from_address(app, f"203.0.113.{n + 1}"), READER, "guess")

    [warning] = smtp.to(READER)
    assert str(make_header(decode_header(warning["Subject"]))) == "Fehlgeschlagene Anmeldeversuche bei Leitstand"
    text = warning.get_payload(decode=True).decode(warning.get_content_charset() or "utf-8")
    assert f"{settings.login_account_alert_after}-mal" in text and "nicht gesperrt" in text
    assert "http://localhost:8000/account" in text

    clock.advance(timedelta(minutes=settings.login_failure_window_minutes))
    for n in range(settings.login_account_alert_after):
        login(from_address(app, f"198.51.100.{n + 1}"), READER, "guess")
    assert len(smtp.to(READER)) == 2


def test_failures_for_an_unknown_address_mail_nobody(world, app, settings, smtp):
    for n in range(settings.login_account_alert_after):
        login(from_address(app, f"203.0.113.{n + 1}"), "nobody@alpha.test", "guess")

    assert smtp.messages == []


# --- timing ----------------------------------------------------------------------------


class SpyHasher:
    """The real argon2 hasher, noting which of its methods each login calls."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real, self.calls = real, []  # type: ignore[var-annotated]

    def verify(self, hash: str, password: str) -> bool:  # noqa: A002 - argon2's parameter name
        self.calls.append(("verify", argon2.extract_parameters(hash)))
        return self.real.verify(hash, password)

    def hash(self, password: str) -> str:
        self.calls.append(("hash", None))
        return self.real.hash(password)


@pytest.mark.parametrize("email", ["nobody@alpha.test", "end@alpha.test"], ids=["unknown", "deactivated"])
def test_an_unknown_or_deactivated_account_is_checked_by_the_same_hasher_as_a_wrong_password(
        world, app, system_db, monkeypatch, email):
    world.users["alpha_end"].is_active = False
    system_db.commit()
    secrets.verify_password(None, "the decoy hash exists from here on")
    spy = SpyHasher(secrets._hasher)
    monkeypatch.setattr(secrets, "_hasher", spy)
    real_parameters = argon2.extract_parameters(world.users["alpha_reader"].password_hash)

    assert_problem(login(from_address(app, "203.0.113.1"), READER, "guess"), 401, "bad-credentials")
    wrong_password = spy.calls[:]
    spy.calls.clear()
    assert_problem(login(from_address(app, "203.0.113.2"), email, "guess"), 401, "bad-credentials")

    assert wrong_password == [("verify", real_parameters)]
    assert spy.calls == wrong_password


# --- behind a reverse proxy ------------------------------------------------------------


def test_behind_a_trusted_proxy_each_forwarded_address_is_a_client_of_its_own(world, proxied_app, settings, system_db):
    clock.freeze()
    guesser = behind_proxy(proxied_app, "203.0.113.5")
    for _ in range(settings.login_slowdown_after):
        assert_problem(login(guesser, READER, "guess"), 401, "bad-credentials")
    assert_problem(login(guesser, READER, PASSWORD), 429, "login-throttled")

    assert login(behind_proxy(proxied_app, "198.51.100.7"), READER, PASSWORD).status_code == 200
    assert source_addresses(system_db, "success") == ["198.51.100.7"]
    assert set(source_addresses(system_db, "failure")) == {"203.0.113.5"}


def test_behind_a_trusted_proxy_what_the_client_wrote_left_of_its_address_is_not_believed(world, proxied_app, settings):
    clock.freeze()
    # The client claims to be the owner's address; the proxy appends the address it really saw.
    forger = behind_proxy(proxied_app, "198.51.100.7, 203.0.113.5")
    for _ in range(settings.login_slowdown_after):
        login(forger, READER, "guess")

    assert_problem(login(behind_proxy(proxied_app, "203.0.113.5"), READER, PASSWORD), 429, "login-throttled")
    assert login(behind_proxy(proxied_app, "198.51.100.7"), READER, PASSWORD).status_code == 200


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(world, app, settings, system_db):
    clock.freeze()
    for n in range(settings.login_slowdown_after):
        assert_problem(login(from_address(app, "203.0.113.5", **{"X-Forwarded-For": f"198.51.100.{n + 1}"}),
                             READER, "guess"), 401, "bad-credentials")

    refused = login(from_address(app, "203.0.113.5", **{"X-Forwarded-For": "198.51.100.99"}), READER, PASSWORD)

    assert_problem(refused, 429, "login-throttled")
    assert set(source_addresses(system_db, "failure")) == {"203.0.113.5"}


# --- bounded growth --------------------------------------------------------------------


def test_the_scheduler_removes_counters_that_have_gone_quiet(world, app, settings, system_db):
    from leitstand.auth.throttle import longest_window

    clock.freeze()
    login(from_address(app, "203.0.113.1"), READER, "guess")
    clock.advance(longest_window(settings) + timedelta(minutes=1))
    login(from_address(app, "203.0.113.2"), READER, "guess")
    [job] = [job for job in JOBS if job.name == "quiet throttle counters"]

    system_db.rollback()
    job.run(system_db, JobContext(publish=lambda tenant_id, update: None, settings=settings))

    left = system_db.execute(select(LoginThrottle.kind, LoginThrottle.key)).all()
    assert sorted(map(tuple, left)) == [
        ("login-client", "203.0.113.2"), ("login-pair", f"{READER}|203.0.113.2"), ("login-subject", READER),
    ]
