"""Parsing list parameters (contract §4.1) and building the sort and search expressions."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute
from starlette.datastructures import QueryParams

from contactdesk.errors import InvalidParameter
from contactdesk.ids import MAX_ID
from contactdesk.models import Contact

DEFAULT_PAGE_SIZE = 15
MAX_PAGE_SIZE = 100
SORT_KEYS = (
    "email",
    "name",
    "phone_number",
    "last_activity_at",
    "created_at",
    "company",
    "city",
    "country",
)
SORT_ALIASES = {"company_name": "company"}
SORT_ERROR = "sort must be one of: " + ", ".join(SORT_KEYS)
# Expression sort keys. The text matches the indexes the migration creates, so the planner can
# use them; NULLIF makes "" a blank that sorts last like NULL.
_JSON_KEY = {"company": "company_name", "city": "city", "country": "country"}


def _valid_value(sort: str, value: object) -> bool:
    """The sort value types the server itself puts in a cursor for that key."""
    if value is None:
        return True
    if sort in ("created_at", "last_activity_at"):
        return type(value) is int and abs(value) <= MAX_ID
    if isinstance(value, str):
        return "\x00" not in value
    # SQLite's json_extract keeps a number a number (PostgreSQL's ->> gives text).
    if sort not in _JSON_KEY or isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


@dataclass(frozen=True)
class Cursor:
    """A position in one order: the sort value and id of the last row a page returned."""

    sort: str
    descending: bool
    value: str | int | float | None
    id: int

    def encode(self) -> str:
        raw = orjson.dumps([self.sort, int(self.descending), self.value, self.id])
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor:
        invalid = InvalidParameter("after is not a valid cursor")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            sort, descending, value, last_id = orjson.loads(raw)
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
            raise invalid from None
        valid = (
            sort in SORT_KEYS
            and type(descending) is int
            and descending in (0, 1)
            and type(last_id) is int
            and 0 < last_id <= MAX_ID
            and _valid_value(sort, value)
        )
        if not valid:
            raise invalid
        return cls(sort, bool(descending), value, last_id)


@dataclass(frozen=True)
class ListQuery:
    page: int = 1
    page_echo: str | int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    sort: str = "created_at"
    descending: bool = True
    labels: tuple[str, ...] = ()
    include_contact_inboxes: bool = True
    q: str = ""
    after: Cursor | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _last(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    return values[-1] if values else None


def parse_bool_param(params: QueryParams, name: str, default: bool) -> bool:
    raw = _last(params, name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidParameter(f"{name} must be true or false")


def parse_labels(params: QueryParams) -> tuple[str, ...]:
    names: list[str] = []
    for raw in params.getlist("labels") + params.getlist("labels[]"):
        for part in raw.split(","):
            part = part.strip().lower()
            if part and part not in names:
                names.append(part)
    return tuple(names)


def parse_list_query(params: QueryParams) -> ListQuery:
    for name, value in params.multi_items():
        if "\x00" in value:
            raise InvalidParameter(f"{name} must not contain NUL characters")
    page_raw = _last(params, "page")
    page = 1
    if page_raw is not None:
        text = page_raw.strip()
        if not (text.isascii() and text.isdigit()) or int(text) < 1:
            raise InvalidParameter("page must be a positive integer")
        page = int(text)

    page_size = DEFAULT_PAGE_SIZE
    size_raw = _last(params, "page_size")
    if size_raw is not None:
        text = size_raw.strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE_SIZE:
            raise InvalidParameter(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        page_size = int(text)

    sort, descending = "created_at", True
    sort_raw = _last(params, "sort")
    if sort_raw is not None and sort_raw.strip():
        key = sort_raw.strip()
        descending = key.startswith("-")
        key = key.removeprefix("-")
        key = SORT_ALIASES.get(key, key)
        if key not in SORT_KEYS:
            raise InvalidParameter(SORT_ERROR)
        sort = key

    direction = _last(params, "direction")
    if direction is not None:
        lowered = direction.strip().lower()
        if lowered not in ("asc", "desc"):
            raise InvalidParameter("direction must be asc or desc")
        descending = lowered == "desc"

    after: Cursor | None = None
    after_raw = _last(params, "after")
    if after_raw is not None:
        if page_raw is not None:
            raise InvalidParameter("page and after cannot be combined")
        after = Cursor.decode(after_raw.strip())
        if (after.sort, after.descending) != (sort, descending):
            raise InvalidParameter("after belongs to another sort order")

    return ListQuery(
        after=after,
        page=page,
        page_echo=page_raw if page_raw is not None else 1,
        page_size=page_size,
        sort=sort,
        descending=descending,
        labels=parse_labels(params),
        include_contact_inboxes=parse_bool_param(params, "include_contact_inboxes", True),
        q=(_last(params, "q") or "").strip(),
    )


def json_text(dialect: str, key: str) -> sa.ColumnElement[str]:
    """additional_attributes ->> key, spelled as the expression indexes spell it."""
    if dialect == "postgresql":
        return sa.literal_column(f"contacts.additional_attributes ->> '{key}'", sa.String)
    return sa.literal_column(f"json_extract(contacts.additional_attributes, '$.{key}')", sa.String)


def sort_expression(dialect: str, key: str) -> sa.ColumnElement[Any]:
    """The sort key as literal SQL (no bound '' parameter), so it matches the index expression."""
    if key in _JSON_KEY:
        inner = json_text(dialect, _JSON_KEY[key])
        return sa.literal_column(f"NULLIF(lower({inner}), '')", sa.String)
    if key == "name":
        return sa.literal_column("NULLIF(lower(contacts.name), '')", sa.String)
    column: sa.ColumnElement[Any] = getattr(Contact, key)
    return column


def cursor_params(dialect: str, cursor: Cursor) -> dict[str, Any]:
    value = cursor.value
    if dialect == "postgresql" and cursor.sort in _JSON_KEY and value is not None:
        value = str(value)  # ->> is text here; a SQLite cursor may hold a number
    return {"cursor_value": value, "cursor_id": cursor.id}


def cursor_condition(
    dialect: str, sort: str, descending: bool, part: str
) -> sa.ColumnElement[bool]:
    """Rows after the cursor (bind parameters cursor_value and cursor_id), in one part:

    - "valued": rows with a value past (cursor_value, cursor_id), in the sort's order;
    - "blanks": every blank row (they come after all valued rows, in both directions);
    - "blanks_after": blank rows past cursor_id (the cursor itself is on a blank row).
    Each part is a range the sort's index answers; they are queried one after the other.
    """
    expression = sort_expression(dialect, sort)
    cursor_id = sa.bindparam("cursor_id", type_=sa.BigInteger)
    if part == "blanks":
        return expression.is_(None)
    if part == "blanks_after":
        past_id = Contact.id < cursor_id if descending else Contact.id > cursor_id
        return sa.and_(expression.is_(None), past_id)
    value_type: Any = sa.BigInteger if sort in ("created_at", "last_activity_at") else None
    if dialect == "postgresql" and value_type is None:
        value_type = sa.String
    pair = sa.tuple_(expression, Contact.id)
    target = sa.tuple_(sa.bindparam("cursor_value", type_=value_type), cursor_id)
    return pair < target if descending else pair > target


def order_by(dialect: str, query: ListQuery) -> list[sa.ColumnElement[Any]]:
    """Blank values last in both directions; id in the sort's direction breaks ties."""
    expression = sort_expression(dialect, query.sort)
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


