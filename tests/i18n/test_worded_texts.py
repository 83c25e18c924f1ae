"""Issue 16: mails and ticket mails take their words from the catalogues. These are the texts as they
read while each module still held its own German and English table, word for word: moving a text
into the catalogues must not change what anyone reads."""

from __future__ import annotations

import pytest

from leitstand.config import Settings
from leitstand.mail.sender import templated
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
