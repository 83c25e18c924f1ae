"""API tokens: the owner is mailed once, a week before a token lapses (ASVS 2.3.3), by the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

from leitstand.clock import clock
from leitstand.scheduler.loop import JOBS, Scheduler
from tests.auth.test_tokens_api import READER, create_token, signed_in
from tests.helpers.mail import text_of

REMINDERS = tuple(job for job in JOBS if job.name == "API token expiry reminders")


def run_reminders(session_factory, settings) -> int:  # type: ignore[no-untyped-def]
    return Scheduler(session_factory, publish=lambda *_: None, jobs=REMINDERS, settings=settings).run_due()[
        "API token expiry reminders"]


def subjects(mails) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(make_header(decode_header(mail["Subject"]))) for mail in mails]


def test_the_owner_is_mailed_once_a_week_before_a_token_lapses(world, app, settings, session_factory, smtp):
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    client, headers = signed_in(app)
    assert create_token(client, headers, name="ERP-Anbindung", expires_in_days=30).status_code == 201
    smtp.messages.clear()  # the "token created" notice

    clock.advance(timedelta(days=22, hours=23))
    assert run_reminders(session_factory, settings) == 0
    clock.advance(timedelta(hours=2))  # 6 days 23 hours left
    assert run_reminders(session_factory, settings) == 1
    clock.advance(timedelta(hours=1))
    assert run_reminders(session_factory, settings) == 0

    [mail] = smtp.to(READER)  # the reader's language is German
    assert subjects([mail]) == ["Ihr Leitstand-API-Token läuft bald ab"]
    text = text_of(mail)
    assert "„ERP-Anbindung“ läuft am 31.12.2026, 10:00 MEZ ab" in text, text
    assert "http://localhost:8000/account" in text


def test_revoked_short_lived_and_unlimited_tokens_get_no_reminder(world, app, settings, session_factory, smtp):
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    client, headers = signed_in(app)
    revoked = create_token(client, headers, name="alt", expires_in_days=10).json()
    assert client.delete(f"/api/v1/me/tokens/{revoked['id']}", headers=headers).status_code == 204
    assert create_token(client, headers, name="Test für drei Tage", expires_in_days=3).status_code == 201
    assert create_token(client, headers, name="ohne Ablauf", expires_in_days=None).status_code == 201
    smtp.messages.clear()

    for _ in range(3):
        clock.advance(timedelta(days=1))
        assert run_reminders(session_factory, settings) == 0
    assert smtp.to(READER) == []


def test_no_reminder_when_the_setting_is_zero(world, app, settings, session_factory, smtp):
    clock.freeze(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    client, headers = signed_in(app)
    assert create_token(client, headers, expires_in_days=10).status_code == 201
    smtp.messages.clear()
    clock.advance(timedelta(days=5))

    assert run_reminders(session_factory, settings.model_copy(update={"token_expiry_reminder_days": 0})) == 0
    assert run_reminders(session_factory, settings) == 1
