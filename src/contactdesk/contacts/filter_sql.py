"""POST /contacts/filter, the SQL: the WHERE clause of a parsed filter, from its shape alone
(contacts/filter_parse.py holds the parser and the operator names).

A condition's values travel as ONE bind parameter, whatever their number (issue 10): on
PostgreSQL an array (`col = ANY($1)`, `col LIKE ANY($1)`), on SQLite a JSON array text read
with json_each (`col IN (SELECT value FROM json_each(?))`; LIKE patterns in a materialized CTE
`fN_patterns AS MATERIALIZED (SELECT value FROM json_each(?))`, probed by `EXISTS (SELECT ...
WHERE col LIKE fN_patterns.value ESCAPE '\\')`); the negated operators are `(...) IS NOT
TRUE`, which also matches an empty (NULL) value. A statement's size, compile time and shape
thus depend on its conditions and joins alone: a LIKE per value once made a filter at the caps
a statement SQLAlchemy took a quarter of a second and more to compile, on the event loop, once
per count of values (docs/decisions.md).

Chains of OR and AND are built as shallow trees of parenthesized groups (_balanced): SQLite
parses `a OR b OR c ...` as a tree as deep as the chain is long and refuses a statement
deeper than 1000 ("Expression tree is too large"); the number of conditions is a setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import Grouping

from contactdesk.contacts.filter_parse import (
    CONTAINS,
    DAYS_BEFORE,
    EQ,
    GT,
    LT,
    NOT_CONTAINS,
    NOT_PRESENT,
    ONE_UNIQUE,
    PRESENCE,
    PRESENT,
    STARTS_WITH,
    Filter,
)
from contactdesk.contacts.list_sql import Searched, json_text, sort_expression
from contactdesk.models import Contact, ContactLabel, Label
from contactdesk.models.tenancy import keyed_by_parent


def _standard_text(backend: str, target: str) -> sa.ColumnElement[Any]:
    """The key's value, lower-cased where the key is case-insensitive, NULL when blank."""
    if target in ("name", "city", "company"):
        return sort_expression(backend, target)  # the sort indexes' own expressions
    if target == "email":
        return Contact.email.expression  # stored lower-cased; "" is stored as NULL
    if target == "phone_number":
        return Contact.phone_number.expression
    if target == "identifier":
        return sa.func.lower(Contact.identifier)
    inner = json_text(backend, "country_code")
    return sa.literal_column(f"NULLIF(lower({inner}), '')", sa.String)


class _Group(Grouping[bool]):
    """A parenthesized group that or_/and_ keep whole. A plain Grouping passes its element's
    operator through, so or_(Grouping(or_(a, b)), c) is flattened back into one chain."""

    inherit_cache = True
    operator = None


# Terms per group: a filter at the caps (50 conditions) nests two groups deep, a tree a few
# dozen deep where SQLite allows 1000.
GROUP_SIZE = 16


