"""The list engine: one page of contacts and its exact count, for lists, searches and filters.

A request becomes a plan (the shape of its SQL plus the values to bind); statements are built
once per shape and cached, and a page costs one to three queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contacts import counters
from contactdesk.contacts.filter_parse import Filter
from contactdesk.contacts.filter_sql import filter_condition
from contactdesk.contacts.list_params import Cursor, ListQuery
from contactdesk.contacts.list_sql import (
    cursor_condition,
    cursor_params,
    order_by,
    ordered,
    search_condition,
    search_params,
    sort_expression,
)
from contactdesk.contacts.serialize import contact_json
from contactdesk.contacts.service import contact_inboxes_of
from contactdesk.db import backend_of
from contactdesk.models import Contact, ContactLabel, Label
from contactdesk.models.tenancy import keyed_by_parent, tenant_select

# A page so deep that its offset cannot be a SQL integer is simply empty.
MAX_OFFSET = 2**62


async def _label_ids(session: AsyncSession, account_id: int, names: tuple[str, ...]) -> list[int]:
    rows = await session.execute(
        tenant_select(account_id, Label.id).where(Label.name_lower.in_(names))
    )
    return sorted(rows.scalars())


@dataclass(frozen=True)
class _Plan:
    """What a list request asks for, as the shape of its SQL plus the values to bind.

    Statements are built once per shape and reused (building SQLAlchemy constructs costs more
    than running a millisecond query); every value travels as a bind parameter, except label
    ids, which are rendered as literals at execution so the planner knows how common they are.
    """

    params: dict[str, Any]
    labels: str  # "" (no filter), "none" (no such label in the account) or "ids"
    search: tuple[bool, bool] | None
    # "account" or "label" (a counter answers), "filter" (counted with the page) or "" (none)
    total: str
    filter: Filter | None = None

    def shape(self, backend: str, query: ListQuery) -> tuple[Any, ...]:
        conditions = self.filter.shape if self.filter is not None else None
        return (
            backend,
            query.sort,
            query.descending,
            self.labels,
            self.search,
            self.total,
            conditions,
        )


async def _plan(
    session: AsyncSession,
    backend: str,
    account_id: int,
    query: ListQuery,
    filter_: Filter | None,
) -> _Plan:
    params: dict[str, Any] = {"account_id": account_id}
    labels = ""
    if query.labels:
        ids = await _label_ids(session, account_id, query.labels)
        labels = "ids" if ids else "none"
        params["label_ids"] = ids
    search = None
    if query.q:
        search, search_values = search_params(backend, query.q)
        params.update(search_values)
    total = ""
    if filter_ is not None:
        params.update(filter_.params)
        total = "filter" if filter_.unique_lookup else ""
    elif not query.q and not query.labels:
        total = "account"
    elif not query.q and len(query.labels) == 1:
        total = "label"
        params["label_name"] = query.labels[0]
    return _Plan(params, labels, search, total, filter_)


def _scoped(*columns: Any) -> sa.Select[Any]:
    """A select from the plan's account (bind parameter account_id, rendered into the SQL)."""
    return tenant_select(counters.account_param(), *columns, select_from=Contact)


def _conditions(backend: str, plan: _Plan) -> list[sa.ColumnElement[bool]]:
    """The plan's conditions besides the account's (_scoped adds that one first)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if plan.labels == "none":
        conditions.append(sa.false())
    elif plan.labels == "ids":
        # EXISTS, not IN: the planner then walks the sort's index and probes each row's
        # labels for a common label instead of reading every contact to join them.
        conditions.append(
            keyed_by_parent(
                sa.exists().where(
                    ContactLabel.contact_id == Contact.id,
                    ContactLabel.label_id.in_(
                        sa.bindparam("label_ids", expanding=True, literal_execute=True)
                    ),
                )
            )
        )
    if plan.search is not None:
        conditions.append(search_condition(backend, *plan.search))
    if plan.filter is not None:
        conditions.append(filter_condition(backend, plan.filter))
    return conditions


_TOTALS = {"account": counters.account_total, "label": counters.label_total}


async def _count(session: AsyncSession, backend: str, plan: _Plan, query: ListQuery) -> int:
    """The exact number of matching contacts, from a counter whenever one answers."""
    if plan.total in _TOTALS:
        statement = sa.select(_TOTALS[plan.total]())
        return int(await session.scalar(statement, plan.params) or 0)

    def count_query() -> sa.Select[Any]:
        return _scoped(sa.func.count()).where(*_conditions(backend, plan))

    key = plan.filter.cache_key() if plan.filter is not None else ("list", query.q, query.labels)
    return await counters.cached_count(session, key, count_query, plan.params)


# PostgreSQL builds each row's contact_inboxes in the page query itself (one round trip less);
# the keys are those of serialize.inbox_json.
_PG_CONTACT_INBOXES = sa.literal_column(
    "(SELECT coalesce(json_agg(json_build_object("
    "'source_id', ci.source_id, 'inbox', json_build_object("
    "'id', i.id, 'avatar_url', coalesce(i.avatar_url, ''), 'channel_id', i.id, "
    "'name', i.name, 'channel_type', i.channel_type, 'provider', i.provider)"
    ") ORDER BY ci.id), '[]') "
    "FROM contact_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id "
    "WHERE ci.contact_id = contacts.id AND ci.account_id = contacts.account_id)",
    sa.String,
)
_PAGE_STATEMENTS: dict[tuple[Any, ...], sa.Select[Any]] = {}


def _page_statement(
    backend: str, plan: _Plan, query: ListQuery, part: str, inboxes: bool
) -> sa.Select[Any]:
    """The page query of a shape: filter, order and skip on (id, sort value) alone, then read
    only the page's rows whole, with their contact inboxes (PostgreSQL) and the counter."""
    key = (*plan.shape(backend, query), part, inboxes)
    statement = _PAGE_STATEMENTS.get(key)
    if statement is not None:
        return statement
    where = _conditions(backend, plan)
    if part != "offset":
        where.append(cursor_condition(backend, query.sort, query.descending, part))
    sort_value = sort_expression(backend, query.sort)
    inner = (
        _scoped(Contact.id.label("page_id"), sort_value.label("sort_value"))
        .where(*where)
        .order_by(*order_by(backend, query))
        .limit(sa.bindparam("limit", type_=sa.BigInteger))
        .offset(sa.bindparam("offset", type_=sa.BigInteger))
        .subquery("page")
    )
    columns: list[sa.ColumnElement[Any]] = [*Contact.__table__.columns, inner.c.sort_value]
    if plan.total == "filter":
        # A unique-key lookup matches a handful of rows: counting them with the page costs
        # less than a second round trip. Uncorrelated: it counts the account's matches.
        count = _scoped(sa.func.count()).where(*_conditions(backend, plan))
        columns.append(count.scalar_subquery().correlate(None).label("total"))
    elif plan.total:
        columns.append(_TOTALS[plan.total]().label("total"))
    if inboxes:
        columns.append(_PG_CONTACT_INBOXES.label("inboxes_json"))
    # The rows the scoped page subquery chose, read whole.
    built: sa.Select[Any] = keyed_by_parent(
        sa.select(*columns)
        .join_from(inner, Contact, Contact.id == inner.c.page_id)
        .order_by(*ordered(inner.c.sort_value, query.sort, query.descending))
    )
    if len(_PAGE_STATEMENTS) < 4096:
        _PAGE_STATEMENTS[key] = built
    return built


