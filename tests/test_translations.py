"""The translation check: every text the API's problems, mails, PDFs, notifications and device
types use has a German and an English version, and the German catalogues agree with each other.

The portal's own templates and modules are checked in tests/portal/test_i18n.py; a walk through
the German portal in tests/portal/test_german_pages.py. English is the message id itself, so a
message id needs a German text; a device type's text table, keyed by language, needs both.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.extract import extract
from babel.messages.pofile import read_po

import leitstand
from leitstand.alarms.models import AlarmState
from leitstand.devicetypes.spec import Severity, shipped_types
from leitstand.mail.sender import MESSAGES
from leitstand.maintenance import pdf
from leitstand.notifications.channels import mail as mail_channel
from leitstand.notifications.channels.delivery import Channel
from leitstand.notifications.models import DeliveryOutcome
from leitstand.support.tickets import MAILS, STATUS_LABELS
from leitstand import i18n

PACKAGE = Path(leitstand.__file__).parent
# The functions that take a problem's title or detail (see leitstand.web.errors), by the
# positions of those arguments, counted from 1. Babel reads one position per name and pass.
PROBLEM_TEXT_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "Problem": (3, 4), "problem_response": (3, 4), "Message": (1,), "not_found": (1,), "forbidden": (1,),
    "conflict": (1,), "invalid": (1,), "unauthenticated": (1,), "throttled": (2,), "invalid_combination": (2,),
    "invalid_field": (2,), "get_visible": (4,), "respond": (4, 5), "only_file": (3,),
    # The domains' refusals (leitstand.i18n.Refusal), whose text becomes a problem's detail.
    "SecondFactorRefused": (1,), "LinkRefused": (1,), "TicketRuleError": (1,), "AttachmentRefused": (1,),
    "PasswordRefused": (2,), "CommandRefused": (2,),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w*)\}")


def _python_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "bench" not in path.parts)


def problem_messages() -> list[tuple[str, int, str]]:
    """(file, line, message id) of every literal title and detail of a problem, and of every Message."""
    passes = max(len(positions) for positions in PROBLEM_TEXT_ARGUMENTS.values())
    found: set[tuple[str, int, str]] = set()
    for path in _python_files():
        for index in range(passes):
            keywords = {name: (positions[index],) for name, positions in PROBLEM_TEXT_ARGUMENTS.items() if index < len(positions)}
            with path.open("rb") as source:
                for line, message, _comments, _context in extract("python", source, keywords=keywords):
                    if isinstance(message, str) and message:
                        found.add((str(path.relative_to(PACKAGE)), line, message))
    return sorted(found)


def _german_catalogue_entries(with_context: bool = False) -> list[tuple[str, str, str]]:
    """(file, message id, German text) of every translated entry of every German catalogue; an
    entry with a context (msgctxt) only `with_context`, its id then "context|message id"."""
    entries = []
    for po_file in sorted((i18n.LOCALE_DIR / "de" / "LC_MESSAGES").glob("*.po")):
        with po_file.open("rb") as source:
            for message in read_po(source, locale="de"):
                if not message.id or message.fuzzy:
                    continue
                message_id = message.id if isinstance(message.id, str) else message.id[0]
                if message.context:
                    if not with_context:
                        continue
                    message_id = f"{message.context}|{message_id}"
                text = message.string if isinstance(message.string, str) else message.string[0]
                if text:
                    entries.append((po_file.name, message_id, text))
    return entries


def _placeholders(text: str) -> set[str]:
    return {name for pair in PLACEHOLDER.findall(text) for name in pair if name}


def test_the_scanner_finds_problem_texts_in_every_shape() -> None:
    found = {message for _file, _line, message in problem_messages()}
    assert "Not found" in found  # a title
    assert "The user has already set a password; use a password reset instead." in found  # conflict(...)
    assert "You lack the permission %(permission)s." in found  # a Message
    assert "device" in found  # the name get_visible gives a record


def test_every_problem_text_has_a_german_translation() -> None:
    i18n.translations.cache_clear()
    german = i18n.translations("de")
    same_in_german = {message_id for _file, message_id, text in _german_catalogue_entries() if message_id == text}
    missing = [(file, line, message) for file, line, message in problem_messages()
               if german.gettext(message) == message and message not in same_in_german]
    report = "\n".join(f"  {file}:{line}: {message!r}" for file, line, message in missing)
    assert not missing, f"{len(missing)} problem texts have no German text in locale/de/LC_MESSAGES/problems.po:\n{report}"


def test_problem_texts_take_their_values_through_placeholders() -> None:
    # An f-string is a different message id for every value: no catalogue can hold it.
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name not in PROBLEM_TEXT_ARGUMENTS:
                continue
            positions = PROBLEM_TEXT_ARGUMENTS[name]
            texts = [node.args[position - 1] for position in positions if position <= len(node.args)]
            texts += [keyword.value for keyword in node.keywords if keyword.arg in ("title", "detail")]
            if any(isinstance(text, ast.JoinedStr) for text in texts):
                offenders.append(f"  {path.relative_to(PACKAGE)}:{node.lineno}: {name}(f\"...\")")
    assert not offenders, "Problem texts built with f-strings; use Message(\"... %(name)s ...\", name=...):\n" + "\n".join(offenders)


def test_every_german_text_keeps_the_placeholders_of_its_message_id() -> None:
    broken = [(file, message_id, text) for file, message_id, text in _german_catalogue_entries(with_context=True)
              if _placeholders(message_id) != _placeholders(text)]
    assert not broken, "\n".join(f"  {file}: {message_id!r} -> {text!r}" for file, message_id, text in broken)


def test_a_message_id_has_one_german_text_across_the_catalogues() -> None:
    # The catalogues are merged into one: of two different texts, one would silently win everywhere.
    texts: dict[str, dict[str, str]] = {}
    for file, message_id, text in _german_catalogue_entries(with_context=True):
        texts.setdefault(message_id, {})[file] = text
    clashes = {message_id: by_file for message_id, by_file in texts.items() if len(set(by_file.values())) > 1}
    assert not clashes, "\n".join(f"  {message_id!r}: {by_file}" for message_id, by_file in sorted(clashes.items()))


def test_every_stored_key_a_page_shows_through_gettext_has_a_german_text() -> None:
    # Templates show these as `_(alarm.severity)`: the scanner cannot see a message id in a variable.
    german = i18n.translations("de")
    keys = [*Severity, *AlarmState, *Channel, *DeliveryOutcome]
    missing = [key.value for key in keys if german.gettext(key.value) == key.value]
    assert not missing, missing


def _has_german(message: i18n.Message) -> bool:
    german = i18n.translations("de")
    text = german.pgettext(message.context, message.id) if message.context else german.gettext(message.id)
    return text != message.id or message.id in {message_id for _file, message_id, text in _german_catalogue_entries()
                                                 if message_id == text}


def test_every_mail_has_a_german_subject_and_body() -> None:
    # The message ids are held in tables, not in literal Message(...) calls the scanner reads.
    missing = [(kind, text) for table in (MESSAGES, MAILS) for kind, texts in table.items() for text in texts
               if not text.strip() or not _has_german(i18n.Message(text))]
    missing += [(status, label) for status, label in STATUS_LABELS.items() if not _has_german(i18n.Message(label))]
    assert not missing, missing


def test_every_pdf_and_notification_label_has_a_german_text() -> None:
    labels = [*pdf.LABELS.values(), *(i18n.Message(text) for text in mail_channel.FRAME.values()),
              *(i18n.Message(text) for text in mail_channel.SEVERITY_LABELS.values())]
    assert not [label for label in labels if not _has_german(label)]
    assert set(mail_channel.SEVERITY_LABELS) == set(Severity)


def test_a_context_gives_one_place_its_own_german_text() -> None:
    # The inspection book says "Anschrift" where the portal's site form says "Adresse".
    assert i18n.Message("Address", context=pdf.BOOK).in_language("de") == "Anschrift"
    assert i18n.Message("Address").in_language("de") == "Adresse"
    assert i18n.Message("Address", context=pdf.BOOK).in_language("en") == "Address"
    assert i18n.Message("Device", context=pdf.BOOK).in_language("de") == "Gerät"  # no entry of its own


def test_every_device_type_text_has_both_languages() -> None:
    def texts(value: object, where: str):  # type: ignore[no-untyped-def]
        if isinstance(value, dict):
            if set(value) == {"en", "de"}:
                yield where, value
            for key, item in value.items():
                yield from texts(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from texts(item, f"{where}[{index}]")

    def complete(text: str | list[str]) -> bool:
        return bool(text.strip()) if isinstance(text, str) else bool(text) and all(line.strip() for line in text)

    # A label is a text per language; troubleshooting steps are a list per language, step for step.
    incomplete = [where for spec in shipped_types().values() for where, text in texts(spec.model_dump(mode="json"), spec.key)
                  if not (complete(text["en"]) and complete(text["de"]))
                  or isinstance(text["en"], list) and len(text["en"]) != len(text["de"])]
    assert not incomplete, incomplete


def test_every_account_change_the_owner_is_mailed_about_has_a_german_text() -> None:
    from leitstand.users.service import ACCOUNT_CHANGE_TEXT, AccountChange

    german = i18n.translations("de")
    assert set(ACCOUNT_CHANGE_TEXT) == set(AccountChange)
    missing = [change.value for change, text in ACCOUNT_CHANGE_TEXT.items() if german.gettext(text.id) == text.id]
    assert not missing, missing
