"""File downloads: the one place that writes a Content-Disposition header.

A file name is sent twice, as RFC 6266 asks: `filename*=UTF-8''…` (RFC 5987 percent-encoding)
carries the name exactly, in any script; `filename="…"` is a readable ASCII stand-in for
clients that do not read the first. HTTP header values are Latin-1 on the wire, so a name
such as "Prüfbericht €.png" put into the header as it is cannot be encoded at all, and CR/LF
in a name would start a header of its own.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from leitstand.display_text import clean_file_name

FALLBACK_STEM = "download"
# Letters that NFKD does not take apart, spelled as their readers would in ASCII.
_SPELLED = str.maketrans({"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                          "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "€": "EUR"})
# Replaced in the ASCII stand-in: a run of anything beyond printable ASCII; the quote and the
# backslash, which end or escape the quoted string; "%", which some clients decode (RFC 6266 appendix D).
_NOT_IN_FALLBACK = re.compile(r'[^\x20-\x7e]+|["\\%]')
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")


def content_disposition(file_name: str) -> str:
    """The Content-Disposition value of a download named `file_name`: pure ASCII, any name."""
    name = clean_file_name(file_name) or FALLBACK_STEM
    fallback = ascii_fallback(name)
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def ascii_fallback(name: str) -> str:
    """The name in printable ASCII: accents dropped (ü → u), a few letters spelled out (ß → ss,
    € → EUR), anything else a single "_"; "download" where no letter or digit would be left."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_SPELLED))
    kept = _NOT_IN_FALLBACK.sub("_", "".join(char for char in decomposed if not unicodedata.combining(char)))
    extension = match.group(0) if (match := _EXTENSION.search(kept)) else ""
    stem = kept[:len(kept) - len(extension)]
    return (stem if any(char.isalnum() for char in stem) else FALLBACK_STEM) + extension
