"""Issue 16: mails, ticket mails, notifications, the inspection book and the alarms worded in code
take their words from the catalogues. These are the texts as they read while each module still held
its own German and English table, word for word: moving a text into the catalogues must not change
what anyone reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leitstand.alarms.change import AlarmChange
from leitstand.alarms.evaluation import _unknown_code_steps, _unknown_code_title
from leitstand.config import Settings
from leitstand.devicetypes.spec import Severity
from leitstand.maintenance import pdf
from leitstand.maintenance.due_alarms import _titles
from leitstand.maintenance.traffic_light import Light
from leitstand.mail.sender import templated
from leitstand.notifications.channels.delivery import Notification
from leitstand.notifications.channels.mail import compose_email
from leitstand.notifications.wording import alarm_notification, sample_notification
from leitstand.support.models import Ticket, TicketStatus
from leitstand.support.tickets import ticket_mail

SETTINGS = Settings(database_url="sqlite://", secret_key="test-installation-secret", public_url="http://localhost:8000/")
LINK = "http://localhost:8000/set-password"

INVITATION = {
    "de": ("Einladung zu Leitstand",
           f"Hallo Anna,\n\nSie wurden zu Leitstand eingeladen. Legen Sie Ihr Passwort hier fest:\n{LINK}\n\n"
           "Der Link ist 48 Stunden gültig.\n"),
    "en": ("Your invitation to Leitstand",
           f"Hello Anna,\n\nYou have been invited to Leitstand. Set your password here:\n{LINK}\n\n"
           "The link is valid for 48 hours.\n"),
}
TOKEN_EXPIRING = {
    "de": ("Ihr Leitstand-API-Token läuft bald ab",
           "Hallo Anna,\n\nIhr API-Token „ERP“ läuft am 01.02.2026, 10:00 ab. Danach weist Leitstand jede Anfrage mit "
           "ihm ab, und die Anbindung, die es nutzt, steht still.\n\nLegen Sie rechtzeitig ein neues Token an, tragen "
           f"Sie es in der Anbindung ein und widerrufen Sie dann das alte:\n{LINK}\n"),
    "en": ("Your Leitstand API token expires soon",
           "Hello Anna,\n\nyour API token “ERP” expires on 01.02.2026, 10:00. After that Leitstand refuses every "
           "request made with it, and the integration that uses it stops.\n\nCreate a new token in time, enter it in "
           f"the integration and then revoke the old one:\n{LINK}\n"),
}


@pytest.mark.parametrize("language", ["de", "en"])
def test_account_mails_read_as_before(language: str) -> None:
    assert templated("invitation", language, name="Anna", link=LINK, hours=48) == INVITATION[language]
    assert templated("token_expiring", language, name="Anna", token="ERP", when="01.02.2026, 10:00",
                     link=LINK) == TOKEN_EXPIRING[language]


def test_a_language_without_texts_gets_the_english_mail() -> None:
    assert templated("invitation", "fr", name="Anna", link=LINK, hours=48) == INVITATION["en"]


TICKET_MAILS = {
    ("status", "de"): ("[Ticket #12] Status: wartet auf Kunde",
                       "Das Ticket #12 „Schranke klemmt“ hat jetzt den Status wartet auf Kunde.\n\n"
                       "http://localhost:8000/tickets/12\n"),
    ("status", "en"): ("[Ticket #12] Status: waiting for customer",
                       "Ticket #12 \"Schranke klemmt\" is now waiting for customer.\n\nhttp://localhost:8000/tickets/12\n"),
    ("comment", "de"): ("[Ticket #12] Neuer Kommentar",
                        "Bob schreibt zu Ticket #12 „Schranke klemmt“:\n\nZu 100% erledigt.\n\n"
                        "http://localhost:8000/tickets/12\n"),
    ("comment", "en"): ("[Ticket #12] New comment",
                        "Bob wrote on ticket #12 \"Schranke klemmt\":\n\nZu 100% erledigt.\n\n"
                        "http://localhost:8000/tickets/12\n"),
    ("sla_warning", "de"): ("[Ticket #12] Reaktionszeit läuft ab: 03.02.2026, 12:00",
                            "Die Reaktionszeit für Ticket #12 „Schranke klemmt“ (Klasse 2) endet am 03.02.2026, 12:00."
                            "\n\nhttp://localhost:8000/tickets/12\n"),
    ("sla_warning", "en"): ("[Ticket #12] Response time running out: 03.02.2026, 12:00",
                            "The response time for ticket #12 \"Schranke klemmt\" (class 2) ends at 03.02.2026, 12:00."
                            "\n\nhttp://localhost:8000/tickets/12\n"),
}


@pytest.mark.parametrize(("template", "language"), sorted(TICKET_MAILS))
def test_ticket_mails_read_as_before(template: str, language: str) -> None:
    ticket = Ticket(id=12, title="Schranke klemmt", status=TicketStatus.waiting_for_customer, ticket_class=2)
    mail = ticket_mail(SETTINGS, template, language, ticket, author="Bob", body="Zu 100% erledigt.",
                       due="03.02.2026, 12:00")
    assert mail == TICKET_MAILS[(template, language)]


RAISED = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
ESCALATION = {
    "de": ("Eskalation: B-1: Schranke klemmt",
           "Seit 30 Minuten nicht quittiert.\nParkhaus › Einfahrt\nSeit 01.02.2026, 10:30 MEZ\n\n"
           "Erste Schritte:\n1. Strom prüfen\n2. Neu starten\n3. Anrufen"),
    "en": ("Escalation: B-1: Boom stuck",
           "Not acknowledged for 30 minutes.\nParkhaus › Einfahrt\nSince 2026-02-01 10:30 CET\n\n"
           "First steps:\n1. Check power\n2. Restart\n3. Call"),
}


@pytest.mark.parametrize("language", ["de", "en"])
def test_an_escalation_reads_as_before(language: str) -> None:
    facts = AlarmChange(alarm_id=5, tenant_id=1, site_id=2, device_id=3, device_name="B-1", device_type_key="barrier",
                        severity="major", state="open", title="Boom stuck", title_de="Schranke klemmt",
                        steps_en=("Check power", "Restart", "Call", "Wait"),
                        steps_de=("Strom prüfen", "Neu starten", "Anrufen", "Warten"),
                        raised_at=RAISED, change="raised", location="Parkhaus › Einfahrt")
    notification = alarm_notification(facts, language, "http://h/", escalated_after_minutes=30,
                                      time_zone="Europe/Berlin")
    assert (notification.title, notification.body) == ESCALATION[language]


def test_the_webhook_test_reads_as_before() -> None:
    notification = sample_notification("http://h/")
    assert (notification.title, notification.body) == ("Test notification from Leitstand",
                                                        "If you read this, the webhook works.")


NOTIFICATION_MAIL = {
    "de": ("[Kritisch] Tor klemmt",
           "Tor klemmt\nSchweregrad: Kritisch\n\nSeit heute\n\nIn Leitstand öffnen: https://h/alarms/5\n\n-- \n"
           "Sie erhalten diese E-Mail wegen Ihrer Benachrichtigungseinstellungen in Leitstand. "
           "Ändern können Sie sie im Portal unter „Benachrichtigungen“.\n"),
    "en": ("[Critical] Tor klemmt",
           "Tor klemmt\nSeverity: Critical\n\nSeit heute\n\nOpen in Leitstand: https://h/alarms/5\n\n-- \n"
           "You receive this e-mail because of your notification settings in Leitstand. "
           "You can change them in the portal under “Notifications”.\n"),
}


@pytest.mark.parametrize("language", ["de", "en"])
def test_a_notification_mail_reads_as_before(language: str) -> None:
    notification = Notification(title="Tor klemmt", body="Seit heute", severity=Severity.critical,
                                url="https://h/alarms/5")
    message = compose_email(SETTINGS, "a@example.org", notification, language)
    subject, text = NOTIFICATION_MAIL[language]
    assert message["Subject"] == subject
    assert message.get_body(("plain",)).get_content() == text
    html = message.get_body(("html",)).get_content()
    assert f"{text.splitlines()[1]}</p>" in html and text.splitlines()[-1] in html


BOOK_LABELS = {
    "title": ("Inspection book", "Prüfbuch"), "device": ("Device", "Gerät"), "serial": ("Serial number", "Seriennummer"),
    "site": ("Site", "Standort"), "address": ("Address", "Anschrift"), "period": ("Period", "Zeitraum"),
    "created": ("Created", "Erstellt"), "plans": ("Maintenance plans", "Wartungspläne"), "plan": ("Plan", "Plan"),
    "rule": ("Rule", "Regel"), "due": ("Next due", "Nächste Fälligkeit"), "status": ("Status", "Status"),
    "entries": ("Inspections", "Prüfungen"), "none": ("No inspections in this period.", "Keine Prüfungen in diesem Zeitraum."),
    "technician": ("Technician", "Techniker"), "checklist": ("Checklist", "Checkliste"), "findings": ("Findings", "Befund"),
    "signature": ("Signed by", "Unterschrift"), "attachments": ("Attachments", "Anhänge"),
    "reading": ("Counter reading", "Zählerstand"), "ok": ("ok", "i. O."), "not_ok": ("not ok", "n. i. O."),
    "na": ("n/a", "entfällt"), "green": ("up to date", "aktuell"), "yellow": ("due soon", "bald fällig"),
    "red": ("overdue", "überfällig"), "page": ("Page", "Seite"),
}


def test_the_inspection_book_labels_read_as_before() -> None:
    assert set(pdf.LABELS) == set(BOOK_LABELS)
    assert {key: (pdf.text(key, "en"), pdf.text(key, "de")) for key in pdf.LABELS} == BOOK_LABELS


def test_maintenance_alarm_titles_read_as_before() -> None:
    assert _titles("Eigener Plan", Light.red) == ("Maintenance overdue: Eigener Plan", "Wartung überfällig: Eigener Plan")
    assert _titles("Eigener Plan", Light.yellow) == ("Maintenance due soon: Eigener Plan",
                                                     "Wartung bald fällig: Eigener Plan")


def test_the_unknown_code_alarm_reads_as_before() -> None:
    assert _unknown_code_title("0x7F", "Schranke B1", "de") == "Ereigniscode 0x7F fehlt im Katalog von Schranke B1"
    assert _unknown_code_title("0x7F", "Barrier B1", "en") == "Event code 0x7F is not in the catalogue of Barrier B1"
    assert _unknown_code_steps("0x7F", "Schranke B1", "barrier_b1", "de") == [
        "Beim Hersteller klären, was Code 0x7F bei Geräten vom Typ Schranke B1 bedeutet.",
        "Den Code mit Schweregrad, Titel und Schritten in den Katalog des Gerätetyps 'barrier_b1' aufnehmen.",
        "Diesen Alarm löschen, sobald der Katalog den Code enthält."]
    assert _unknown_code_steps("0x7F", "Barrier B1", "barrier_b1", "en") == [
        "Find out from the maker what code 0x7F of Barrier B1 devices means.",
        "Add it to the catalogue of the device type 'barrier_b1', with severity, title and steps.",
        "Clear this alarm once the catalogue lists the code."]
