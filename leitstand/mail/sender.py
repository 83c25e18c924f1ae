"""Outgoing e-mail over SMTP, with messages in the recipient's language."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from leitstand.config import Settings

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    pass


def deliver(settings: Settings, message: EmailMessage, timeout: float = 10.0) -> None:
    """Send a composed message over the SMTP server in the settings. Raises OSError or
    smtplib.SMTPException; callers decide whether that is an error or a counted failure."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        deliver(settings, message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("mail to %s failed: %s", to, error)
        raise MailError(f"could not send mail: {error}") from error


MESSAGES = {
    "invitation": {
        "de": (
            "Einladung zu Leitstand",
            "Hallo {name},\n\nSie wurden zu Leitstand eingeladen. Legen Sie Ihr Passwort hier fest:\n{link}\n\n"
            "Der Link ist {hours} Stunden gültig.\n",
        ),
        "en": (
            "Your invitation to Leitstand",
            "Hello {name},\n\nYou have been invited to Leitstand. Set your password here:\n{link}\n\n"
            "The link is valid for {hours} hours.\n",
        ),
    },
    "password_reset": {
        "de": (
            "Passwort zurücksetzen",
            "Hallo {name},\n\nSetzen Sie Ihr Passwort hier neu:\n{link}\n\n"
            "Der Link ist {hours} Stunden gültig. Haben Sie das nicht angefordert, ignorieren Sie diese E-Mail.\n",
        ),
        "en": (
            "Reset your password",
            "Hello {name},\n\nReset your password here:\n{link}\n\n"
            "The link is valid for {hours} hours. If you did not ask for this, ignore this e-mail.\n",
        ),
    },
}


def send_templated(settings: Settings, to: str, template: str, language: str, **values: object) -> None:
    subject, body = MESSAGES[template].get(language, MESSAGES[template]["en"])
    send_mail(settings, to, subject, body.format(**values))
