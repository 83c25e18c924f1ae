"""Input types shared by every API schema.

Each bounds what the database can hold: no NUL characters (PostgreSQL rejects
them in text), lengths within the columns, IDs within a 32-bit integer, no NaN.
A bad value is then a 422 at the edge instead of an error deep in the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar, get_args

from fastapi import Path, Query
from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict,
                      StringConstraints, ValidationInfo, WithJsonSchema, field_validator)
from pydantic_core import PydanticCustomError

from leitstand import display_text
from leitstand.auth import password_policy
from leitstand.json_numbers import JsonNumber

MAX_ID = 2**31 - 1
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


def _password_length(value: str) -> str:
    try:
        password_policy.check_length(value)
    except password_policy.PasswordRefused as refused:
        raise PydanticCustomError(refused.code, str(refused)) from None
    return value


def _clean_display_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the string schema after this refuses it
    try:
        return display_text.clean(value)
    except display_text.RefusedCharacter as refused:
        raise PydanticCustomError("refused_character", "{character} {name} is not allowed: it reorders the text around it",
                                  {"character": refused.character, "name": refused.char_name}) from None


# Names, titles, labels and comments: NFC, invisible characters stripped, reordering ones refused
# (leitstand.display_text). Placed last in an Annotated, it runs before the lengths are checked;
# the pattern states the refusal (of display_text.REORDERING) in the schema.
DisplayText = BeforeValidator(_clean_display_text)
NO_CONTROL_OR_REORDERING = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069]*$"
_VISIBLE = r"[^\s\x00-\x1f\x85\u061c\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]"


def visible_text(allowed: str) -> str:
    r"""A pattern for text of `allowed` characters (a class) that keeps one once cleaned and stripped:
    one that is no space, control, invisible character or joiner. Text that is stripped to nothing
    is refused, so the schema must say so. \x85 and \ufeff are named as the schema's regex engine
    (ECMA) and the server's (Rust) disagree on them in \s."""
    return f"^{allowed}*{_VISIBLE}{allowed}*$"


SOMETHING_VISIBLE = visible_text(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\u202a-\u202e\u2066-\u2069]")

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=SOMETHING_VISIBLE), DisplayText]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL_OR_REORDERING), DisplayText]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                         pattern=SOMETHING_VISIBLE), DisplayText]
# A name for a person's own key or token; address parts. As long as their columns.
KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                           pattern=SOMETHING_VISIBLE), DisplayText]
PostalCode = Annotated[str, StringConstraints(max_length=20, pattern=NO_CONTROL_OR_REORDERING), DisplayText]
City = Annotated[str, StringConstraints(max_length=100, pattern=NO_CONTROL_OR_REORDERING), DisplayText]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL)]
# The length rule of leitstand.auth.password_policy, with its codes; the rest of the rule (common
# passwords, the own e-mail address) is checked where the password is set (users.service.set_password).
NewPassword = Annotated[str, StringConstraints(pattern=NO_CONTROL), AfterValidator(_password_length),
                        Field(json_schema_extra={"minLength": password_policy.MIN_LENGTH,
                                                 "maxLength": password_policy.MAX_LENGTH})]
# An address that is only looked up (login, reset request), never mailed to unasked. Not validated
# as deliverable: accounts created with the CLI may use LAN domains such as .local or .lan.
LoginEmail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254, pattern=NO_CONTROL)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Language = Annotated[str, StringConstraints(pattern=r"^(de|en)$")]


# --- numbers, flags, days and times: the JSON kinds the schema states, nothing looser ------------
# pydantic's lax mode takes true for a number, 0 for a flag and "0.5" for a time (seconds since
# 1970). A client sending those has a bug; storing a guess would hide it. Numbers are checked by
# leitstand.json_numbers. FastAPI hands body fields to pydantic as parsed JSON and query values as
# strings, so days and times are checked as ISO 8601 strings (or date objects, from Python callers)
# for both.