async def _page(
    session: AsyncSession, backend: str, plan: _Plan, query: ListQuery
) -> tuple[list[Any], Cursor | None]:
    """One page (by offset or after a cursor) and the cursor of the page that follows it."""
    inboxes = backend == "postgresql" and query.include_contact_inboxes

    async def fetch(part: str, params: dict[str, Any]) -> list[Any]:
        statement = _page_statement(backend, plan, query, part, inboxes)
        return list((await session.execute(statement, {**plan.params, **params})).all())

    custom_plan = plan.search is not None or (plan.filter is not None and not plan.total)
    if backend == "postgresql" and custom_plan:
        # The term decides the plan: a common one walks the sort's index, a rare one starts
        # from the trigram index. A cached generic plan, costed for no term in particular,
        # picked the trigram index for every term (850 ms for a common one, against 5 ms).
        # Filter values vary as much (a rare email, a common city), so they are planned alike.
        await session.execute(_CUSTOM_PLANS)
        try:
            return await _page_rows(backend, query, fetch)
        finally:
            await session.execute(_CACHED_PLANS)
    return await _page_rows(backend, query, fetch)


_CUSTOM_PLANS = sa.text("SET plan_cache_mode = force_custom_plan")
_CACHED_PLANS = sa.text("RESET plan_cache_mode")


async def _page_rows(
    backend: str,
    query: ListQuery,
    fetch: Callable[[str, dict[str, Any]], Awaitable[list[Any]]],
) -> tuple[list[Any], Cursor | None]:
    """Offset pages in one fetch; cursor pages in the valued part, then the blank rows."""
    wanted = query.page_size + 1  # one more tells whether a next page exists
    rows: list[Any] = []
    if query.after is None:
        if query.offset < MAX_OFFSET:
            rows = await fetch("offset", {"limit": wanted, "offset": query.offset})
    else:
        at = cursor_params(backend, query.after)
        first = "blanks_after" if query.after.value is None else "valued"
        rows = await fetch(first, {**at, "limit": wanted, "offset": 0})
        if first == "valued" and len(rows) < wanted:
            rows += await fetch("blanks", {"limit": wanted - len(rows), "offset": 0})
    if len(rows) < wanted:
        return rows, None
    rows = rows[: query.page_size]
    last = rows[-1]
    return rows, Cursor(query.sort, query.descending, last.sort_value, last.id)


def _json(value: Any) -> Any:
    """asyncpg decodes json columns itself; a driver that hands back text gets parsed here."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def list_contacts(
    session: AsyncSession, account_id: int, query: ListQuery, filter_: Filter | None = None
) -> dict[str, Any]:
    """An exact count and one page, in one to three queries whatever the page size."""
    backend = backend_of(session)
    plan = await _plan(session, backend, account_id, query, filter_)
    rows, following = await _page(session, backend, plan, query)
    if rows and plan.total:
        count = int(rows[0].total)  # read with the page, in the same statement
    else:
        count = await _count(session, backend, plan, query)
    inboxes: dict[int, list[dict[str, Any]]] = {}
    if query.include_contact_inboxes:
        if backend == "postgresql":
            inboxes = {row.id: _json(row.inboxes_json) for row in rows}
        else:
            inboxes = await contact_inboxes_of(session, account_id, [row.id for row in rows])
    payload = [
        contact_json(row, inboxes[row.id] if query.include_contact_inboxes else None)
        for row in rows
    ]
    meta = {
        "count": count,
        "current_page": query.page_echo,
        "next_cursor": following.encode() if following is not None else None,
    }
    return {"meta": meta, "payload": payload}
