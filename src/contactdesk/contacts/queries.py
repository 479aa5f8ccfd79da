"""The list engine: one page of contacts and its exact count, for lists, searches and filters.

A request becomes a plan (the shape of its SQL plus the values to bind); statements are built
once per shape and cached, and a page costs one to three queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

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
from contactdesk.contacts.serialize import contact_json_sql
from contactdesk.driver import BoundedCache, ReadConnection
from contactdesk.errors import NotFound
from contactdesk.models import Contact, ContactLabel, Label
from contactdesk.models.tenancy import keyed_by_parent, tenant_select
from contactdesk.values import parse_id

# A page so deep that its offset cannot be a SQL integer is simply empty.
MAX_OFFSET = 2**62


_LABEL_IDS = tenant_select(counters.account_param(), Label.id).where(
    Label.name_lower.in_(sa.bindparam("label_names", expanding=True, type_=sa.String))
)


async def _label_ids(conn: ReadConnection, account_id: int, names: tuple[str, ...]) -> list[int]:
    rows = await conn.fetch(_LABEL_IDS, {"account_id": account_id, "label_names": list(names)})
    return sorted(row[0] for row in rows)


@dataclass(frozen=True)
class _Plan:
    """What a list request asks for, as the shape of its SQL plus the values to bind.

    Statements are built once per shape and reused (building SQLAlchemy constructs costs more
    than running a millisecond query); every value travels as a bind parameter, except label
    ids, which are rendered as literals at execution so the planner knows how common they are.
    """

    params: dict[str, Any]
    # "" (no filter), "none" (no such label in the account), "one" (one label and nothing
    # else: its page is read from contact_labels, see _label_page) or "ids"
    labels: str
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
    conn: ReadConnection,
    backend: str,
    account_id: int,
    query: ListQuery,
    filter_: Filter | None,
) -> _Plan:
    params: dict[str, Any] = {"account_id": account_id}
    labels = ""
    if query.labels:
        ids = await _label_ids(conn, account_id, query.labels)
        labels = "ids" if ids else "none"
        if len(ids) == 1 and not query.q and filter_ is None and query.sort == "created_at":
            labels = "one"
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
    elif plan.labels in ("ids", "one"):
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


# Page and count statements, built once per shape and kept while they are used, in one cache
# bounded in bytes. A filter's values are bind parameters, one per condition however many
# values it has (contacts/filter_sql.py), so a statement's size depends on its number of
# conditions alone. tracemalloc measured what a cached statement holds, compiled for its
# backend (asyncpg's SQL text included): 20-40 KB for a list page or a one-condition filter,
# and per condition 3-10 KB more on PostgreSQL, 4-14 KB on SQLite (custom numbers, dates and
# text the most): 0.2-0.6 MB for 50 conditions (the caps). STATEMENT_BYTES and CONDITION_BYTES
# round those up; SQLite's compiled forms are bounded apart (driver.SQLITE_COMPILED_BYTES).
STATEMENT_CACHE_BYTES = 24 * 1024 * 1024
STATEMENT_BYTES = 64 * 1024
CONDITION_BYTES = 16 * 1024
_STATEMENTS: BoundedCache[tuple[Any, ...], sa.Select[Any]] = BoundedCache(STATEMENT_CACHE_BYTES)


def _cached(
    key: tuple[Any, ...], plan: _Plan, build: Callable[[], sa.Select[Any]], times: int = 1
) -> sa.Select[Any]:
    """The statement of a shape: the cached one, else built and kept (the filter's conditions
    are in it `times` times)."""
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = build()
        conditions = sum(map(len, plan.filter.shape)) if plan.filter is not None else 0
        _STATEMENTS.put(key, statement, STATEMENT_BYTES + CONDITION_BYTES * conditions * times)
    return statement


_TOTALS = {"account": counters.account_total, "label": counters.label_total}
_TOTAL_STATEMENTS = {name: sa.select(total()) for name, total in _TOTALS.items()}


async def _count(
    conn: ReadConnection, plan: _Plan, query: ListQuery, generation: int | None = None
) -> int:
    """The exact number of matching contacts, from a counter whenever one answers, else from
    the count cache (generation: the account's, read with the page)."""
    if plan.total in _TOTAL_STATEMENTS:
        return int(await conn.fetchval(_TOTAL_STATEMENTS[plan.total], plan.params) or 0)

    def build() -> sa.Select[Any]:
        count = _scoped(sa.func.count()).where(*_conditions(conn.backend, plan))
        return counters.with_generation(count)

    def statement() -> sa.Select[Any]:
        return _cached(("count", *plan.shape(conn.backend, query)), plan, build)

    key = plan.filter.cache_key() if plan.filter is not None else ("list", query.q, query.labels)
    return await counters.cached_count(conn, key, statement, plan.params, generation)


def _page_statement(
    backend: str, plan: _Plan, query: ListQuery, part: str, inboxes: bool
) -> sa.Select[Any]:
    """The page query of a shape: filter, order and skip on (id, sort value) alone, then read
    only the page's rows, each as the JSON the API returns (rendered by the database), with
    the count when a counter or the page's own matches answer it."""
    key = ("page", *plan.shape(backend, query), part, inboxes)
    # the count of a unique lookup repeats the filter's conditions
    times = 2 if plan.total == "filter" else 1
    return _cached(key, plan, lambda: _build_page(backend, plan, query, part, inboxes), times)


def _paged(statement: sa.Select[Any]) -> sa.Select[Any]:
    """An ordered statement, cut to the page (bind parameters limit and offset)."""
    # Rendered into the SQL, like the account: with LIMIT and OFFSET as parameters,
    # PostgreSQL's generic plan cannot know a page is 16 rows (it joined two million
    # contacts by hash: 467 ms), so every execution was planned anew (1.5 ms of planning
    # against 0.5 ms of execution). With them in the text, the plan of a page is cached.
    return statement.limit(sa.bindparam("limit", type_=sa.BigInteger, literal_execute=True)).offset(
        sa.bindparam("offset", type_=sa.BigInteger, literal_execute=True)
    )


def _limited(statement: sa.Select[Any]) -> sa.Subquery:
    """The page's rows of an ordered statement, as the subquery "page"."""
    return _paged(statement).subquery("page")


def _chosen(
    backend: str, plan: _Plan, query: ListQuery, part: str, *extra: sa.ColumnElement[Any]
) -> sa.Select[Any]:
    """(page_id, sort_value, *extra) of the page's contacts, chosen on contacts' own
    indexes, in the page's order."""
    where = _conditions(backend, plan)
    if part != "offset":
        where.append(cursor_condition(backend, query.sort, query.descending, part))
    sort_value = sort_expression(backend, query.sort)
    return _paged(
        _scoped(Contact.id.label("page_id"), sort_value.label("sort_value"), *extra)
        .where(*where)
        .order_by(*order_by(backend, query))
    )


def _contacts_page(backend: str, plan: _Plan, query: ListQuery, part: str) -> sa.Subquery:
    """(page_id, sort_value) of the page's contacts, as the subquery "page"."""
    return _chosen(backend, plan, query, part).subquery("page")


def _label_page(query: ListQuery, part: str) -> sa.Subquery:
    """(page_id, sort_value) of the page of one label's contacts in created_at order, read
    from contact_labels' (account, label, contact_created_at, contact) index alone: the 16
    entries of a page instead of a walk of the account's contacts probing each one's labels
    (migration 0007). created_at is never blank, so the cursor's blank parts are empty."""
    key = (ContactLabel.contact_created_at, ContactLabel.contact_id)
    condition: sa.ColumnElement[bool] = ContactLabel.label_id.in_(
        sa.bindparam("label_ids", expanding=True, literal_execute=True)
    )
    if part in ("blanks", "blanks_after"):
        condition = sa.and_(condition, sa.false())
    elif part == "valued":
        cursor = sa.tuple_(
            sa.bindparam("cursor_value", type_=sa.BigInteger),
            sa.bindparam("cursor_id", type_=sa.BigInteger),
        )
        pair = sa.tuple_(*key)
        condition = sa.and_(condition, pair < cursor if query.descending else pair > cursor)
    order = [column.desc() if query.descending else column.asc() for column in key]
    return _limited(
        tenant_select(
            counters.account_param(),
            ContactLabel.contact_id.label("page_id"),
            ContactLabel.contact_created_at.label("sort_value"),
            select_from=ContactLabel,
        )
        .where(condition)
        .order_by(*order)
    )


def _build_page(
    backend: str, plan: _Plan, query: ListQuery, part: str, inboxes: bool
) -> sa.Select[Any]:
    if plan.labels == "one":
        inner = _label_page(query, part)
    else:
        inner = _contacts_page(backend, plan, query, part)
    # Read by position: id, sort value, the contact's JSON, then the count or the generation.
    columns: list[sa.ColumnElement[Any]] = [
        inner.c.page_id,
        inner.c.sort_value,
        contact_json_sql(backend, contact_inboxes=inboxes).label("contact"),
    ]
    if plan.total == "filter":
        # A unique-key lookup matches a handful of rows: counting them with the page costs
        # less than a second round trip. Uncorrelated: it counts the account's matches.
        count = _scoped(sa.func.count()).where(*_conditions(backend, plan))
        columns.append(count.scalar_subquery().correlate(None).label("total"))
    elif plan.total:
        columns.append(_TOTALS[plan.total]().label("total"))
    else:
        # The count comes from the count cache: the account's generation, read with the rows
        # in one snapshot, tells whether the cached count still holds (counters.cached_count).
        columns.append(counters.generation().label("generation"))
    # The rows the scoped page subquery chose, read whole.
    built: sa.Select[Any] = keyed_by_parent(
        sa.select(*columns)
        .join_from(inner, Contact, Contact.id == inner.c.page_id)
        .order_by(*ordered(inner.c.sort_value, query.sort, query.descending))
    )
    return built


def _ids_statement(backend: str, plan: _Plan, query: ListQuery, part: str) -> sa.Select[Any]:
    """The page's (id, sort value, the account's generation), for a plan whose statement is
    planned for its values (see _page)."""
    key = ("ids", *plan.shape(backend, query), part)
    return _cached(
        key,
        plan,
        lambda: _chosen(backend, plan, query, part, counters.generation().label("generation")),
    )


def _by_ids(backend: str, inboxes: bool) -> sa.Select[Any]:
    """The JSON of the contacts of a page, by id (bind parameter page_ids): one statement
    text whatever the page's size (an array on PostgreSQL), so its plan is cached."""
    ids: sa.ColumnElement[bool]
    if backend == "postgresql":
        ids = Contact.id == sa.any_(sa.bindparam("page_ids", type_=sa.ARRAY(sa.BigInteger)))
    else:
        ids = Contact.id.in_(sa.bindparam("page_ids", expanding=True, type_=sa.BigInteger))
    return tenant_select(
        counters.account_param(),
        Contact.id,
        contact_json_sql(backend, contact_inboxes=inboxes),
        select_from=Contact,
    ).where(ids)


_BY_IDS = {
    (backend, inboxes): _by_ids(backend, inboxes)
    for backend in ("postgresql", "sqlite")
    for inboxes in (True, False)
}


async def _page(
    conn: ReadConnection, plan: _Plan, query: ListQuery
) -> tuple[Sequence[Sequence[Any]], Cursor | None]:
    """One page (by offset or after a cursor) and the cursor of the page that follows it."""
    backend = conn.backend
    inboxes = query.include_contact_inboxes

    if plan.search is not None or (plan.filter is not None and not plan.total):
        # The term decides the plan: a common one walks the sort's index, a rare one starts
        # from the trigram index. A cached generic plan, costed for no term in particular,
        # picked the trigram index for every term (850 ms for a common one, against 5 ms).
        # Filter values vary as much (a rare email, a common city), so they are planned alike.
        # Only the choice of the page is: planning the JSON of its rows with it doubled the
        # planning time (0.8-1.5 ms against 0.2-0.3 ms for the choice alone, `q=smith`), so
        # the rows are read by id afterwards, by a statement whose plan is cached.
        async def choose(part: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
            statement = _ids_statement(backend, plan, query, part)
            return await conn.fetch(statement, {**plan.params, **params})

        async with conn.custom_plans():
            chosen, following = await _page_rows(backend, query, choose)
        if not chosen:
            return chosen, following
        params = {"account_id": plan.params["account_id"], "page_ids": [r[0] for r in chosen]}
        documents = dict(await conn.fetch(_BY_IDS[(backend, inboxes)], params))
        # A contact deleted between the two statements is left out of the page.
        rows = [
            (row[0], row[1], documents[row[0]], row[2]) for row in chosen if row[0] in documents
        ]
        return rows, following

    async def fetch(part: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        statement = _page_statement(backend, plan, query, part, inboxes)
        return await conn.fetch(statement, {**plan.params, **params})

    return await _page_rows(backend, query, fetch)


async def _page_rows(
    backend: str,
    query: ListQuery,
    fetch: Callable[[str, dict[str, Any]], Awaitable[Sequence[Sequence[Any]]]],
) -> tuple[Sequence[Sequence[Any]], Cursor | None]:
    """Offset pages in one fetch; cursor pages in the valued part, then the blank rows."""
    wanted = query.page_size + 1  # one more tells whether a next page exists
    rows: Sequence[Sequence[Any]] = []
    if query.after is None:
        if query.offset < MAX_OFFSET:
            rows = await fetch("offset", {"limit": wanted, "offset": query.offset})
    else:
        at = cursor_params(backend, query.after)
        first = "blanks_after" if query.after.value is None else "valued"
        rows = await fetch(first, {**at, "limit": wanted, "offset": 0})
        if first == "valued" and len(rows) < wanted:
            blanks = await fetch("blanks", {"limit": wanted - len(rows), "offset": 0})
            rows = [*rows, *blanks]
    if len(rows) < wanted:
        return rows, None
    rows = rows[: query.page_size]
    last = rows[-1]
    return rows, Cursor(query.sort, query.descending, last[1], last[0])


async def list_contacts(
    conn: ReadConnection, account_id: int, query: ListQuery, filter_: Filter | None = None
) -> dict[str, Any]:
    """An exact count and one page, in one to three queries whatever the page size. The page
    is JSON text the database rendered (an orjson.Fragment in the payload)."""
    plan = await _plan(conn, conn.backend, account_id, query, filter_)
    rows, following = await _page(conn, plan, query)
    if rows and plan.total:
        count = int(rows[0][3])  # read with the page, in the same statement
    else:
        count = await _count(conn, plan, query, int(rows[0][3]) if rows else None)
    meta = {
        "count": count,
        "current_page": query.page_echo,
        "next_cursor": following.encode() if following is not None else None,
    }
    payload = orjson.Fragment(_json_array([row[2] for row in rows]))
    return {"meta": meta, "payload": payload}


def _json_array(items: list[Any]) -> bytes | str:
    """A JSON array of JSON texts: bytes from PostgreSQL (driver.py), str from SQLite."""
    if items and isinstance(items[0], bytes):
        return b"[" + b",".join(items) + b"]"
    return "[" + ",".join(items) + "]"


_SHOW_STATEMENTS = {
    (backend, inboxes): tenant_select(
        counters.account_param(),
        contact_json_sql(backend, contact_inboxes=inboxes),
        select_from=Contact,
    ).where(Contact.id == sa.bindparam("contact_id", type_=sa.BigInteger))
    for backend in ("postgresql", "sqlite")
    for inboxes in (True, False)
}


async def _document(
    conn: ReadConnection, account_id: int, contact_id: str | int, contact_inboxes: bool
) -> str | bytes | dict[str, Any]:
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    statement = _SHOW_STATEMENTS[(conn.backend, contact_inboxes)]
    text = await conn.fetchval(statement, {"account_id": account_id, "contact_id": parsed})
    if text is None:
        raise NotFound()
    return text  # type: ignore[no-any-return]


async def contact_document(
    conn: ReadConnection, account_id: int, contact_id: str | int, *, contact_inboxes: bool = True
) -> orjson.Fragment | dict[str, Any]:
    """One contact of the account as the JSON the API returns, rendered by the database (a
    session on PostgreSQL, through SQLAlchemy's json codec, hands it over decoded)."""
    text = await _document(conn, account_id, contact_id, contact_inboxes)
    if isinstance(text, dict):
        return text
    return orjson.Fragment(text)


def _decoded(value: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = value if isinstance(value, dict) else orjson.loads(value)
    return decoded


async def contact_state(
    conn: ReadConnection, account_id: int, contact_id: str | int
) -> dict[str, Any]:
    """One contact as the API renders it, with its contact inboxes, decoded (the body of an
    event); 404 when the account has no such contact."""
    return _decoded(await _document(conn, account_id, contact_id, True))


async def contact_states(
    conn: ReadConnection, account_id: int, contact_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Many contacts as contact_state renders them, in one statement (missing ones left out)."""
    contact_ids = [i for i in contact_ids if 0 < i < 2**63]  # no other can be an id
    if not contact_ids:
        return {}
    params = {"account_id": account_id, "page_ids": contact_ids}
    rows = await conn.fetch(_BY_IDS[(conn.backend, True)], params)
    return {int(row[0]): _decoded(row[1]) for row in rows}


async def contacts_after(
    conn: ReadConnection, account_id: int, query: ListQuery, filter_: Filter | None = None
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of contacts in the query's order (decoded, as the list renders them) and the
    cursor of the next page (None at the end): the list without its count, for walking a
    whole selection page by page (export)."""
    plan = await _plan(conn, conn.backend, account_id, query, filter_)
    rows, following = await _page(conn, plan, query)
    return [_decoded(row[2]) for row in rows], following