def search_params(dialect: str, q: str) -> tuple[tuple[bool, bool], dict[str, Any]]:
    """The shape of a search (trigram narrowing, id match) and its bind parameters."""
    lowered = q.lower()
    params: dict[str, Any] = {"pattern": f"%{escape_like(lowered)}%"}
    by_id = q.isascii() and q.isdigit() and int(q) <= MAX_ID
    if by_id:
        params["q_id"] = int(q)
    return (dialect == "postgresql" and trigram_searchable(lowered), by_id), params


def search_condition(dialect: str, trigram: bool, by_id: bool) -> sa.ColumnElement[bool]:
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
        if dialect == "postgresql":
            return expression.like(pattern)
        return expression.like(pattern, escape="\\")

    fields: sa.ColumnElement[bool] = sa.or_(
        like(sa.func.lower(Contact.name)),
        like(Contact.email),
        like(Contact.phone_number),
        like(sa.func.lower(Contact.identifier)),
        like(sa.func.lower(json_text(dialect, "company_name"))),
    )
    if trigram:
        fields = sa.and_(like(sa.literal_column(SEARCH_TEXT, sa.String)), fields)
    if by_id:
        return sa.or_(fields, Contact.id == sa.bindparam("q_id", type_=sa.BigInteger))
    return fields
