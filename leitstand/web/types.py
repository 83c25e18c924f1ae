"""Input types shared by every API schema.

Each bounds what the database can hold: no NUL characters (PostgreSQL rejects
them in text), lengths within the columns, IDs within a 32-bit integer, no NaN.
A bad value is then a 422 at the edge instead of an error deep in the store.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_ID = 2**31 - 1
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"

ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]
RefId = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_CONTROL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_CONTROL)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=NO_CONTROL)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_CONTROL)]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=200, pattern=NO_CONTROL)]
# An address that is only looked up (login, reset request), never mailed to unasked. Not validated
# as deliverable: accounts created with the CLI may use LAN domains such as .local or .lan.
LoginEmail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254, pattern=NO_CONTROL)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Language = Annotated[str, StringConstraints(pattern=r"^(de|en)$")]


def _plausible(day: date) -> date:
    if not 2000 <= day.year <= 2199:
        raise ValueError("date must lie between 2000 and 2199")
    return day


ContractDate = Annotated[date, AfterValidator(_plausible)]

SearchText = Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL, description="Substring to search for.")]
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Public(BaseModel):
    """Base for response models: read from ORM objects, never from secret columns."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def model_dump_changes(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)
