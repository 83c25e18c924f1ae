"""Numbers as JSON has them: a field typed `Number` or `Integer` takes a JSON number and nothing
that pydantic's lax mode would turn into one.

Lax mode takes true for 1 and "5" for 5. A client sending those has a bug; storing a guess would
hide it. The API's schemas and the alarm rules (stored as JSON, edited through the API) share these
types, so they sit below both.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _json_number(value: Any) -> Any:
    # bool is an int in Python, not a number in JSON; "5" is text. 5.0 is an integer to JSON Schema too.
    if isinstance(value, bool | str):
        raise PydanticCustomError("number_type", "Input should be a number, not {kind}",
                                  {"kind": "a boolean" if isinstance(value, bool) else "text"})
    return value


# Place it last in an Annotated, after the bounds: bounds put after a validator reach the schema
# as "ge"/"le", which JSON Schema does not know, instead of minimum/maximum.
JsonNumber = BeforeValidator(_json_number)
Number = Annotated[float, JsonNumber]
Integer = Annotated[int, JsonNumber]
