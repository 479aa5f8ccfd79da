"""Validation and normalisation of the writable contact fields (contract §6 and §7)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from contactdesk.limits import limits
from contactdesk.values import (
    EMAIL_RE,
    MAX_URL,
    epoch_seconds,
    has_nul,
    id_number,
    is_http_url,
    parse_bool,
)

MAX_TEXT = 255
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z
PHONE_RE = re.compile(r"\+[1-9][0-9]{1,14}")

LABELS = {
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone_number": "Phone number",
    "identifier": "Identifier",
    "avatar_url": "Avatar url",
    "thumbnail": "Thumbnail",
    "blocked": "Blocked",
    "availability_status": "Availability status",
    "last_activity_at": "Last activity at",
    "custom_attributes": "Custom attributes",
    "additional_attributes": "Additional attributes",
    "inbox_id": "Inbox",
    "source_id": "Source",
}


def invalid(attribute: str) -> str:
    return f"{LABELS[attribute]} is invalid"


def too_long(attribute: str, maximum: int = MAX_TEXT) -> str:
    return f"{LABELS[attribute]} is too long (maximum is {maximum} characters)"


class FieldError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ContactInput:
    """The recognised fields of a create or update body, normalised; unknown keys are dropped."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    # Set once custom_attributes were checked against the account's definitions
    # (contacts.service.check_definitions).
    definitions_checked: bool = False


def _text(attribute: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(invalid(attribute))
    if len(value) > MAX_TEXT:
        raise FieldError(too_long(attribute))
    return value


def _email(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(invalid("email"))
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise FieldError(too_long("email"))
    if not EMAIL_RE.fullmatch(value):
        raise FieldError("Email is invalid")
    return str(value).lower()


def _phone(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError("Phone number should be in e164 format")
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_TEXT:
        raise FieldError(too_long("phone_number"))
    if not PHONE_RE.fullmatch(value):
        raise FieldError("Phone number should be in e164 format")
    return str(value)


def _identifier(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise FieldError(invalid("identifier"))
    if value == "":
        return None
    if len(value) > MAX_TEXT:
        raise FieldError(too_long("identifier"))
    return value


def _url(attribute: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise FieldError(invalid(attribute))
    if len(value) > MAX_URL:
        raise FieldError(too_long(attribute, MAX_URL))
    if not is_http_url(value):
        raise FieldError(invalid(attribute))
    return value


def _blocked(value: Any) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise FieldError(invalid("blocked"))
    return parsed


def _availability(value: Any) -> str:
    if value in ("online", "offline"):
        return str(value)
    raise FieldError(invalid("availability_status"))


def parse_epoch(value: Any) -> int | None:
    """Epoch seconds from an integer, a string of digits or an ISO 8601 timestamp."""
    if value is None:
        return None
    try:
        seconds = epoch_seconds(value)
    except ValueError:
        raise FieldError(invalid("last_activity_at")) from None
    if not 0 <= seconds <= MAX_EPOCH:
        raise FieldError(invalid("last_activity_at"))
    return seconds


def attributes_too_large(
    attribute: str, value: dict[str, Any], *, merged: bool = False
) -> str | None:
    """The problem when value, as compact JSON, exceeds limits().max_attributes_bytes; None
    otherwise. merged: value is the stored object with the sent keys merged in."""
    most = limits().max_attributes_bytes
    if len(orjson.dumps(value)) <= most:
        return None
    size = f"{most // 1024} KB" if most % 1024 == 0 else f"{most} bytes"
    stored = ", stored keys included" if merged else ""
    return f"{LABELS[attribute]} is too large (maximum is {size}{stored})"


def _attributes(attribute: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(invalid(attribute))
    problem = attributes_too_large(attribute, value)
    if problem is not None:
        raise FieldError(problem)
    return value


def parse_contact_fields(body: dict[str, Any], *, creating: bool) -> ContactInput:
    """Validate every writable field present in the body and collect every problem."""
    result = ContactInput()

    def take(attribute: str, parse: Any, *args: Any) -> None:
        if attribute not in body:
            return
        if has_nul(body[attribute]):
            result.problems.append((attribute, invalid(attribute)))
            return
        try:
            result.values[attribute] = parse(*args, body[attribute])
        except FieldError as error:
            result.problems.append((attribute, error.message))

    for attribute in ("name", "first_name", "last_name"):
        take(attribute, _text, attribute)
    take("email", _email)
    take("phone_number", _phone)
    take("identifier", _identifier)
    # avatar_url and thumbnail are one field; avatar_url wins when both are sent.
    avatar_key = "avatar_url" if "avatar_url" in body else "thumbnail"
    if avatar_key in body:
        try:
            if has_nul(body[avatar_key]):
                raise FieldError(invalid(avatar_key))
            result.values["thumbnail"] = _url(avatar_key, body[avatar_key])
        except FieldError as error:
            result.problems.append((avatar_key, error.message))
    take("blocked", _blocked)
    take("availability_status", _availability)
    if "last_activity_at" in body:
        try:
            result.values["last_activity_at"] = parse_epoch(body["last_activity_at"])
        except FieldError as error:
            result.problems.append(("last_activity_at", error.message))
    for attribute in ("additional_attributes", "custom_attributes"):
        if attribute not in body:
            continue
        if body[attribute] is None:
            if creating:
                result.values[attribute] = {}
            continue
        take(attribute, _attributes, attribute)
    return result


def parse_inbox_id(value: Any) -> int | None:
    """An inbox id: an integer or a string of digits; None when absent."""
    if value is None:
        return None
    number = id_number(value)
    if number is None:
        raise FieldError(invalid("inbox_id"))
    return number


def parse_source_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or has_nul(value):
        raise FieldError(invalid("source_id"))
    if len(value) > MAX_TEXT:
        raise FieldError(too_long("source_id"))
    return value


def parse_inbox_field(body: dict[str, Any], problems: list[tuple[str, str]]) -> int | None:
    """inbox_id, required: a problem is appended when it is missing, null or malformed."""
    try:
        inbox_id = parse_inbox_id(body.get("inbox_id"))
    except FieldError as error:
        problems.append(("inbox_id", error.message))
        return None
    if inbox_id is None:
        problems.append(("inbox_id", "Inbox can't be blank"))
    return inbox_id


def parse_source_field(body: dict[str, Any], problems: list[tuple[str, str]]) -> str | None:
    try:
        return parse_source_id(body.get("source_id"))
    except FieldError as error:
        problems.append(("source_id", error.message))
        return None