def _balanced(
    join: Callable[..., sa.ColumnElement[bool]], terms: Sequence[sa.ColumnElement[bool]]
) -> sa.ColumnElement[bool]:
    """join(*terms) (sa.or_ or sa.and_) as parenthesized groups of at most GROUP_SIZE terms,
    nested as deep as needed: a tree logarithmically deep, not as deep as there are terms.
    Each group is kept whole wherever it is used, so no chain grows past GROUP_SIZE."""
    if len(terms) == 1:
        return terms[0]
    if len(terms) > GROUP_SIZE:
        step = -(-len(terms) // GROUP_SIZE)  # ceiling: at most GROUP_SIZE groups
        terms = [_balanced(join, terms[i : i + step]) for i in range(0, len(terms), step)]
    return _Group(join(*terms))


class JsonArray(sa.types.TypeDecorator[list[Any]]):
    """A list bound as one JSON array text, which SQLite reads with json_each: strings stay
    TEXT, floats REAL, true and false the integers 1 and 0 (as SQLite stores booleans)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()


def _json_items(name: str) -> sa.TextualSelect:
    """SQLite: the items of the list parameter `name`, as a one-column subquery (text: a
    select() of a json_each costs three times as much to build and compile)."""
    assert name.isidentifier(), name  # the parser's f<index>, never a value
    items = sa.text(f"SELECT value FROM json_each(:{name})")  # noqa: S608  (a parameter name)
    return items.bindparams(sa.bindparam(name, type_=JsonArray())).columns(sa.column("value"))


def any_of(backend: str, value: Searched, name: str, item_type: Any) -> sa.ColumnElement[bool]:
    """value is one of the items of the list parameter `name`: NULL when value is (the items
    never are); the column's index answers it, as it did an IN list."""
    if backend == "postgresql":
        return value == sa.any_(sa.bindparam(name, type_=ARRAY(item_type)))
    return value.in_(_json_items(name))


def _like_any(backend: str, value: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    """value matches one of the LIKE patterns of the list parameter `name`."""
    if backend == "postgresql":
        # Backslash is PostgreSQL's default LIKE escape, as the parser escapes % and _.
        return value.like(sa.any_(sa.bindparam(name, type_=ARRAY(sa.String))))
    # The patterns are read once per statement, in a materialized CTE: json_each in the
    # correlated subquery parsed the JSON again for every row (2-3 times the CPU of a LIKE per
    # pattern; 1.1-1.2 times with the CTE). SQLite has no default escape: it is said.
    patterns = _json_items(name).cte(f"{name}_patterns").prefix_with("MATERIALIZED")
    item = patterns.c.value
    return sa.select(item).where(value.like(item, escape="\\")).exists()


def _not_true(test: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """not_equal_to and does_not_contain: the test fails or the value is empty (NULL), as
    `value IS NULL OR NOT test`, with the value's SQL written once, not twice."""
    return test.is_not(sa.true())


def _custom_raw(backend: str, name: str) -> sa.ColumnElement[Any]:
    key = sa.bindparam(f"{name}_key", type_=sa.String)
    if backend == "postgresql":
        return Contact.custom_attributes.op("->>", return_type=sa.String)(key)
    return sa.func.json_extract(Contact.custom_attributes, key, type_=sa.String)


def _custom_value(backend: str, kind: str, name: str) -> sa.ColumnElement[Any]:
    raw = _custom_raw(backend, name)
    key = sa.bindparam(f"{name}_key", type_=sa.String)
    if kind == "c_text":
        return sa.func.nullif(sa.func.lower(raw), "")
    if kind == "c_number":
        if backend == "postgresql":
            typed = sa.func.jsonb_typeof(Contact.custom_attributes.op("->")(key)) == "number"
            return sa.case((typed, sa.cast(raw, sa.Numeric)))
        is_number = sa.func.json_type(Contact.custom_attributes, key).in_(("integer", "real"))
        return sa.case((is_number, raw))
    if kind == "c_boolean" and backend != "postgresql":
        return sa.func.json_type(Contact.custom_attributes, key)  # 'true' / 'false'
    if kind == "c_date":
        # "" is no date: it does not look like one (nor does NULL)
        looks_like_date = raw.like("____-__-__%")
        return sa.case((looks_like_date, sa.func.substr(raw, 1, 10)))
    return sa.func.nullif(raw, "")


def _labels_exist(backend: str, name: str | None) -> sa.ColumnElement[bool]:
    # Correlated to the outer contact, which the list engine scoped to the account.
    statement = keyed_by_parent(
        sa.select(ContactLabel.contact_id).where(ContactLabel.contact_id == Contact.id)
    )
    if name is not None:
        statement = statement.join(Label, Label.id == ContactLabel.label_id).where(
            Label.account_id == Contact.account_id,
            any_of(backend, Label.name_lower, name, sa.String),
        )
    return statement.exists()


def _compare(
    backend: str, value: sa.ColumnElement[Any], operator: str, name: str, kind: str
) -> sa.ColumnElement[bool]:
    if operator == PRESENT:
        return value.is_not(None)
    if operator == NOT_PRESENT:
        return value.is_(None)
    if operator in (CONTAINS, STARTS_WITH):
        return _like_any(backend, value, name)
    if operator == NOT_CONTAINS:
        return _not_true(_like_any(backend, value, name))
    value_type: Any = sa.String
    if kind == "date":
        value_type = sa.BigInteger
    elif kind == "c_number":
        value_type = sa.Numeric if backend == "postgresql" else sa.Float
    elif kind == "boolean":
        value_type = sa.Boolean
    if operator in (GT, LT, DAYS_BEFORE):
        bound = sa.bindparam(name, type_=value_type)
        if operator == GT:
            return value >= bound if kind in ("date", "c_date") else value > bound
        return value < bound
    if operator == EQ:
        return any_of(backend, value, name, value_type)
    return _not_true(any_of(backend, value, name, value_type))


def _condition(backend: str, shape: tuple[str, str, str, str]) -> sa.ColumnElement[bool]:
    kind, target, operator, name = shape
    if kind == "labels":
        if operator in PRESENCE:
            exists = _labels_exist(backend, None)
            return exists if operator == PRESENT else sa.not_(exists)
        exists = _labels_exist(backend, name)
        return exists if operator == EQ else sa.not_(exists)
    if kind == ONE_UNIQUE:  # one value, a scalar: see filter_parse.UNIQUE_KEYS
        return _standard_text(backend, target) == sa.bindparam(name, type_=sa.String)
    if kind == "boolean":
        if operator in PRESENCE:
            return sa.true() if operator == PRESENT else sa.false()
        blocked = any_of(backend, Contact.blocked, name, sa.Boolean)
        return blocked if operator == EQ else _not_true(blocked)
    value: sa.ColumnElement[Any]
    if kind == "date":
        value = getattr(Contact, target)
    elif kind.startswith("c_"):
        # Presence is about any stored value, whatever its type.
        value = _custom_value(backend, "c_list" if operator in PRESENCE else kind, name)
    else:
        value = _standard_text(backend, target)
    return _compare(backend, value, operator, name, kind)


def filter_condition(backend: str, filter_: Filter) -> sa.ColumnElement[bool]:
    """The WHERE clause of a filter; an empty payload matches every contact."""
    if not filter_.shape:
        return sa.true()
    return _balanced(
        sa.or_,
        [_balanced(sa.and_, [_condition(backend, c) for c in group]) for group in filter_.shape],
    )
