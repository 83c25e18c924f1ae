"""Notification e-mails, received by the real SMTP server of the test run."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from leitstand.config import Settings
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.channels import Channel, Notification, Outcome, send_email
from tests.conftest import free_port

POLLER_STUCK = Notification(
    title="Poller <Tor 2> klemmt",
    body="Der Poller fährt nicht ganz ein.\nFehler B07.",
    severity=Severity.major,
    url="https://leitstand.example/alarms/9?view=steps&lang=de",
    tag="alarm-9",
)


@pytest.fixture
def mail_settings(smtp, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    # The SMTP settings are all this channel reads; no database needed.
    return Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=smtp.port)


def received(smtp, address: str) -> EmailMessage:  # type: ignore[no-untyped-def]
    """The one message for `address`, re-read with the modern policy (the sink keeps compat32 messages)."""
    [message] = smtp.to(address)
    return message_from_bytes(message.as_bytes(), policy=policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_german_notification_mail_arrives_with_text_and_html(smtp, mail_settings) -> None:  # type: ignore[no-untyped-def]
    result = send_email(mail_settings, "anna@kunde.example", POLLER_STUCK, language="de")

    assert result.ok, result.detail
    assert (result.channel, result.target, result.status_code) == (Channel.email, "anna@kunde.example", 250)
    assert result.latency_ms > 0
    message = received(smtp, "anna@kunde.example")
    assert message["Subject"] == "[Schwer] Poller <Tor 2> klemmt"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message)
    assert "Schweregrad: Schwer" in text
    assert "Der Poller fährt nicht ganz ein.\nFehler B07." in text
    assert "In Leitstand öffnen: https://leitstand.example/alarms/9?view=steps&lang=de" in text
    assert "Benachrichtigungseinstellungen" in text
    assert "Poller &lt;Tor 2&gt; klemmt" in html and "<Tor 2>" not in html
    assert 'href="https://leitstand.example/alarms/9?view=steps&amp;lang=de"' in html
    assert 'lang="de"' in html


def test_english_frame_and_unknown_language_falls_back_to_english(smtp, mail_settings) -> None:  # type: ignore[no-untyped-def]
    for language in ("en", "fr"):
        assert send_email(mail_settings, f"{language}@kunde.example", POLLER_STUCK, language=language).ok

    for address in ("en@kunde.example", "fr@kunde.example"):
        message = received(smtp, address)
        assert message["Subject"] == "[Major] Poller <Tor 2> klemmt"
        text, html = parts(message)
        assert "Severity: Major" in text and "Open in Leitstand: " in text
        assert "Open in Leitstand</a>" in html


@pytest.mark.parametrize("url", ["", "javascript:alert(1)"])
def test_mail_without_web_link_has_no_link(smtp, mail_settings, url) -> None:  # type: ignore[no-untyped-def]
    notice = Notification(title="Wartung fällig", body="Schranke 4", severity=Severity.warning, url=url)

    assert send_email(mail_settings, "ben@kunde.example", notice, language="de").ok

    text, html = parts(received(smtp, "ben@kunde.example"))
    assert "öffnen" not in text and "<a " not in html and "javascript" not in html


def test_unreachable_smtp_server_is_a_failure_with_latency(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())

    result = send_email(settings, "anna@kunde.example", POLLER_STUCK, language="de", timeout=2)

    assert result.outcome is Outcome.failed and result.status_code is None
    assert "unreachable" in result.detail
    assert result.latency_ms > 0