Flag = Annotated[bool, Strict()]
RefId = Annotated[int, Field(ge=1, le=MAX_ID), JsonNumber]
Latitude = Annotated[float, Field(ge=-90, le=90), JsonNumber]
Longitude = Annotated[float, Field(ge=-180, le=180), JsonNumber]

# Years 2000 to 2199: beyond them a date is a typo, and some would overflow on the way to UTC.
_YEAR = "(?:20|21)[0-9]{2}"
_DAY = f"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
DAY_PATTERN = f"^{_DAY}$"
TIME_PATTERN = (f"^{_DAY}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{{1,6}})?"
                "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$")


def _iso(pattern: str, python_type: type, example: str) -> BeforeValidator:
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        if isinstance(value, python_type):
            if not 2000 <= value.year <= 2199:
                raise PydanticCustomError("out_of_range", "must lie between the years 2000 and 2199")
            return value
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise PydanticCustomError("iso_8601", "must be ISO 8601 like {example}, in the years 2000 to 2199",
                                      {"example": example})
        return value

    return BeforeValidator(check)


# A calendar day (a contract's, an inspection's, a period's first or last).
ContractDate = Annotated[date, _iso(DAY_PATTERN, date, "2026-03-01"),
                         WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN})]
# An instant: the offset is required, so the same string never means two moments.
Moment = Annotated[AwareDatetime, _iso(TIME_PATTERN, datetime, "2026-03-01T08:00:00+01:00"),
                   WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN})]

SearchText = Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL, description="Substring to search for.")]
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """Which rows of a list to read: `limit` of them after skipping `offset`.

    The API builds it from a list's `limit` and `offset` query parameters (Limit, Offset), a
    portal page from the offset in its pager links and its own page size.
    """

    limit: int
    offset: int = 0

    @classmethod
    def numbered(cls, limit: int, offset: int, page_number: int | None) -> PageRequest:
        """A portal page's rows from its `offset`, or from the page number of an older link
        (`?page=3`), which is still followed: bookmarks outlive the pager that made them."""
        if page_number is not None and offset == 0:
            offset = (page_number - 1) * limit
        return cls(limit, offset)


class Page(BaseModel, Generic[T]):
    """One page of a list: its items, and where they lie among all `total` rows.

    The API returns it as JSON; the portal's pager reads the same object through the
    properties below (which are not fields, so the API's schema does not show them).
    """

    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def previous(self) -> int | None:
        """The offset of the page before, None on the first."""
        return max(self.offset - self.limit, 0) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        """The offset of the page after, None on the last."""
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first row, as the pager counts."""
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    @property
    def number(self) -> int:
        """The page's number (from 1), for a pager that says "page 2 of 5"."""
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        """How many pages of `limit` rows the list fills; one when it is empty."""
        return max(1, -(-self.total // self.limit))


# An http(s) URL without spaces or control characters (a webhook's, a network server's).
HTTP_URL = r"^https?://[^\s\x00-\x1f\x7f-\x9f\ufeff]+$"
WebUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000, pattern=HTTP_URL)]


class Public(BaseModel):
    """Base for response models: read from ORM objects, never from secret columns."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


# The default of a Patch field: "left out, keep the stored value". Defaults are not validated, so
# this never meets the field's type; an explicit null does, and fails it unless the type says `| None`.
UNCHANGED: Any = None


def _nullable(annotation: Any) -> bool:
    return annotation is Any or type(None) in get_args(annotation)


class Patch(Input):
    """Base for PATCH bodies. Declare each field with its real type and `= UNCHANGED`.

    A field left out keeps its value (dump the changes with `exclude_unset`). Null is a value:
    accepted only where the field is really nullable and declared `X | None` (a device's site_id:
    take it off its site), refused with a 422 naming the field everywhere else, so a list, a name
    or a flag can never be set to null.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_nullable(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name is not None and not _nullable(cls.model_fields[info.field_name].annotation):
            raise PydanticCustomError("null_not_allowed", "may not be null; leave the field out to keep its value")
        return value


def model_dump_changes(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)
