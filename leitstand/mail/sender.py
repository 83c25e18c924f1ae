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


MESSAGES = {
    "account_changed": {
        "de": (
            "Ihr Leitstand-Konto wurde geändert",
            "Hallo {name},\n\n{change}\n\nZeit: {when}\nVon der Adresse: {address}\n\n"
            "Waren Sie das, ist nichts zu tun. Wenn nicht, melden Sie sich an, ändern Sie Ihr Passwort und prüfen Sie "
            "Ihre zweiten Faktoren und API-Tokens:\n{link}\n",
        ),
        "en": (
            "Your Leitstand account was changed",
            "Hello {name},\n\n{change}\n\nTime: {when}\nFrom the address: {address}\n\n"
            "If that was you, there is nothing to do. If not, log in, change your password and check your second "
            "factors and API tokens:\n{link}\n",
        ),
    },
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
    "login_attempts": {
        "de": (
            "Fehlgeschlagene Anmeldeversuche bei Leitstand",
            "Hallo {name},\n\nin den letzten {minutes} Minuten wurde {failures}-mal vergeblich versucht, sich mit "
            "Ihrer E-Mail-Adresse bei Leitstand anzumelden, auch von anderen Adressen aus.\n\n"
            "Ihr Konto ist nicht gesperrt: Sie selbst melden sich wie gewohnt an. Waren das nicht Sie, wählen Sie "
            "ein neues, langes Passwort und richten Sie einen zweiten Faktor ein:\n{link}\n",
        ),
        "en": (
            "Failed login attempts at Leitstand",
            "Hello {name},\n\nin the last {minutes} minutes, someone tried {failures} times without success to log "
            "in to Leitstand with your e-mail address, also from other addresses.\n\n"
            "Your account is not locked: you log in as usual. If that was not you, choose a new, long password "
            "and set up a second factor:\n{link}\n",
        ),
    },
    "token_expiring": {
        "de": (
            "Ihr Leitstand-API-Token läuft bald ab",
            "Hallo {name},\n\nIhr API-Token „{token}“ läuft am {when} ab. Danach weist Leitstand jede Anfrage mit ihm "
            "ab, und die Anbindung, die es nutzt, steht still.\n\nLegen Sie rechtzeitig ein neues Token an, tragen Sie "
            "es in der Anbindung ein und widerrufen Sie dann das alte:\n{link}\n",
        ),
        "en": (
            "Your Leitstand API token expires soon",
            "Hello {name},\n\nyour API token “{token}” expires on {when}. After that Leitstand refuses every request "
            "made with it, and the integration that uses it stops.\n\nCreate a new token in time, enter it in the "
            "integration and then revoke the old one:\n{link}\n",
        ),
    },
    "new_browser": {
        "de": (
            "Neue Anmeldung bei Ihrem Leitstand-Konto",
            "Hallo {name},\n\nIhr Konto wurde in einem Browser angemeldet, in dem es noch nie benutzt wurde.\n\n"
            "Zeit: {when}\nVon der Adresse: {address}\nBrowser: {browser}\n\n"
            "Waren Sie das, ist nichts zu tun. Wenn nicht, melden Sie diese Sitzung ab, ändern Sie Ihr Passwort und "
            "richten Sie einen zweiten Faktor ein:\n{link}\n",
        ),
        "en": (
            "New sign-in to your Leitstand account",
            "Hello {name},\n\nyour account was signed in to from a browser it was never used in before.\n\n"
            "Time: {when}\nFrom the address: {address}\nBrowser: {browser}\n\n"
            "If that was you, there is nothing to do. If not, end that session, change your password and set up "
            "a second factor:\n{link}\n",
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
    send_mail(settings, to, *templated(template, language, **values))


def templated(template: str, language: str, **values: object) -> tuple[str, str]:
    """A message's subject and body in the recipient's language (English if it has none)."""
    subject, body = MESSAGES[template].get(language, MESSAGES[template]["en"])
    return subject, body.format(**values)
