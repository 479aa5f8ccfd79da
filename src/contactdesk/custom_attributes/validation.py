"""Contacts' custom_attributes checked against the account's definitions (issue 4, item 2).

Only keys with a definition are checked; others stay free-form. A sent null is always allowed
(it clears the value). Accepted values are stored normalised:
- text: a string; a regex_pattern must match the whole value (RE2, patterns.py); a value whose
  stored pattern RE2 cannot use is refused, as it cannot be checked.
- number, currency, percent: a JSON number or a numeric string, stored as a number (an int
  when the text is integral, like "12"); NaN and infinities are refused.
- link: an http(s) URL.
- date: an ISO 8601 date or datetime, stored as "YYYY-MM-DD"; a datetime with an offset is
  converted to UTC first, one without is taken as it is.
- list: one of attribute_values, case-sensitive.
- checkbox: a boolean or "true"/"false" (any case), stored as a boolean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any, cast

import sqlalchemy as sa

from contactdesk.custom_attributes import patterns
from contactdesk.driver import BoundedCache, ReadConnection
from contactdesk.models import CustomAttributeDefinition
from contactdesk.models.custom_attribute import CONTACT_ATTRIBUTE
from contactdesk.models.tenancy import tenant_select
from contactdesk.values import MAX_URL, is_http_url, iso_date, parse_bool, parse_number


class Invalid(Exception):
    pass


_DEFINITIONS = cast(sa.Table, CustomAttributeDefinition.__table__)
_CONTACT_DEFINITIONS = tenant_select(
    sa.bindparam("account_id", type_=sa.BigInteger), *_DEFINITIONS.c
).where(_DEFINITIONS.c.attribute_model == CONTACT_ATTRIBUTE)
_CONTACT_DEFINITIONS_OF_KEYS = _CONTACT_DEFINITIONS.where(
    _DEFINITIONS.c.attribute_key.in_(sa.bindparam("keys", expanding=True, type_=sa.String))
)


async def contact_definitions(
    conn: ReadConnection, account_id: int, keys: Collection[str] | None = None
) -> dict[str, Any]:
    """The account's contact attribute definitions by key (only those of keys, if given), as
    rows (read by column name, as the model). Both statements are built once (building one
    cost more than running it)."""
    params: dict[str, Any] = {"account_id": account_id}
    statement = _CONTACT_DEFINITIONS
    if keys is not None:
        if not keys:
            return {}
        statement = _CONTACT_DEFINITIONS_OF_KEYS
        params["keys"] = list(keys)
    rows = await conn.fetch(statement, params)
    return {d.attribute_key: d for d in rows}


def _text(definition: CustomAttributeDefinition, value: Any) -> str:
    key = definition.attribute_key
    if not isinstance(value, str):
        raise Invalid(f"Custom attribute {key} must be a string")
    pattern = definition.regex_pattern
    if not pattern:
        return value
    compiled = patterns.compile_pattern(pattern)
    if compiled.problem is not None:
        # Stored before patterns were held to RE2's bounds: the value cannot be checked.
        raise Invalid(
            f"Custom attribute {key} can't be checked against its pattern: {compiled.problem}"
        )
    if not compiled.fullmatch(value):
        if definition.regex_cue:
            raise Invalid(f"Custom attribute {key} is invalid: {definition.regex_cue}")
        raise Invalid(f"Custom attribute {key} must match the pattern {pattern}")
    return value


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


# The account's contact definitions as of a definitions_version (migration 0005), per
# database and account: a create or an update reads the version with a row it reads anyway
# and reads the definitions only when they changed. A definition is costed at
# DEFINITION_BYTES (a row of short strings; a pattern is at most 1 KB) plus its pattern.
DEFINITIONS_CACHE_BYTES = 8 * 1024 * 1024
DEFINITION_BYTES = 1024
_KEPT: BoundedCache[tuple[str, int], tuple[int, dict[str, Any]]] = BoundedCache(
    DEFINITIONS_CACHE_BYTES
)


async def definitions_as_of(conn: ReadConnection, account_id: int, version: int) -> dict[str, Any]:
    """The account's contact definitions, at least as new as version (the account's
    definitions_version read by the caller)."""
    key = (conn.database, account_id)
    found = _KEPT.get(key)
    if found is not None and found[0] >= version:
        return found[1]
    # Read after the version: as new as it or newer, so it may be kept under it (versions
    # only grow; a caller who read a later version reads them again).
    definitions = await contact_definitions(conn, account_id)
    cost = 256 + sum(DEFINITION_BYTES + len(d.regex_pattern or "") for d in definitions.values())
    _KEPT.put(key, (version, definitions), cost)
    return definitions


async def check_custom_attributes(
    conn: ReadConnection, account_id: int, sent: dict[str, Any], version: int | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The custom attributes to store, normalised, and one ("custom_attributes.<key>",
    message) problem per value its definition refuses. Keys without a definition pass as
    they are. version: the account's definitions_version, when the caller read it."""
    if not sent:
        return sent, []
    if version is None:
        definitions = await contact_definitions(
            conn, account_id, [k for k in sent if isinstance(k, str)]
        )
    else:
        every = await definitions_as_of(conn, account_id, version)
        definitions = {k: every[k] for k in sent if isinstance(k, str) and k in every}
    if not definitions:
        return sent, []
    if _pattern_work_is_heavy(definitions, sent):
        # RE2 releases the GIL while it compiles and matches: the loop serves other requests.
        return await asyncio.to_thread(check_values, definitions, sent)
    return check_values(definitions, sent)


def _pattern_work_is_heavy(
    definitions: dict[str, CustomAttributeDefinition], sent: dict[str, Any]
) -> bool:
    """Whether checking sent may compile a pattern or match more than INLINE_WORK steps."""
    work = 0
    for key, value in sent.items():
        definition = definitions.get(key)
        if (
            definition is None
            or definition.attribute_display_type != "text"
            or not definition.regex_pattern
            or not isinstance(value, str)
        ):
            continue
        found = patterns.cached(definition.regex_pattern)
        if found is None:
            return True
        work += found.cost(value)
    return work > patterns.INLINE_WORK


def _spend(definition: CustomAttributeDefinition, value: Any, budget: int) -> int:
    """The steps matching value against definition's pattern may take (0 without one);
    Invalid when they are more than the request has left (patterns.MATCH_BUDGET)."""
    if definition.attribute_display_type != "text" or not definition.regex_pattern:
        return 0
    if not isinstance(value, str):
        return 0
    compiled = patterns.compile_pattern(definition.regex_pattern)
    if compiled.problem is not None:
        return 0  # nothing is matched: check_value says it can't be checked
    cost = compiled.cost(value)
    if cost > budget:
        raise Invalid(
            f"Custom attribute {definition.attribute_key} is too long to check against its pattern"
        )
    return cost


def check_values(
    definitions: dict[str, CustomAttributeDefinition], sent: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """check_custom_attributes once the definitions are read (no I/O: it may run in a
    thread)."""
    normalised: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    budget = patterns.MATCH_BUDGET
    for key, value in sent.items():
        definition = definitions.get(key)
        if definition is None:
            normalised[key] = value
            continue
        try:
            budget -= _spend(definition, value, budget)
            normalised[key] = check_value(definition, value)
        except Invalid as error:
            problems.append((f"custom_attributes.{key}", str(error)))
    return normalised, problems
