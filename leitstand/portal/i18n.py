"""Languages of the portal: English message ids, German catalogues per area, merged at start-up.

The catalogues are read from the .po sources directly, so no compiled .mo file is
ever committed or forgotten.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from gettext import NullTranslations
from starlette.requests import Request

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LANGUAGE_COOKIE = "leitstand_lang"


class _Catalogue(NullTranslations):
    def __init__(self, messages: dict[str, str], plurals: dict[tuple[str, int], str], plural_rule: object) -> None:
        super().__init__()
        self._messages = messages
        self._plurals = plurals
        self._plural_rule = plural_rule

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        index = int(self._plural_rule(n)) if callable(self._plural_rule) else int(n != 1)
        return self._plurals.get((singular, index)) or (singular if n == 1 else plural)

    def pgettext(self, context: str, message: str) -> str:
        return self.gettext(message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.ngettext(singular, plural, n)


@cache
def translations(language: str) -> NullTranslations:
    if language == "en" or language not in LANGUAGES:
        return NullTranslations()
    messages: dict[str, str] = {}
    plurals: dict[tuple[str, int], str] = {}
    plural_rule: object = None
    for po_file in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            catalog = read_po(source, locale=language)
        plural_rule = lambda n, expr=catalog.plural_expr: eval(expr, {"n": n})  # noqa: E731, S307 - babel's own plural formula
        for message in catalog:
            if not message.id or not message.string or message.fuzzy:
                continue
            if isinstance(message.id, tuple):
                for index, text in enumerate(message.string):
                    if text:
                        plurals[(message.id[0], index)] = text
            else:
                messages[message.id] = message.string
    return _Catalogue(messages, plurals, plural_rule)


def negotiate(request: Request, user_language: str | None) -> str:
    """A logged-in user's own choice, then the language cookie, then the browser's preference."""
    if user_language in LANGUAGES:
        return user_language  # type: ignore[return-value]
    if (chosen := request.cookies.get(LANGUAGE_COOKIE)) in LANGUAGES:
        return chosen  # type: ignore[return-value]
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    return translations(language).gettext
