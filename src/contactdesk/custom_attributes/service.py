"""Custom attribute definitions: body rules, storage and the reference's JSON shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.custom_attributes.patterns import compile_pattern, prepare
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.limits import limits
from contactdesk.models import Account, CustomAttributeDefinition
from contactdesk.models._time import now_epoch
from contactdesk.models.contact import STANDARD_ATTRIBUTE_KEYS
from contactdesk.models.custom_attribute import CONTACT_ATTRIBUTE, DISPLAY_TYPES
from contactdesk.models.tenancy import tenant_select
from contactdesk.values import has_nul, parse_id

MAX_NAME = 255
MAX_DESCRIPTION = 4096
MAX_VALUES = 1000
MAX_DEFAULT_BYTES = 16 * 1024
# Keys travel in filter payloads, CSV headers and error attributes ("custom_attributes.<key>"):
# a conservative ASCII alphabet keeps them unambiguous everywhere.
KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
CONVERSATION_MODELS = ("conversation_attribute", 0, "0")
CONTACT_MODELS = (CONTACT_ATTRIBUTE, 1, "1")
KEY_TAKEN = "Attribute key has already been taken"
FIELDS = (
    "attribute_display_name",
    "attribute_key",
    "attribute_display_type",
    "attribute_description",
    "attribute_values",
    "regex_pattern",
    "regex_cue",
    "default_value",
)
Problems = list[tuple[str, str]]


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def definition_json(definition: CustomAttributeDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "attribute_display_name": definition.attribute_display_name,
        "attribute_display_type": definition.attribute_display_type,
        "attribute_description": definition.attribute_description,
        "attribute_key": definition.attribute_key,
        "regex_pattern": definition.regex_pattern,
        "regex_cue": definition.regex_cue,
        "attribute_values": list(definition.attribute_values or []),
        "attribute_model": definition.attribute_model,
        "default_value": definition.default_value,
        "created_at": iso(definition.created_at),
        "updated_at": iso(definition.updated_at),
    }


def _short_text(label: str, value: Any, maximum: int, problems: Problems, attribute: str) -> bool:
    if not isinstance(value, str) or has_nul(value):
        problems.append((attribute, f"{label} is invalid"))
        return False
    if len(value) > maximum:
        problems.append((attribute, f"{label} is too long (maximum is {maximum} characters)"))
        return False
    return True


def _display_name(value: Any, problems: Problems) -> str | None:
    label, attribute = "Attribute display name", "attribute_display_name"
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append((attribute, f"{label} can't be blank"))
        return None
    if not _short_text(label, value, MAX_NAME, problems, attribute):
        return None
    return str(value).strip()


def _key(value: Any, problems: Problems) -> str | None:
    label, attribute = "Attribute key", "attribute_key"
    if value is None or value == "":
        problems.append((attribute, f"{label} can't be blank"))
        return None
    if not _short_text(label, value, MAX_NAME, problems, attribute):
        return None
    if not KEY_RE.fullmatch(value):
        problems.append((attribute, f"{label} may contain only letters, digits, _ and -"))
        return None
    if value.lower() in STANDARD_ATTRIBUTE_KEYS:
        problems.append((attribute, f"{label} {value} is reserved for a standard contact field"))
        return None
    return str(value)


def _display_type(value: Any, problems: Problems) -> str | None:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 3:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(DISPLAY_TYPES):
        return DISPLAY_TYPES[value]
    if isinstance(value, str) and value in DISPLAY_TYPES:
        return value
    choices = ", ".join(DISPLAY_TYPES)
    problems.append(
        ("attribute_display_type", f"Attribute display type must be one of: {choices} (or 0-7)")
    )
    return None


def _optional_text(
    label: str, attribute: str, value: Any, maximum: int, problems: Problems
) -> str | None:
    if value is None or value == "":
        return None
    return str(value) if _short_text(label, value, maximum, problems, attribute) else None


def _values(value: Any, problems: Problems) -> list[str] | None:
    if value is None:
        return []
    message = None
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() and not has_nul(item) for item in value
    ):
        message = "Attribute values must be a list of non-empty strings"
    elif len(value) > MAX_VALUES:
        message = f"Attribute values are too many (maximum is {MAX_VALUES})"
    elif any(len(item) > MAX_NAME for item in value):
        message = f"Attribute values are too long (maximum is {MAX_NAME} characters each)"
    if message is not None:
        problems.append(("attribute_values", message))
        return None
    return list(dict.fromkeys(value))  # duplicates collapse, first spelling and order kept


def _regex(value: Any, problems: Problems) -> str | None:
    pattern = _optional_text("Regex pattern", "regex_pattern", value, MAX_NAME, problems)
    if pattern is None:
        return None
    compiled = compile_pattern(pattern)  # RE2 within the bounds, as validation.py matches
    if compiled.problem is not None:
        problems.append(("regex_pattern", compiled.problem))
        return None
    return pattern


def _default_value(value: Any, problems: Problems) -> Any:
    if has_nul(value):
        problems.append(("default_value", "Default value is invalid"))
    elif len(orjson.dumps(value)) > MAX_DEFAULT_BYTES:
        problems.append(("default_value", "Default value is too large (maximum is 16 KB)"))
    return value


def _model(value: Any, problems: Problems) -> None:
    # Checked by type first: in Python True == 1 and False == 0.
    if value is None or (type(value) in (str, int) and value in CONTACT_MODELS):
        return
    if type(value) in (str, int) and value in CONVERSATION_MODELS:
        message = "Attribute model conversation_attribute is not supported: only contact "
        problems.append(("attribute_model", message + "attributes are kept"))
    else:
        problems.append(("attribute_model", "Attribute model must be contact_attribute (or 1)"))


def parse_definition(body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The definition's fields once the body is applied to current (None: a create).

    Every problem is reported at once; the result is checked as a whole, so a PATCH that turns
    a definition into a list without choices fails like such a create would.
    """
    problems: Problems = []
    result: dict[str, Any] = (
        dict(current)
        if current is not None
        else {
            "attribute_display_type": "text",
            "attribute_description": None,
            "attribute_values": [],
            "regex_pattern": None,
            "regex_cue": None,
            "default_value": None,
        }
    )
    if current is None:
        for required in ("attribute_display_name", "attribute_key"):
            body.setdefault(required, None)
    parsers: dict[str, Any] = {
        "attribute_display_name": lambda v: _display_name(v, problems),
        "attribute_key": lambda v: _key(v, problems),
        "attribute_display_type": lambda v: _display_type(v, problems),
        "attribute_description": lambda v: _optional_text(
            "Attribute description", "attribute_description", v, MAX_DESCRIPTION, problems
        ),
        "attribute_values": lambda v: _values(v, problems),
        "regex_pattern": lambda v: _regex(v, problems),
        "regex_cue": lambda v: _optional_text("Regex cue", "regex_cue", v, MAX_NAME, problems),
        "default_value": lambda v: _default_value(v, problems),
    }
    failed: set[str] = set()
    for name in FIELDS:
        if name not in body:
            continue
        if name == "attribute_display_type" and body[name] is None:
            continue  # null keeps the current type (text on create)
        before = len(problems)
        parsed = parsers[name](body[name])
        if len(problems) > before:
            failed.add(name)
        else:
            result[name] = parsed
    _model(body.get("attribute_model"), problems)
    kind = result["attribute_display_type"]
    if "attribute_display_type" in failed:
        kind = None
    if kind == "list" and "attribute_values" not in failed and not result["attribute_values"]:
        problems.append(
            ("attribute_values", "Attribute values can't be blank for a list attribute")
        )
    if problems:
        raise ValidationFailed(problems)
    # Choices and patterns mean something for one type only; elsewhere they are not kept.
    if kind != "list":
        result["attribute_values"] = []
    if kind != "text":
        result["regex_pattern"] = result["regex_cue"] = None
    return result


