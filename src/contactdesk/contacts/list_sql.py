"""The SQL of a list: sort keys, cursor ranges and the search condition, per backend.

Expressions are literal SQL where an index must match them: the text is that of the indexes
migrations 0001 and 0002 create, so the planner uses them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from contactdesk.contacts.list_params import JSON_SORT_KEYS, Cursor, ListQuery
from contactdesk.models import Contact
from contactdesk.values import parse_id


def json_text(backend: str, key: str) -> sa.ColumnElement[str]:
    """additional_attributes ->> key, spelled as the expression indexes spell it."""
    if backend == "postgresql":
        return sa.literal_column(f"contacts.additional_attributes ->> '{key}'", sa.String)
    return sa.literal_column(f"json_extract(contacts.additional_attributes, '$.{key}')", sa.String)


def sort_expression(backend: str, key: str) -> sa.ColumnElement[Any]:
    """The sort key as literal SQL (no bound '' parameter), so it matches the index expression."""
    if key in JSON_SORT_KEYS:
        inner = json_text(backend, JSON_SORT_KEYS[key])
        return sa.literal_column(f"NULLIF(lower({inner}), '')", sa.String)
    if key == "name":
        return sa.literal_column("NULLIF(lower(contacts.name), '')", sa.String)
    column: sa.ColumnElement[Any] = getattr(Contact, key)
    return column


def cursor_params(backend: str, cursor: Cursor) -> dict[str, Any]:
    value = cursor.value
    if backend == "postgresql" and cursor.sort in JSON_SORT_KEYS and value is not None:
        value = str(value)  # ->> is text here; a SQLite cursor may hold a number
    return {"cursor_value": value, "cursor_id": cursor.id}


def cursor_condition(
    backend: str, sort: str, descending: bool, part: str
) -> sa.ColumnElement[bool]:
    """Rows after the cursor (bind parameters cursor_value and cursor_id), in one part:

    - "valued": rows with a value past (cursor_value, cursor_id), in the sort's order;
    - "blanks": every blank row (they come after all valued rows, in both directions);
    - "blanks_after": blank rows past cursor_id (the cursor itself is on a blank row).
    Each part is a range the sort's index answers; they are queried one after the other.
    """
    expression = sort_expression(backend, sort)
    cursor_id = sa.bindparam("cursor_id", type_=sa.BigInteger)
    if part == "blanks":
        return expression.is_(None)
    if part == "blanks_after":
        past_id = Contact.id < cursor_id if descending else Contact.id > cursor_id
        return sa.and_(expression.is_(None), past_id)
    value_type: Any = sa.BigInteger if sort in ("created_at", "last_activity_at") else None
    if backend == "postgresql" and value_type is None:
        value_type = sa.String
    pair = sa.tuple_(expression, Contact.id)
    target = sa.tuple_(sa.bindparam("cursor_value", type_=value_type), cursor_id)
    return pair < target if descending else pair > target


def order_by(backend: str, query: ListQuery) -> list[sa.ColumnElement[Any]]:
    """Blank values last in both directions; id in the sort's direction breaks ties."""
    expression = sort_expression(backend, query.sort)
    return ordered(expression, query.sort, query.descending)


def ordered(
    expression: sa.ColumnElement[Any], key: str, descending: bool
) -> list[sa.ColumnElement[Any]]:
    """expression then id, blanks last. created_at is never NULL: its descending order is
    spelled without NULLS LAST, which PostgreSQL would otherwise not match to a backward walk
    of the ascending (account_id, created_at, id) index."""
    if descending and key == "created_at":
        return [expression.desc(), Contact.id.desc()]
    if descending:
        return [expression.desc().nulls_last(), Contact.id.desc()]
    return [expression.asc().nulls_last(), Contact.id.asc()]


Searched = sa.ColumnElement[Any] | InstrumentedAttribute[Any]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The searched fields in one text, as migration 0002 indexes it with pg_trgm (PostgreSQL).
SEARCH_TEXT = (
    "lower(coalesce(contacts.name, '') || ' ' || coalesce(contacts.email, '') || ' ' || "
    "coalesce(contacts.phone_number, '') || ' ' || coalesce(contacts.identifier, '') || ' ' || "
    "coalesce(contacts.additional_attributes ->> 'company_name', ''))"
)


def trigram_searchable(term: str) -> bool:
    """pg_trgm can narrow a LIKE only with a run of 3 letters or digits in the term."""
    run = 0
    for char in term:
        run = run + 1 if char.isalnum() else 0
        if run >= 3:
            return True
    return False


def search_params(backend: str, q: str) -> tuple[tuple[bool, bool], dict[str, Any]]:
    """The shape of a search (trigram narrowing, id match) and its bind parameters."""
    lowered = q.lower()
    params: dict[str, Any] = {"pattern": f"%{escape_like(lowered)}%"}
    q_id = parse_id(q) if q.isascii() and q.isdigit() else None
    by_id = q_id is not None
    if by_id:
        params["q_id"] = q_id
    return (backend == "postgresql" and trigram_searchable(lowered), by_id), params


def search_condition(backend: str, trigram: bool, by_id: bool) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match; % and _ match literally; digits also match the id.

    The term is the bind parameter pattern (see search_params). On PostgreSQL, a term with 3
    letters or digits in a row is first narrowed by the trigram index over all searched fields;
    the per-field test then decides, so the rows are the same. Shorter terms walk the sort's
    index and test each row (a page of a common term is found early); their count is cached
    per generation (contacts.counters).
    """
    pattern = sa.bindparam("pattern", type_=sa.String)

    def like(expression: Searched) -> sa.ColumnElement[bool]:
        # Backslash is PostgreSQL's default LIKE escape; an explicit ESCAPE clause would hide
        # the pattern from pg_trgm behind like_escape(). SQLite has no default escape.
        if backend == "postgresql":
            return expression.like(pattern)
        return expression.like(pattern, escape="\\")

    fields: sa.ColumnElement[bool] = sa.or_(
        like(sa.func.lower(Contact.name)),
        like(Contact.email),
        like(Contact.phone_number),
        like(sa.func.lower(Contact.identifier)),
        like(sa.func.lower(json_text(backend, "company_name"))),
    )
    if trigram:
        fields = sa.and_(like(sa.literal_column(SEARCH_TEXT, sa.String)), fields)
    if by_id:
        return sa.or_(fields, Contact.id == sa.bindparam("q_id", type_=sa.BigInteger))
    return fields
