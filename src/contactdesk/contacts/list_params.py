"""List parameters (contract §4.1): page, size, sort, labels, search term and the cursor."""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import orjson
from starlette.datastructures import QueryParams

from contactdesk.errors import InvalidParameter
from contactdesk.limits import limits
from contactdesk.values import MAX_ID, has_nul, id_number, parse_id

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
# Sort keys read from additional_attributes (contacts/list_sql.py), and the stored JSON key.
JSON_SORT_KEYS = {"company": "company_name", "city": "city", "country": "country"}


def _valid_value(sort: str, value: object) -> bool:
    """The sort value types the server itself puts in a cursor for that key."""
    if value is None:
        return True
    if sort in ("created_at", "last_activity_at"):
        return type(value) is int and abs(value) <= MAX_ID
    if isinstance(value, str):
        return not has_nul(value)
    # SQLite's json_extract keeps a number a number (PostgreSQL's ->> gives text).
    if sort not in JSON_SORT_KEYS or isinstance(value, bool) or not isinstance(value, int | float):
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
            and parse_id(last_id) is not None
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
    """The distinct lower-cased names of labels and labels[] (a,b also works), in order; at
    most max_label_filter_names of them."""
    most = limits().max_label_filter_names
    names: dict[str, None] = {}
    for raw in params.getlist("labels") + params.getlist("labels[]"):
        for part in raw.split(","):
            part = part.strip().lower()
            if part and part not in names:
                if len(names) >= most:
                    raise InvalidParameter(f"labels may name at most {most} labels")
                names[part] = None
    return tuple(names)


def _positive(text: str) -> int | None:
    """A positive integer written in ASCII digits (surrounding spaces allowed); None for
    anything else. Never converted whole: beyond 64 bits it is MAX_ID + 1."""
    number = id_number(text)
    return number if number is not None and number >= 1 else None


def parse_q(params: QueryParams) -> str:
    q = (_last(params, "q") or "").strip()
    most = limits().max_q_chars
    if len(q) > most:
        raise InvalidParameter(f"q must be at most {most} characters")
    return q


def parse_list_query(params: QueryParams) -> ListQuery:
    for name, value in params.multi_items():
        if has_nul(value):
            raise InvalidParameter(f"{name} must not contain NUL characters")
    page_raw = _last(params, "page")
    page = 1
    if page_raw is not None:
        number = _positive(page_raw)
        if number is None:
            raise InvalidParameter("page must be a positive integer")
        page = number  # a page beyond 64 bits is simply past the end (MAX_ID + 1)

    page_size = DEFAULT_PAGE_SIZE
    size_raw = _last(params, "page_size")
    if size_raw is not None:
        number = _positive(size_raw)
        if number is None or number > MAX_PAGE_SIZE:
            raise InvalidParameter(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        page_size = number

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
        q=parse_q(params),
    )