def _json(value: Any) -> bytes:
    # Compared as JSON: in Python True == 1, so a default_value of true -> 1 would look unchanged.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def current_fields(definition: CustomAttributeDefinition) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in FIELDS}


async def list_definitions(
    session: AsyncSession, account_id: int
) -> list[CustomAttributeDefinition]:
    rows = await session.execute(
        tenant_select(account_id, CustomAttributeDefinition)
        .where(CustomAttributeDefinition.attribute_model == CONTACT_ATTRIBUTE)
        .order_by(CustomAttributeDefinition.id)
    )
    return list(rows.scalars())


async def get_definition(
    session: AsyncSession, account_id: int, raw_id: str, *, for_update: bool = False
) -> CustomAttributeDefinition:
    parsed = parse_id(raw_id)
    if parsed is None:
        raise NotFound()
    statement = tenant_select(account_id, CustomAttributeDefinition).where(
        CustomAttributeDefinition.id == parsed
    )
    if for_update:
        statement = statement.with_for_update()
    definition: CustomAttributeDefinition | None = (
        await session.execute(statement)
    ).scalar_one_or_none()
    if definition is None:
        raise NotFound()
    return definition


async def _prepare_pattern(body: dict[str, Any]) -> None:
    """Compile the sent pattern off the event loop (up to ~20 ms for a refused one)."""
    pattern = body.get("regex_pattern")
    if isinstance(pattern, str) and len(pattern) <= MAX_NAME:
        await prepare(pattern)


async def _definitions_full(session: AsyncSession, account_id: int) -> str | None:
    """The problem when the account holds its maximum of definitions, else None.

    Concurrent creates must not pass the count together: on PostgreSQL the account's row is
    locked FOR NO KEY UPDATE (creates of one account queue here until the first commits;
    contacts' inserts, which take FOR KEY SHARE for their foreign key, are not blocked); on
    SQLite every writer's transaction is BEGIN IMMEDIATE, serialized already.
    """
    await session.execute(
        sa.select(Account.id).where(Account.id == account_id).with_for_update(key_share=True)
    )
    most = limits().max_custom_attribute_definitions
    count = (
        await session.execute(
            tenant_select(account_id, sa.func.count(), select_from=CustomAttributeDefinition)
        )
    ).scalar_one()
    if count < most:
        return None
    return (
        f"Attribute key can't be added: the account has {count} custom attribute definitions "
        f"(maximum is {most})"
    )


async def create_definition(
    session: AsyncSession, account_id: int, body: dict[str, Any]
) -> CustomAttributeDefinition:
    await _prepare_pattern(body)
    problems: Problems = []
    values: dict[str, Any] = {}
    try:
        values = parse_definition(dict(body), None)
    except ValidationFailed as error:
        problems = list(error.problems)
    full = await _definitions_full(session, account_id)
    if full is not None:
        problems.append(("attribute_key", full))
    if problems:
        raise ValidationFailed(problems)
    now = now_epoch()
    definition = CustomAttributeDefinition(
        account_id=account_id,
        attribute_model=CONTACT_ATTRIBUTE,
        created_at=now,
        updated_at=now,
        **values,
    )
    # The unique (account, model, key) constraint decides duplicates, even concurrent ones;
    # the savepoint keeps the caller's transaction usable when it refuses this one.
    try:
        async with session.begin_nested():
            session.add(definition)
    except IntegrityError:
        raise ValidationFailed([("attribute_key", KEY_TAKEN)]) from None
    return definition


async def update_definition(
    session: AsyncSession, definition: CustomAttributeDefinition, body: dict[str, Any]
) -> CustomAttributeDefinition:
    """Apply a partial body; the caller locked the row (for_update=True)."""
    await _prepare_pattern(body)
    current = current_fields(definition)
    values = parse_definition(dict(body), current)
    changed = {name: v for name, v in values.items() if _json(current[name]) != _json(v)}
    if changed:
        try:
            async with session.begin_nested():
                for name, value in changed.items():
                    setattr(definition, name, value)
                definition.updated_at = now_epoch()
        except IntegrityError:
            # The savepoint's rollback expired the definition: nothing of it is rendered.
            raise ValidationFailed([("attribute_key", KEY_TAKEN)]) from None
    return definition


async def delete_definition(session: AsyncSession, account_id: int, raw_id: str) -> None:
    """Remove the definition; contacts keep their values, which become free-form again."""
    definition = await get_definition(session, account_id, raw_id, for_update=True)
    await session.delete(definition)
    await session.flush()
