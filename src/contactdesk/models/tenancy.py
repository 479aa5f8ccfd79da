"""Tenant scoping: every select, update and delete on a tenant table starts here.

A tenant table is one with an ``account_id`` column. ``tenant_select`` adds the account
condition for every tenant table the statement selects from; ``tenant_update`` and
``tenant_delete`` for the table they change. The account may be an id or a bind parameter
(the list engine renders it into the SQL, see contacts/counters.account_param).

Two markers let a statement on a tenant table be written without the helper, and a test
(tests/architecture/test_tenancy_lint.py) allows exactly those:

- ``keyed_by_parent``: the statement is keyed by a row already fetched through the helper
  (a contact's contact inboxes, a label's counter). The composite foreign keys of migration
  0004 keep every child row in its parent's account, so the parent's scope is the child's.
- ``across_accounts``: a credential lookup, where the secret itself names the account
  (allowed in the auth domain only).
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa

from contactdesk.db import Base

AccountRef = int | sa.BindParameter[int] | sa.ColumnElement[int]
Target = type[Base] | sa.Table
S = TypeVar("S")


def _table(target: Target) -> sa.Table:
    table = target if isinstance(target, sa.Table) else target.__table__
    assert isinstance(table, sa.Table)
    return table


def is_tenant_table(table: Any) -> bool:
    return isinstance(table, sa.Table) and "account_id" in table.c


def tenant_select(
    account_id: AccountRef, *entities: Any, select_from: Target | None = None
) -> sa.Select[Any]:
    """``select(*entities)`` restricted to the account on every tenant table it reads."""
    statement: sa.Select[Any] = sa.select(*entities)
    # The tables the columns come from (read without compiling the statement: on the hot
    # path, get_final_froms() cost 0.4-0.8 ms a call), and the explicit FROM.
    froms = list(statement.columns_clause_froms)
    if select_from is not None:
        statement = statement.select_from(select_from)
        froms.append(_table(select_from))
    tables = [t for t in dict.fromkeys(froms) if is_tenant_table(t)]
    if not tables:
        raise TypeError("tenant_select needs a tenant table among its entities or select_from")
    for table in tables:
        assert isinstance(table, sa.Table)
        statement = statement.where(table.c.account_id == account_id)
    return statement


def _tenant_table(target: Target) -> sa.Table:
    table = _table(target)
    if not is_tenant_table(table):
        raise TypeError(f"{table.name} is not a tenant table")
    return table


def tenant_update(target: Target, account_id: AccountRef) -> sa.Update:
    """``update(target)`` of the account's rows only (a Core statement on the table)."""
    table = _tenant_table(target)
    return sa.update(table).where(table.c.account_id == account_id)


def tenant_delete(target: Target, account_id: AccountRef) -> sa.Delete:
    """``delete(target)`` of the account's rows only (a Core statement on the table)."""
    table = _tenant_table(target)
    return sa.delete(table).where(table.c.account_id == account_id)


def keyed_by_parent(statement: S) -> S:
    """Mark a statement keyed by a parent row the caller already fetched scoped."""
    return statement


def across_accounts(statement: S) -> S:
    """Mark a credential lookup: the secret names the account (auth only)."""
    return statement


def any_account(statement: S) -> S:
    """Mark a background runner's look for its next piece of work, whichever account's
    (the modules the tenancy lint lists only); what it then does is scoped."""
    return statement
