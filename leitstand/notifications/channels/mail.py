"""Notification e-mails: plain text plus HTML, framed in the recipient's language.

The notification's title and body arrive already worded for the recipient; this
module adds the frame around them (severity label, link, why they get this mail)
in German or English, and sends over the SMTP server from the platform settings.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from jinja2 import Environment

from leitstand.config import Settings
from leitstand.i18n import LANGUAGES, Message
from leitstand.mail.sender import deliver
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.channels.delivery import Channel, DeliveryResult, Notification, Outcome, Stopwatch

# The severity as the mail names it (message ids; German in locale/de/LC_MESSAGES/notifications.po).
SEVERITY_LABELS = {Severity.critical: "Critical", Severity.major: "Major", Severity.minor: "Minor",
                   Severity.warning: "Warning"}

# The frame's texts by their place in the mail.
FRAME = {
    "severity": "Severity",
    "open": "Open in Leitstand",
    "why": "You receive this e-mail because of your notification settings in Leitstand. "
           "You can change them in the portal under “Notifications”.",
}


def _frame(language: str) -> dict[str, str]:
    return {place: Message(text).in_language(language) for place, text in FRAME.items()}


# The bar above the message: red for critical down to blue for a warning.
SEVERITY_COLOURS = {Severity.critical: "#b91c1c", Severity.major: "#c2410c", Severity.minor: "#a16207",
                    Severity.warning: "#1d4ed8"}

HTML_TEMPLATE = """<!doctype html>
<html lang="{{ language }}">
<body style="margin:0;padding:24px;background:#f4f4f5;font-family:system-ui,sans-serif;color:#18181b">
<div style="max-width:560px;margin:0 auto;background:#fff;border-top:6px solid {{ colour }};padding:24px">
<p style="margin:0 0 8px;font-size:13px;color:{{ colour }};font-weight:600">{{ frame.severity }}: {{ severity }}</p>
<h1 style="margin:0 0 16px;font-size:20px">{{ title }}</h1>
<p style="margin:0 0 24px;white-space:pre-line">{{ body }}</p>
{% if url %}<p style="margin:0 0 24px"><a href="{{ url }}" style="background:#18181b;color:#fff;padding:10px 16px;text-decoration:none;border-radius:4px">{{ frame.open }}</a></p>{% endif %}
<p style="margin:0;font-size:12px;color:#71717a">{{ frame.why }}</p>
</div>
</body>
</html>
"""

# Escaped, since titles and bodies carry device and site names that customers type in.
_html_template = Environment(autoescape=True).from_string(HTML_TEMPLATE)


def _text_body(frame: dict[str, str], severity: str, notification: Notification, url: str) -> str:
    lines = [notification.title, f"{frame['severity']}: {severity}", "", notification.body, ""]
    if url:
        lines += [f"{frame['open']}: {url}", ""]
    lines += ["-- ", frame["why"]]  # "-- " lets mail programs recognise and dim the footer
    return "\n".join(lines) + "\n"


def compose_email(settings: Settings, to: str, notification: Notification, language: str) -> EmailMessage:
    language = language if language in LANGUAGES else "en"
    frame = _frame(language)
    severity = Message(SEVERITY_LABELS[notification.severity]).in_language(language)
    # Only web links: anything else (javascript:, data:) has no business in a button.
    url = notification.url if notification.url.startswith(("https://", "http://")) else ""
    values = {"language": language, "frame": frame, "severity": severity, "title": notification.title,
              "body": notification.body, "url": url, "colour": SEVERITY_COLOURS[notification.severity]}
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"[{severity}] {notification.title}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="leitstand")
    # RFC 3834: tells mail servers and out-of-office responders not to reply to it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_text_body(frame, severity, notification, url))
    message.add_alternative(_html_template.render(values), subtype="html")
    return message


def _refusal_code(error: smtplib.SMTPException) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return next((code for code, _ in error.recipients.values()), None)
    return getattr(error, "smtp_code", None)


def send_email(
    settings: Settings, to: str, notification: Notification, *, language: str, timeout: float = 10.0
) -> DeliveryResult:
    """Send one notification e-mail over the SMTP server in the settings (the same one `leitstand.mail` uses)."""
    stopwatch = Stopwatch()
    message = compose_email(settings, to, notification, language)
    try:
        deliver(settings, message, timeout)
    except smtplib.SMTPException as error:
        return stopwatch.result(Channel.email, to, Outcome.failed, status_code=_refusal_code(error),
                                detail=f"SMTP refused: {error}")
    except OSError as error:
        return stopwatch.result(Channel.email, to, Outcome.failed, detail=f"SMTP server unreachable: {error}")
    return stopwatch.result(Channel.email, to, Outcome.delivered, status_code=250)
