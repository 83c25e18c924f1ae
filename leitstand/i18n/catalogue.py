"""The catalogues: English message ids, German catalogues per area (locale/de/LC_MESSAGES/*.po),
merged at first use.

The catalogues are read from the .po sources directly, so no compiled .mo file is
ever committed or forgotten. The portal's pages, the API's problems, mails, PDFs and the
domains' refusals all use the same ones. Which language a request gets is in negotiation.py.
"""

from __future__ import annotations

from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"


class _Catalogue(NullTranslations):
    def __init__(self, messages: dict[str, str], plurals: dict[tuple[str, int], str], plural_rule: object,
                 in_context: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self._messages = messages
        self._plurals = plurals
        self._plural_rule = plural_rule
        self._in_context = in_context

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        index = int(self._plural_rule(n)) if callable(self._plural_rule) else int(n != 1)
        return self._plurals.get((singular, index)) or (singular if n == 1 else plural)

    def pgettext(self, context: str, message: str) -> str:
        # A context only where one place needs another German word; elsewhere the plain text holds.
        return self._in_context.get((context, message)) or self.gettext(message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return self.ngettext(singular, plural, n)


@cache
def translations(language: str) -> NullTranslations:
    if language == "en" or language not in LANGUAGES:
        return NullTranslations()
    messages: dict[str, str] = {}
    plurals: dict[tuple[str, int], str] = {}
    in_context: dict[tuple[str, str], str] = {}
    plural_rule: object = None
    for po_file in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            catalog = read_po(source, locale=language)
        plural_rule = lambda n, expr=catalog.plural_expr: eval(expr, {"n": n})  # noqa: E731, S307 - babel's own plural formula
        for message in catalog:
            if not message.id or not message.string or message.fuzzy:
                continue
            if message.context and isinstance(message.id, str):
                in_context[(message.context, message.id)] = message.string
            elif isinstance(message.id, tuple):
                for index, text in enumerate(message.string):
                    if text:
                        plurals[(message.id[0], index)] = text
            else:
                messages[message.id] = message.string
    return _Catalogue(messages, plurals, plural_rule, in_context)


class Message:
    """An English message id with the values of its placeholders (`%(name)s`), put into words
    once the reader's language is known: a problem is raised long before its answer is written.
    A value that is a Message itself (a thing's name) is translated too.

    `context` (the catalogue's msgctxt) picks the German text of one place where the same
    English word reads differently there, such as the inspection book's "Address" (Anschrift);
    so no placeholder may be called `context`."""

    __slots__ = ("context", "id", "values")

    def __init__(self, id: str, /, *, context: str | None = None, **values: object) -> None:  # noqa: A002 - gettext's own word
        self.id = id
        self.context = context
        self.values = values

    def in_language(self, language: str) -> str:
        catalogue = translations(language)
        text = catalogue.pgettext(self.context, self.id) if self.context else catalogue.gettext(self.id)
        if not self.values:
            return text
        return text % {name: value.in_language(language) if isinstance(value, Message) else value
                       for name, value in self.values.items()}

    def __str__(self) -> str:
        return self.in_language("en")

    def __repr__(self) -> str:
        context = f", context={self.context!r}" if self.context else ""
        return f"Message({self.id!r}{context}, **{self.values!r})"


def in_language(text: object, language: str) -> str:
    """A Message or a plain message id in `language`; anything else as it is."""
    if isinstance(text, Message):
        return text.in_language(language)
    return translations(language).gettext(text) if isinstance(text, str) and text else str(text)


def gettext_for(language: str):  # type: ignore[no-untyped-def]
    return translations(language).gettext


class Refusal(ValueError):
    """The base of the domains' refusals: `text` is shown to the user, an English message id or
    a Message, put into the reader's language where the answer is written. str() is the English.

    Domains raise these, never the web's problems; leitstand.web.errors answers each kind with
    its problem (a plain Refusal: 422 invalid), where an API route does not catch it itself."""

    def __init__(self, text: str | Message) -> None:
        super().__init__(str(text))
        self.text = text


class NotFound(Refusal):
    """No such record, or one the reader may not see: the two read alike, so that nobody can
    probe for what exists. `what` names the kind of record (a message id, e.g. "device")."""

    def __init__(self, what: str = "resource", text: str | Message | None = None) -> None:
        super().__init__(text or Message("No such %(what)s, or not visible to you.", what=Message(what)))
        self.what = what


class Forbidden(Refusal):
    """The reader is known, but may not do this."""


class Conflict(Refusal):
    """The request is valid, but the record's state does not allow it now (claimed already)."""


class Throttled(Refusal):
    """Too many attempts: try again after `retry_after_seconds`. `kind` tells clients the
    throttles apart (e.g. "claim-throttled")."""

    def __init__(self, kind: str, text: str | Message, retry_after_seconds: int) -> None:
        super().__init__(text)
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds
