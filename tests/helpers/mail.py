"""Mailed links: asking for a reset or invitation mail, and reading its link from what the `smtp` sink caught."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

LINK = re.compile(r"https?://\S+?/(?:invitation|password-reset)\?token=[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class MailedLink:
    url: str  # as mailed, with the installation's public URL
    path: str  # "/password-reset"
    token: str

    @property
    def relative(self) -> str:
        """Path and query, to open on a test server that listens somewhere else than the public URL."""
        return f"{self.path}?token={self.token}"


def text_of(message: Message) -> str:
    return message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")


def link_to(smtp, address: str) -> MailedLink:  # type: ignore[no-untyped-def]
    """The link in the one mail the sink holds for an address."""
    [message] = smtp.to(address)
    match = LINK.search(text_of(message))
    assert match, text_of(message)
    parts = urlsplit(match.group(0))
    return MailedLink(url=match.group(0), path=parts.path, token=parts.query.removeprefix("token="))


def mailed_reset_link(client, smtp, email: str) -> MailedLink:  # type: ignore[no-untyped-def]
    """Ask for a password reset the way the portal does, and return the mailed link."""
    smtp.messages.clear()
    assert client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
    return link_to(smtp, email)


def mailed_invitation_link(world, smtp, email: str, name: str = "Greta Neu") -> tuple[int, MailedLink]:  # type: ignore[no-untyped-def]
    """Alpha's operator invites a German-speaking colleague; (user id, mailed link)."""
    smtp.messages.clear()
    body = {"tenant_id": world.alpha.customer.id, "email": email, "display_name": name, "language": "de"}
    invited = world.as_user("alpha_operator").post("/api/v1/users", json=body)
    assert invited.status_code == 201, invited.text
    return invited.json()["id"], link_to(smtp, email)
