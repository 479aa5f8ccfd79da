"""POST /contacts/filter, the SQL: the WHERE clause of a parsed filter, from its shape alone
(contacts/filter_parse.py holds the parser and the operator names).

Chains of OR and AND are built as shallow trees of parenthesized groups (_balanced): SQLite
parses `a OR b OR c ...` as a tree as deep as the chain is long and refuses a statement
deeper than 1000 ("Expression tree is too large"), which 10 conditions of 100 values reach.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import Grouping

from contactdesk.contacts.filter_parse import (
    CONTAINS,
    DAYS_BEFORE,
    EQ,
    GT,
    LT,
    NOT_CONTAINS,
    NOT_PRESENT,
    PRESENCE,
    PRESENT,
    STARTS_WITH,
    Filter,
)
from contactdesk.contacts.list_sql import json_text, sort_expression
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


# Terms per group: a filter at the caps (50 conditions of 100 values) nests a few groups deep,
# a tree about 100 deep where SQLite allows 1000.
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
        text = sa.func.nullif(raw, "")
        looks_like_date = text.like("____-__-__%")
        return sa.case((looks_like_date, sa.func.substr(text, 1, 10)))
    return sa.func.nullif(raw, "")


def _labels_exist(name: str | None) -> sa.ColumnElement[bool]:
    # Correlated to the outer contact, which the list engine scoped to the account.
    statement = keyed_by_parent(
        sa.select(ContactLabel.contact_id).where(ContactLabel.contact_id == Contact.id)
    )
    if name is not None:
        statement = statement.join(Label, Label.id == ContactLabel.label_id).where(
            Label.account_id == Contact.account_id,
            Label.name_lower.in_(sa.bindparam(name, expanding=True)),
        )
    return statement.exists()


def _like(backend: str, value: sa.ColumnElement[Any], pattern: str) -> sa.ColumnElement[bool]:
    bound = sa.bindparam(pattern, type_=sa.String)
    # PostgreSQL's LIKE escapes with a backslash by default; SQLite needs it said.
    return value.like(bound) if backend == "postgresql" else value.like(bound, escape="\\")


def _compare(
    backend: str, value: sa.ColumnElement[Any], operator: str, count: int, name: str, kind: str
) -> sa.ColumnElement[bool]:
    if operator == PRESENT:
        return value.is_not(None)
    if operator == NOT_PRESENT:
        return value.is_(None)
    if operator in (CONTAINS, NOT_CONTAINS, STARTS_WITH):
        matches = _balanced(sa.or_, [_like(backend, value, f"{name}_{i}") for i in range(count)])
        if operator == NOT_CONTAINS:
            return sa.or_(value.is_(None), sa.not_(matches))
        return matches
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
    values = sa.bindparam(name, expanding=True, type_=value_type)
    if operator == EQ:
        return value.in_(values)
    return sa.or_(value.is_(None), value.not_in(values))


def _condition(backend: str, shape: tuple[Any, ...]) -> sa.ColumnElement[bool]:
    kind, target, operator, count, name = shape
    if kind == "labels":
        if operator in PRESENCE:
            exists = _labels_exist(None)
            return exists if operator == PRESENT else sa.not_(exists)
        exists = _labels_exist(name)
        return exists if operator == EQ else sa.not_(exists)
    if kind == "boolean":
        if operator in PRESENCE:
            return sa.true() if operator == PRESENT else sa.false()
        values = sa.bindparam(name, expanding=True, type_=sa.Boolean)
        return Contact.blocked.in_(values) if operator == EQ else Contact.blocked.not_in(values)
    value: sa.ColumnElement[Any]
    if kind == "date":
        value = getattr(Contact, target)
    elif kind.startswith("c_"):
        # Presence is about any stored value, whatever its type.
        value = _custom_value(backend, "c_list" if operator in PRESENCE else kind, name)
    else:
        value = _standard_text(backend, target)
    return _compare(backend, value, operator, count, name, kind)


def filter_condition(backend: str, filter_: Filter) -> sa.ColumnElement[bool]:
    """The WHERE clause of a filter; an empty payload matches every contact."""
    if not filter_.shape:
        return sa.true()
    return _balanced(
        sa.or_,
        [_balanced(sa.and_, [_condition(backend, c) for c in group]) for group in filter_.shape],
    )
