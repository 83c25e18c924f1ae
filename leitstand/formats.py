"""Dates, times, numbers and quantities as people read them, in one place (Babel).

Pages, mails, notifications and PDFs all format through these functions, so a time reads the
same everywhere and German readers get decimal commas:

    format_moment(at, zone, language)         "03.12.2026, 14:05 MEZ"   /  "2026-12-03 14:05 CET"
    format_day(day, language)                 "03.12.2026"              /  "2026-12-03"
    format_number(value, language, digits=0)  "1.235"  (digits=1: "1.234,5")  /  "1,235"
    format_quantity(value, unit, language)    "21,5 °C", "87 %"         /  "21.5 °C", "87 %"

`at` is an aware datetime (stored times are UTC); it is shown in `zone` (an IANA name such as
"Europe/Berlin": the viewer's organisation's zone) with the zone's abbreviation, so a reader
never has to guess whether a time is local or UTC. `None` gives `empty` ("" unless asked
otherwise), so templates need no `if`. Languages other than "de" read as English.

Templates use them as filters (leitstand.portal.pages registers them), reading the page's
`language` and `time_zone` from the template context:

    {{ job.created_at|moment }}  {{ license.ends_on|day }}  {{ value|number(1) }}  {{ value|quantity("°C") }}

Counted nouns are no business of this module: use ngettext ("%(num)s value", "%(num)s values", n)
with the count formatted by format_number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

# The order each language reads a date in; English keeps the unambiguous ISO order the portal
# has always shown rather than Babel's month-first "12/3/26".
_MOMENT_PATTERNS = {"de": "dd.MM.yyyy, HH:mm", "en": "yyyy-MM-dd HH:mm"}
_DAY_PATTERNS = {"de": "dd.MM.yyyy", "en": "yyyy-MM-dd"}


def _language(language: str | None) -> str:
    return language if language in _MOMENT_PATTERNS else "en"


@cache
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _zone_abbreviation(local: datetime, language: str) -> str:
    # Babel knows "MEZ"/"MESZ" for German; for English it has no short name of most European
    # zones and gives "+0100", where the zone database's own "CET"/"CEST" reads better.
    babel_name = format_datetime(local, "z", locale=language)
    if babel_name[:1] in "+-" and (own := local.tzname()) and own.isalpha():
        return own
    return babel_name


def format_moment(at: datetime | None, zone: str | None, language: str, *, seconds: bool = False, empty: str = "") -> str:
    """An instant as local date and time in `zone`, with the zone's abbreviation (and the
    seconds, for logs where they tell events apart)."""
    if at is None:
        return empty
    language = _language(language)
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(_zone(zone))
    pattern = _MOMENT_PATTERNS[language] + (":ss" if seconds else "")
    return f"{format_datetime(local, pattern, locale=language)} {_zone_abbreviation(local, language)}"


def format_interval(start: datetime | None, end: datetime | None, zone: str | None, language: str, *,
                    empty: str = "") -> str:
    """The interval a value covers, as local clock times: "10:00–10:15" (a quarter-hour energy
    value); with the start's date and zone in front when it ends on another day."""
    if start is None or end is None:
        return empty
    local_start, local_end = (moment.astimezone(_zone(zone)) for moment in (start, end))
    to = format_datetime(local_end, "HH:mm", locale=_language(language))
    if local_start.date() != local_end.date():
        return f"{format_moment(start, zone, language)}–{format_day(local_end.date(), language)} {to}"
    return f"{format_datetime(local_start, 'HH:mm', locale=_language(language))}–{to}"


def format_day(day: date | None, language: str, *, empty: str = "") -> str:
    """A calendar day (a licence's end, a due date) in the language's order."""
    if day is None:
        return empty
    language = _language(language)
    return format_date(day, _DAY_PATTERNS[language], locale=language)


def format_number(value: float | None, language: str, digits: int | None = 0, *, empty: str = "") -> str:
    """A number with the language's decimal and grouping marks, rounded to `digits` places with
    trailing zeros kept (so a column of readings lines up); `digits=None`: at most one place,
    without a trailing zero ("87", "21,5"). Anything not a number is shown as it is."""
    if value is None:
        return empty
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return str(value)
    decimals = "#" if digits is None else "0" * digits
    return format_decimal(value, format="#,##0" + ("." + decimals if decimals else ""), locale=_language(language))


def format_quantity(value: float | None, unit: str | None, language: str, digits: int | None = None, *,
                    empty: str = "") -> str:
    """A measured value with its unit ("21,5 °C", "87 %"), joined by a no-break space so they
    never wrap apart; `digits` as for format_number."""
    if value is None:
        return empty
    number = format_number(value, language, digits)
    return f"{number}\u00a0{unit}" if unit else number
