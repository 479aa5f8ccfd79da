"""POST /contacts/filter, the parser: a payload of conditions into a shape and bound values
(contract §4.5); contacts/filter_sql.py turns the shape into SQL.

A payload is checked whole before any SQL is built; every problem is a 422 naming it. The SQL
of a filter depends only on its shape (keys, operators and how conditions are joined), never on
its values nor on how many a condition has: a condition's values travel as one bind parameter
(contacts/filter_sql.py), so statements are cached per shape and their number is bounded by
the keys, operators and joins alone (a single email or phone number for equal_to is a scalar
rather than a list: see UNIQUE_KEYS). `query_operator` joins a condition to the next one; AND
binds tighter than OR.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from contactdesk.contacts.list_sql import escape_like
from contactdesk.errors import InvalidParameter
from contactdesk.limits import limits
from contactdesk.models import CustomAttributeDefinition
from contactdesk.models.contact import STANDARD_ATTRIBUTE_KEYS
from contactdesk.values import has_nul, id_number, iso_date, parse_bool, parse_number

EQ, NEQ = "equal_to", "not_equal_to"
CONTAINS, NOT_CONTAINS = "contains", "does_not_contain"
STARTS_WITH = "starts_with"
GT, LT, DAYS_BEFORE = "is_greater_than", "is_less_than", "days_before"
PRESENT, NOT_PRESENT = "is_present", "is_not_present"
PRESENCE = (PRESENT, NOT_PRESENT)
# How many conditions and values per condition: limits().max_filter_conditions and
# max_filter_values (settings), read when a filter is parsed.
MAX_VALUE_LENGTH = 1024
MAX_DAYS = 100_000
# Keys unique in an account. Equality on one of them with a single value is its own kind,
# bound as one scalar (`email = $1`): a unique lookup runs on PostgreSQL's cached generic
# plan, which estimates one row for it and is chosen; for `email = ANY($1)` it estimates
# several, so PostgreSQL planned every execution anew (filter_email_eq: 90 -> 300 us).
UNIQUE_KEYS = ("email", "phone_number")
ONE_UNIQUE = "one_unique"
# One day past date.max, for "is_greater_than 9999-12-31" on a custom date: it sorts after
# every YYYY-MM-DD, so the condition matches nothing, as it should.
AFTER_LAST_DAY = "9999-12-32"


@dataclass(frozen=True)
class _Key:
    # how values are read and compared: text, phone, labels, date, boolean, c_* (and
    # ONE_UNIQUE, for equality on a unique key with a single value)
    kind: str
    operators: tuple[str, ...]


_TEXT_OPS = (EQ, NEQ, CONTAINS, NOT_CONTAINS)
STANDARD_KEYS: dict[str, _Key] = {
    "name": _Key("text", _TEXT_OPS),
    "phone_number": _Key("phone", (*_TEXT_OPS, STARTS_WITH)),
    "email": _Key("text", _TEXT_OPS),
    "identifier": _Key("text", (EQ, NEQ)),
    "country_code": _Key("text", (EQ, NEQ)),
    "city": _Key("text", _TEXT_OPS),
    "company": _Key("text", _TEXT_OPS),
    "labels": _Key("labels", (EQ, NEQ)),
    "created_at": _Key("date", (GT, LT, DAYS_BEFORE)),
    "last_activity_at": _Key("date", (GT, LT, DAYS_BEFORE)),
    "blocked": _Key("boolean", (EQ, NEQ)),
}
assert tuple(STANDARD_KEYS) == STANDARD_ATTRIBUTE_KEYS, "keep models.contact in step"
# By attribute_display_type. list values compare case-sensitively, text and link do not.
CUSTOM_KEYS: dict[str, _Key] = {
    "text": _Key("c_text", _TEXT_OPS),
    "link": _Key("c_text", _TEXT_OPS),
    "list": _Key("c_list", (EQ, NEQ)),
    "number": _Key("c_number", (EQ, NEQ, GT, LT)),
    "currency": _Key("c_number", (EQ, NEQ, GT, LT)),
    "percent": _Key("c_number", (EQ, NEQ, GT, LT)),
    "date": _Key("c_date", (EQ, NEQ, GT, LT, DAYS_BEFORE)),
    "checkbox": _Key("c_boolean", (EQ, NEQ)),
}
KEY_ERROR = (
    "Invalid attribute key - [{key}]. The key should be one of ["
    + ",".join(STANDARD_KEYS)
    + "] or a custom attribute defined in the account."
)


def _operators(key: _Key) -> tuple[str, ...]:
    # EXT: presence works on every key.
    return key.operators + tuple(op for op in PRESENCE if op not in key.operators)


@dataclass(frozen=True)
class Filter:
    """A parsed filter: its shape decides the SQL, its params fill it."""

    # OR of ANDs of conditions, each (kind, target, operator, name): never a value or a count
    shape: tuple[tuple[tuple[str, str, str, str], ...], ...]
    # name: the condition's value, or the list of its values (one bind parameter however many)
    params: dict[str, Any]

    @property
    def unique_lookup(self) -> bool:
        """Only equality on unique, indexed keys: a handful of rows, one good plan."""
        return bool(self.shape) and all(
            target in UNIQUE_KEYS and operator == EQ
            for group in self.shape
            for _, target, operator, _ in group
        )

    def cache_key(self) -> tuple[str, bytes]:
        """The filter's identity for the count cache: a 16-byte digest of its shape and
        values, whatever their size (a key holding them grew the cache without bound)."""
        values = sorted((k, repr(v)) for k, v in self.params.items())
        digest = hashlib.blake2b(repr((self.shape, values)).encode(), digest_size=16)
        return ("filter", digest.digest())


def _invalid_value_error(key: str, detail: str = "") -> InvalidParameter:
    message = f"Invalid value. The values provided for {key} are invalid"
    return InvalidParameter(f"{message}: {detail}" if detail else message)


def _text_value(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _invalid_value_error(key, f"{_show(value)} is not a string")
    text = value.strip()
    if not text or has_nul(text) or len(text) > MAX_VALUE_LENGTH:
        raise _invalid_value_error(key, f"{_show(value)} is blank or not a usable string")
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bool_value(key: str, value: Any) -> bool:
    parsed = parse_bool(value.strip() if isinstance(value, str) else value)
    if parsed is None:
        raise _invalid_value_error(key, f"{_show(value)} is not true or false")
    return parsed


def _date_value(key: str, value: Any) -> date:
    if isinstance(value, str):
        with contextlib.suppress(ValueError, OverflowError):
            return iso_date(value)
    raise _invalid_value_error(key, f"{_show(value)} is not an ISO 8601 date")


def _days_value(key: str, value: Any) -> int:
    # id_number never converts a digit string too long for 64 bits (MAX_ID + 1 instead).
    days = id_number(value)
    if days is not None and 0 <= days <= MAX_DAYS:
        return days
    raise _invalid_value_error(key, f"{_show(value)} is not a number of days")


def _number_value(key: str, value: Any) -> Decimal:
    try:
        return Decimal(str(parse_number(value)))
    except (ValueError, OverflowError):
        raise _invalid_value_error(key, f"{_show(value)} is not a number") from None


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _day_after(kind: str, day: date) -> int | str:
    """The bound of "is_greater_than day": the start of the next day (computed without
    date arithmetic, which overflows after 9999-12-31)."""
    if kind == "date":
        return _epoch(day) + 86_400
    return AFTER_LAST_DAY if day == date.max else (day + timedelta(days=1)).isoformat()


def _today() -> date:
    return datetime.now(UTC).date()


def _single(key: str, operator: str, values: list[Any]) -> Any:
    if len(values) != 1:
        raise _invalid_value_error(key, f"{operator} takes exactly one value")
    return values[0]


def _condition_values(key: str, kind: str, operator: str, values: list[Any], backend: str) -> Any:
    """The bound value of one condition: one value for a comparison, else the list of its
    values (or LIKE patterns), which the SQL reads as one parameter."""
    if kind in ("date", "c_date"):
        if operator == DAYS_BEFORE:
            cutoff = _today() - timedelta(days=_days_value(key, _single(key, operator, values)))
        elif operator == GT:
            return _day_after(kind, _date_value(key, _single(key, operator, values)))
        elif operator == LT:
            cutoff = _date_value(key, _single(key, operator, values))
        else:  # equality on a custom date compares the stored YYYY-MM-DD
            return [_date_value(key, v).isoformat() for v in values]
        return _epoch(cutoff) if kind == "date" else cutoff.isoformat()
    if kind == "c_number":
        if operator in (GT, LT):
            number = _number_value(key, _single(key, operator, values))
            return number if backend == "postgresql" else float(number)
        numbers = [_number_value(key, v) for v in values]
        return numbers if backend == "postgresql" else [float(n) for n in numbers]
    if kind in ("boolean", "c_boolean"):
        flags = [_bool_value(key, v) for v in values]
        return flags if kind == "boolean" else ["true" if f else "false" for f in flags]
    texts = [_text_value(key, v) for v in values]
    if kind == "phone" and operator in (EQ, NEQ, STARTS_WITH):
        texts = ["+" + t.replace("+", "") for t in texts]
    elif kind != "c_list" and not (kind == "phone" and operator in (CONTAINS, NOT_CONTAINS)):
        texts = [t.lower() for t in texts]
    if operator == STARTS_WITH:
        return [f"{escape_like(t)}%" for t in texts]
    if operator in (CONTAINS, NOT_CONTAINS):
        return [f"%{escape_like(t)}%" for t in texts]
    return texts


def _query_operator(index: int, condition: dict[str, Any], last: bool) -> str | None:
    raw = condition.get("query_operator")
    if raw is None or raw == "":
        if not last:
            raise InvalidParameter(
                f"Condition {index + 1} needs a query_operator (AND or OR) to join the next one"
            )
        return None
    if not isinstance(raw, str) or raw.strip().upper() not in ("AND", "OR"):
        raise InvalidParameter('Query operator must be either "AND" or "OR".')
    if last:
        raise InvalidParameter(
            "The last condition cannot have a query_operator: there is no condition after it"
        )
    return raw.strip().upper()


def custom_keys(body: dict[str, Any]) -> bool:
    """Whether a filter body names any key that is not standard (definitions are needed)."""
    conditions = body.get("payload")
    return isinstance(conditions, list) and any(
        not isinstance(c, dict)
        or not isinstance(c.get("attribute_key"), str)
        or c["attribute_key"] not in STANDARD_KEYS
        for c in conditions
    )


def parse_filter(
    body: dict[str, Any],
    definitions: dict[str, CustomAttributeDefinition],
    backend: str,
) -> Filter:
    """Check a filter body whole and turn it into a shape and bound values."""
    if "payload" not in body:
        raise InvalidParameter("payload is required: a list of filter conditions")
    conditions = body["payload"]
    if not isinstance(conditions, list):
        raise InvalidParameter("payload must be a list of filter conditions")
    bounds = limits()
    if len(conditions) > bounds.max_filter_conditions:
        raise InvalidParameter(f"payload has more than {bounds.max_filter_conditions} conditions")
    groups: list[list[tuple[str, str, str, str]]] = [[]]
    params: dict[str, Any] = {}
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            raise InvalidParameter(f"Condition {index + 1} must be a JSON object")
        key_name = condition.get("attribute_key")
        key = None
        custom = False
        if isinstance(key_name, str):
            key = STANDARD_KEYS.get(key_name)
            if key is None and key_name in definitions:
                key = CUSTOM_KEYS.get(definitions[key_name].attribute_display_type)
                custom = True
        if key is None:
            shown = key_name if isinstance(key_name, str) else _show(key_name)
            raise InvalidParameter(KEY_ERROR.format(key=shown))
        assert isinstance(key_name, str)
        operator = condition.get("filter_operator")
        allowed = _operators(key)
        if operator not in allowed:
            raise InvalidParameter(
                f"Invalid operator. The allowed operators for {key_name} are [{','.join(allowed)}]."
            )
        assert isinstance(operator, str)
        joiner = _query_operator(index, condition, index == len(conditions) - 1)
        name = f"f{index}"
        if operator not in PRESENCE:
            values = condition.get("values")
            if values is None:
                raise _invalid_value_error(key_name)
            if not isinstance(values, list):
                raise _invalid_value_error(key_name, "values must be a list")
            if not values:
                raise _invalid_value_error(key_name)
            if len(values) > bounds.max_filter_values:
                raise _invalid_value_error(key_name, f"at most {bounds.max_filter_values} values")
            params[name] = _condition_values(key_name, key.kind, operator, values, backend)
        kind = key.kind
        if key_name in UNIQUE_KEYS and operator == EQ and len(params[name]) == 1:
            kind = ONE_UNIQUE
            params[name] = params[name][0]
        target = key_name
        if custom:
            target = "custom"
            params[f"{name}_key"] = (
                key_name if backend == "postgresql" else '$."' + key_name.replace('"', "") + '"'
            )
        groups[-1].append((kind, target, operator, name))
        if joiner == "OR":
            groups.append([])
    shape = tuple(tuple(group) for group in groups if group)
    return Filter(shape, params)
