"""Outgoing e-mail over SMTP, with messages in the recipient's language."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from leitstand.config import Settings
from leitstand.i18n import Message

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


def compose(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    message = compose(settings, to, subject, body)
    try:
        deliver(settings, message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning("mail to %s failed: %s", to, error)
        raise MailError(f"could not send mail: {error}") from error


# Each mail by its kind: the English subject and body are the message ids; their German texts
# are in locale/de/LC_MESSAGES/mail.po.
MESSAGES: dict[str, tuple[str, str]] = {
    "account_changed": (
        "Your Leitstand account was changed",
        "Hello %(name)s,\n\n%(change)s\n\nTime: %(when)s\nFrom the address: %(address)s\n\n"
        "If that was you, there is nothing to do. If not, log in, change your password and check your second "
        "factors and API tokens:\n%(link)s\n",
    ),
    "invitation": (
        "Your invitation to Leitstand",
        "Hello %(name)s,\n\nYou have been invited to Leitstand. Set your password here:\n%(link)s\n\n"
        "The link is valid for %(hours)s hours.\n",
    ),
    "login_attempts": (
        "Failed login attempts at Leitstand",
        "Hello %(name)s,\n\nin the last %(minutes)s minutes, someone tried %(failures)s times without success to "
        "log in to Leitstand with your e-mail address, also from other addresses.\n\n"
        "Your account is not locked: you log in as usual. If that was not you, choose a new, long password "
        "and set up a second factor:\n%(link)s\n",
    ),
    "token_expiring": (
        "Your Leitstand API token expires soon",
        "Hello %(name)s,\n\nyour API token “%(token)s” expires on %(when)s. After that Leitstand refuses every "
        "request made with it, and the integration that uses it stops.\n\nCreate a new token in time, enter it in "
        "the integration and then revoke the old one:\n%(link)s\n",
    ),
    "new_browser": (
        "New sign-in to your Leitstand account",
        "Hello %(name)s,\n\nyour account was signed in to from a browser it was never used in before.\n\n"
        "Time: %(when)s\nFrom the address: %(address)s\nBrowser: %(browser)s\n\n"
        "If that was you, there is nothing to do. If not, end that session, change your password and set up "
        "a second factor:\n%(link)s\n",
    ),
    "password_reset": (
        "Reset your password",
        "Hello %(name)s,\n\nReset your password here:\n%(link)s\n\n"
        "The link is valid for %(hours)s hours. If you did not ask for this, ignore this e-mail.\n",
    ),
}


def send_templated(settings: Settings, to: str, template: str, language: str, **values: object) -> None:
    send_mail(settings, to, *templated(template, language, **values))


def templated(template: str, language: str, **values: object) -> tuple[str, str]:
    """A message's subject and body in the recipient's language (English if it has none)."""
    subject, body = MESSAGES[template]
    return Message(subject).in_language(language), Message(body, **values).in_language(language)
