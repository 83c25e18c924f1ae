"""Every text of the portal has a German translation, and the language is chosen in the right order."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract
from jinja2.ext import babel_extract
from starlette.requests import Request

from leitstand import i18n
from leitstand.portal.pages import NAVIGATION, PORTAL_DIR

TEMPLATE_DIR = PORTAL_DIR / "templates"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def _template_messages(path: Path) -> list[tuple[int, str | tuple[str, ...]]]:
    with path.open("rb") as source:
        found = babel_extract(source, KEYWORDS, [], {"extensions": "jinja2.ext.i18n", "trimmed": "false"})
        return [(line, message) for line, _function, message, _comments in found if message]


def _python_messages(path: Path) -> list[tuple[int, str | tuple[str, ...]]]:
    with path.open("rb") as source:
        found = extract("python", source, keywords=KEYWORDS)
        return [(line, message) for line, message, _comments, _context in found if message]


def portal_messages() -> list[tuple[str, int, str | tuple[str, ...]]]:
    """(file, line, message id) of every translatable literal in the portal's templates and modules."""
    messages: list[tuple[str, int, str | tuple[str, ...]]] = []
    for path in sorted(TEMPLATE_DIR.rglob("*.html")):
        messages += [(str(path.relative_to(PORTAL_DIR)), line, message) for line, message in _template_messages(path)]
    for path in sorted(PORTAL_DIR.glob("*.py")):
        messages += [(str(path.relative_to(PORTAL_DIR)), line, message) for line, message in _python_messages(path)]
    # Navigation labels are message ids too; the layout translates them.
    messages += [("pages.py", 0, item.label) for item in NAVIGATION]
    return messages


def _has_german(catalogue, message: str | tuple[str, ...]) -> bool:  # type: ignore[no-untyped-def]
    if isinstance(message, tuple):
        singular, plural = message[0], message[1]
        return catalogue.ngettext(singular, plural, 1) != singular and catalogue.ngettext(singular, plural, 2) != plural
    return catalogue.gettext(message) != message


def test_the_scanner_finds_the_layout_texts() -> None:
    found = {message for _file, _line, message in portal_messages()}
    assert "Log out" in found and "Overview" in found


def test_every_portal_text_has_a_german_translation() -> None:
    i18n.translations.cache_clear()
    german = i18n.translations("de")
    # A few German words are spelt like their English ids; they count as translated in the catalogue.
    identical = _identical_translations()
    missing = sorted(
        {(file, line, message) for file, line, message in portal_messages()
         if not _has_german(german, message) and (message if isinstance(message, str) else message[0]) not in identical}
    )
    report = "\n".join(f"  {file}:{line}: {message!r}" for file, line, message in missing)
    assert not missing, f"{len(missing)} portal texts have no German translation in locale/de/LC_MESSAGES/*.po:\n{report}"


def _identical_translations() -> set[str]:
    from babel.messages.pofile import read_po

    same: set[str] = set()
    for po_file in (i18n.LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po"):
        with po_file.open("rb") as source:
            for message in read_po(source, locale="de"):
                if message.id and message.string and message.id == message.string:
                    same.add(message.id if isinstance(message.id, str) else message.id[0])
    return same


def test_every_german_catalogue_is_valid_gettext() -> None:
    from babel.messages.pofile import read_po

    for po_file in sorted((i18n.LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        text = po_file.read_text(encoding="utf-8")
        assert "Language: de" in text, po_file.name
        assert "Plural-Forms: nplurals=2; plural=(n != 1);" in text, po_file.name
        with po_file.open("rb") as source:
            read_po(source, locale="de")  # raises on a broken file


def _request(cookie: str | None = None, accept: str | None = None) -> Request:
    headers = []
    if cookie:
        headers.append((b"cookie", f"{i18n.LANGUAGE_COOKIE}={cookie}".encode()))
    if accept:
        headers.append((b"accept-language", accept.encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(("user", "cookie", "accept", "expected"), [
    ("en", "de", "de-DE,de;q=0.9", "en"),  # the user's own choice wins
    ("de", "en", "en-GB", "de"),
    (None, "en", "de-DE,de;q=0.9", "en"),  # then the cookie
    (None, "de", "en-US,en;q=0.8", "de"),
    (None, None, "en-US,en;q=0.8", "en"),  # then the browser
    (None, None, "fr-FR,fr;q=0.9,en;q=0.5", "en"),  # the first language the portal has
    (None, "xx", "de-AT", "de"),  # an unknown cookie is ignored
    (None, None, None, i18n.DEFAULT_LANGUAGE),
])
def test_negotiate_prefers_user_then_cookie_then_browser(user, cookie, accept, expected) -> None:  # type: ignore[no-untyped-def]
    assert i18n.negotiate(_request(cookie, accept), user) == expected
