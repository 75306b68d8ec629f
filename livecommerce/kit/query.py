"""Strict query-string parameters: `true`/`false` for a flag, plain digits for a number.

pydantic's lax mode reads a query flag `yes`, `on`, `1`, `t` or `y` as true (and `no`, `off`, `0` as
false), and a number `1.0`, `+1`, ` 1` or `1_000` as an integer. A client that sends any of those has
most likely made a mistake, and reading it as something it did not say hides the mistake: these
types refuse them with 422, under pydantic's own error types (`bool_parsing`, `int_parsing`), so the
messages come out in the reader's language like every other validation error.

Use them as the type of a `Query(...)` parameter, with `flag()` or `number()` for its description:

    certified_only: Annotated[QueryBool, Query(description=flag("Count only certified products."))] = False
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

FLAG_NOTE = "Only `true` or `false`."
NUMBER_NOTE = "Digits only."


def _strict_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value == "true":
        return True
    if value == "false":
        return False
    raise PydanticCustomError("bool_parsing", "Input should be `true` or `false`")


def _strict_int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise PydanticCustomError("int_parsing", "Input should be a whole number written with digits only")


QueryBool = Annotated[bool, BeforeValidator(_strict_bool)]
"""A query flag: exactly `true` or `false`."""

QueryInt = Annotated[int, BeforeValidator(_strict_int)]
"""A non-negative query number: ASCII digits only (no sign, point, space or underscore)."""


def flag(description: str) -> str:
    """A flag's description, saying which two values it takes."""
    return f"{description} {FLAG_NOTE}"


def number(description: str) -> str:
    """A number's description, saying how it is written."""
    return f"{description} {NUMBER_NOTE}"


# pydantic writes a bound that applies after a before-validator (as `Query(ge=1)` does on these
# types) under its Python name, `ge`, which no JSON Schema reader knows: the schema would say
# nothing of the bound the server enforces. `state_bounds` renames them to JSON Schema's words.
_JSON_SCHEMA_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def state_bounds(operation: dict[str, Any]) -> None:
    """Rename the Python-named bounds of an OpenAPI operation's numeric parameters to JSON Schema's (in place)."""
    for parameter in operation.get("parameters", []):
        param_schema = parameter.get("schema", {})
        for variant in [param_schema, *param_schema.get("anyOf", [])]:  # `int | None` is anyOf integer, null
            if variant.get("type") not in ("integer", "number"):
                continue
            for python_name, json_name in _JSON_SCHEMA_BOUNDS.items():
                if python_name in variant:
                    variant.setdefault(json_name, variant.pop(python_name))
