"""Parsing list parameters (contract §4.1) and building the sort and search expressions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
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

    return ListQuery(
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
    if key in _JSON_KEY:
        return sa.func.nullif(sa.func.lower(json_text(dialect, _JSON_KEY[key])), "")
    if key == "name":
        return sa.func.nullif(sa.func.lower(Contact.name), "")
    column: sa.ColumnElement[Any] = getattr(Contact, key)
    return column


def order_by(dialect: str, query: ListQuery) -> list[sa.ColumnElement[Any]]:
    """Blank values last in both directions; id in the sort's direction breaks ties."""
    expression = sort_expression(dialect, query.sort)
    if query.descending:
        return [expression.desc().nulls_last(), Contact.id.desc()]
    return [expression.asc().nulls_last(), Contact.id.asc()]


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(dialect: str, q: str) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match; % and _ match literally; digits also match the id."""
    pattern = f"%{escape_like(q.lower())}%"
    conditions: list[sa.ColumnElement[bool]] = [
        sa.func.lower(Contact.name).like(pattern, escape="\\"),
        Contact.email.like(pattern, escape="\\"),
        Contact.phone_number.like(pattern, escape="\\"),
        sa.func.lower(Contact.identifier).like(pattern, escape="\\"),
        sa.func.lower(json_text(dialect, "company_name")).like(pattern, escape="\\"),
    ]
    if q.isascii() and q.isdigit() and int(q) <= MAX_ID:
        conditions.append(Contact.id == int(q))
    return sa.or_(*conditions)
