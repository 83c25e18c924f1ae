"""Display text: what a user-supplied name, title, label or comment may hold.

Every input path of such text (API bodies, the device CSV import, the CLI, the tenant
import) passes it through `clean`, so that two names that look the same are the same
string, and no stored text can make what follows it read in another order.
"""

from __future__ import annotations

import unicodedata

# Embeddings, overrides and isolates reorder the text after them: "invoice\u202egpj.exe" shows as
# "invoiceexe.jpg". Refused rather than stripped: what would be stored differs from what the user saw.
REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Direction marks and zero-width spaces mean nothing in a name, but make equal-looking names differ.
# Pasted text carries them unseen (RTL keyboards insert marks, spreadsheets a BOM), so a refusal would
# name a character the user cannot find: they are stripped.
INVISIBLE = frozenset("\u200e\u200f\u061c\u200b\u2060\ufeff")
# ZWNJ keeps Persian and Indic letters from joining (می‌خواهم), ZWJ builds emoji sequences (👨‍👩‍👧) and
# Indic conjuncts. Refusing them would lock those users out; between Latin letters or at an end they
# only hide a difference ("Ad\u200dmin" is not "Admin"). So a joiner stays only between two characters
# of a script that uses joiners, and is stripped elsewhere.
JOINERS = frozenset("\u200c\u200d")

_JOINING_SCRIPTS = (
    (0x0600, 0x08FF),  # Arabic, Syriac, Thaana and their supplements (Persian, Urdu, Kurdish, ...)
    (0x0900, 0x0DFF),  # Devanagari to Sinhala
    (0xFB50, 0xFDFF), (0xFE70, 0xFEFC),  # Arabic presentation forms
)
_EMOJI_PARTS = frozenset("\ufe0f\u20e3")  # emoji presentation selector, keycap


class RefusedCharacter(ValueError):
    def __init__(self, char: str) -> None:
        self.character = f"U+{ord(char):04X}"
        self.char_name = unicodedata.name(char, "unnamed")
        super().__init__(f"{self.character} {self.char_name} is not allowed: it reorders the text around it")


def _uses_joiners(char: str) -> bool:
    code = ord(char)
    if any(low <= code <= high for low, high in _JOINING_SCRIPTS):
        return True
    # Pictographs (So), skin-tone modifiers (Sk) and the selectors that end an emoji.
    return char in _EMOJI_PARTS or unicodedata.category(char) in ("So", "Sk")


def clean(text: str, *, refuse_reordering: bool = True) -> str:
    """`text` in NFC, without invisible characters. A reordering character raises RefusedCharacter,
    or with `refuse_reordering=False` (for text no one can correct any more) is removed as well."""
    text = unicodedata.normalize("NFC", text)
    if refuse_reordering:
        for char in text:
            if char in REORDERING:
                raise RefusedCharacter(char)
    chars = [char for char in text if char not in INVISIBLE and char not in REORDERING]
    if not JOINERS.intersection(chars):
        return "".join(chars)
    return "".join(
        char for index, char in enumerate(chars)
        if char not in JOINERS
        or (0 < index < len(chars) - 1 and _uses_joiners(chars[index - 1]) and _uses_joiners(chars[index + 1]))
    )


def clean_file_name(name: str) -> str:
    """A file name as its owner gave it, fit to store and to send: display text (NFC, nothing
    invisible or reordering, see `clean`) without control characters, path separators as "_",
    blanks trimmed. Empty if nothing is left."""
    name = clean(name, refuse_reordering=False).replace("/", "_").replace("\\", "_")
    # Cc: C0/C1 controls (CR, LF, TAB, NUL, DEL, …); Zl/Zp: line and paragraph separators.
    return "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Zl", "Zp")).strip()
