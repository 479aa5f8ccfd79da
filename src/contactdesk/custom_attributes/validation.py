"""Contacts' custom_attributes checked against the account's definitions (issue 4, item 2).

Only keys with a definition are checked; others stay free-form. A sent null is always allowed
(it clears the value). Accepted values are stored normalised:
- text: a string; a regex_pattern must match the whole value.
- number, currency, percent: a JSON number or a numeric string, stored as a number (an int
  when the text is integral, like "12"); NaN and infinities are refused.
- link: an http(s) URL.
- date: an ISO 8601 date or datetime, stored as "YYYY-MM-DD"; a datetime with an offset is
  converted to UTC first, one without is taken as it is.
- list: one of attribute_values, case-sensitive.
- checkbox: a boolean or "true"/"false" (any case), stored as a boolean.
"""

from __future__ import annotations

import math
import re
from typing import Any

import regex
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contacts.fields import MAX_URL, ContactInput, is_http_url, iso_date, parse_bool
from contactdesk.models import CustomAttributeDefinition
from contactdesk.models.custom_attribute import CONTACT_ATTRIBUTE

# An administrator's pattern may backtrack for minutes on a short value (say (a+)+b); the
# regex module stops it, where re cannot, and the value is refused.
PATTERN_SECONDS = 0.05
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
INTEGER_RE = re.compile(r"[+-]?\d+", re.ASCII)
# Numbers are stored in JSON that must stay 64-bit (orjson and the filter's casts).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1


class Invalid(Exception):
    pass


async def contact_definitions(
    session: AsyncSession, account_id: int
) -> dict[str, CustomAttributeDefinition]:
    """The account's contact attribute definitions by key."""
    rows = await session.execute(
        sa.select(CustomAttributeDefinition).where(
            CustomAttributeDefinition.account_id == account_id,
            CustomAttributeDefinition.attribute_model == CONTACT_ATTRIBUTE,
        )
    )
    return {d.attribute_key: d for d in rows.scalars()}


def _text(definition: CustomAttributeDefinition, value: Any) -> str:
    key = definition.attribute_key
    if not isinstance(value, str):
        raise Invalid(f"Custom attribute {key} must be a string")
    pattern = definition.regex_pattern
    try:
        matched = not pattern or regex.fullmatch(pattern, value, timeout=PATTERN_SECONDS)
    except TimeoutError:
        raise Invalid(f"Custom attribute {key} is too slow to check against its pattern") from None
    if not matched:
        if definition.regex_cue:
            raise Invalid(f"Custom attribute {key} is invalid: {definition.regex_cue}")
        raise Invalid(f"Custom attribute {key} must match the pattern {pattern}")
    return value


def parse_number(value: Any) -> int | float:
    """A JSON number or a numeric string (ASCII digits), as an int when integral text or an
    int was sent; ValueError for anything else, OverflowError beyond 64-bit integers."""
    number: int | float
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and NUMBER_RE.fullmatch(value.strip()):
        text = value.strip()
        if not INTEGER_RE.fullmatch(text):
            number = float(text)
        elif len(text) > 21:  # beyond 64 bits whatever the sign and zeros; int() would be slow
            raise OverflowError(value)
        else:
            number = int(text)
    else:
        raise ValueError(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(value)
    if isinstance(number, int) and not MIN_INT <= number <= MAX_INT:
        raise OverflowError(value)
    return number


def _number(definition: CustomAttributeDefinition, value: Any) -> int | float:
    key = definition.attribute_key
    try:
        return parse_number(value)
    except OverflowError:
        raise Invalid(f"Custom attribute {key} is out of range") from None
    except ValueError:
        raise Invalid(f"Custom attribute {key} must be a number") from None


def _link(definition: CustomAttributeDefinition, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL or not is_http_url(value):
        raise Invalid(f"Custom attribute {definition.attribute_key} must be an http(s) URL")
    return value


def _date(definition: CustomAttributeDefinition, value: Any) -> str:
    message = f"Custom attribute {definition.attribute_key} must be an ISO 8601 date (YYYY-MM-DD)"
    if not isinstance(value, str):
        raise Invalid(message)
    try:
        return iso_date(value).isoformat()
    except (ValueError, OverflowError):
        raise Invalid(message) from None


def _list(definition: CustomAttributeDefinition, value: Any) -> str:
    choices = [str(choice) for choice in definition.attribute_values or []]
    if not isinstance(value, str) or value not in choices:
        raise Invalid(
            f"Custom attribute {definition.attribute_key} must be one of: {', '.join(choices)}"
        )
    return value


def _checkbox(definition: CustomAttributeDefinition, value: Any) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise Invalid(f"Custom attribute {definition.attribute_key} must be true or false")
    return parsed


CHECKS = {
    "text": _text,
    "number": _number,
    "currency": _number,
    "percent": _number,
    "link": _link,
    "date": _date,
    "list": _list,
    "checkbox": _checkbox,
}


def check_value(definition: CustomAttributeDefinition, value: Any) -> Any:
    """The value to store for a defined key; raises Invalid with the message to answer."""
    if value is None:
        return None
    check = CHECKS.get(definition.attribute_display_type)
    return value if check is None else check(definition, value)


async def check_contact_input(session: AsyncSession, account_id: int, data: ContactInput) -> None:
    """Validate and normalise data.values["custom_attributes"] in place; problems are appended
    to data.problems as ("custom_attributes.<key>", message). Runs once per input."""
    if data.definitions_checked:
        return
    data.definitions_checked = True
    sent = data.values.get("custom_attributes")
    if not sent:
        return  # absent, {} or rejected by the field checks already
    definitions = await contact_definitions(session, account_id)
    if not definitions:
        return
    normalised: dict[str, Any] = {}
    for key, value in sent.items():
        definition = definitions.get(key)
        if definition is None:
            normalised[key] = value
            continue
        try:
            normalised[key] = check_value(definition, value)
        except Invalid as error:
            data.problems.append((f"custom_attributes.{key}", str(error)))
    data.values["custom_attributes"] = normalised
