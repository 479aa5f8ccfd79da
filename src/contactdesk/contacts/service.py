"""The contacts domain: every query here is scoped by account. Services flush, routes commit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contacts import counters
from contactdesk.contacts.fields import (
    ContactInput,
    parse_contact_fields,
    parse_inbox_field,
    parse_source_field,
)
from contactdesk.contacts.filter import Filter, filter_condition
from contactdesk.contacts.listing import (
    Cursor,
    ListQuery,
    cursor_condition,
    cursor_params,
    order_by,
    ordered,
    search_condition,
    search_params,
    sort_expression,
)
from contactdesk.contacts.serialize import contact_json, inbox_json
from contactdesk.custom_attributes.validation import check_contact_input
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.ids import parse_id
from contactdesk.inboxes.service import get_inbox
from contactdesk.models import Contact, ContactInbox, ContactLabel, Inbox, Label
from contactdesk.models._time import now_epoch

UNIQUE_FIELDS = (
    ("email", "Email has already been taken"),
    ("phone_number", "Phone number has already been taken"),
    ("identifier", "Identifier has already been taken"),
)
SOURCE_TAKEN = "Source has already been taken"
# A page so deep that its offset cannot be a SQL integer is simply empty.
MAX_OFFSET = 2**62


def scoped(account_id: int) -> sa.Select[Contact]:
    return sa.select(Contact).where(Contact.account_id == account_id)


async def get_contact(
    session: AsyncSession, account_id: int, contact_id: str | int, *, for_update: bool = False
) -> Contact:
    parsed = contact_id if isinstance(contact_id, int) else parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    statement = scoped(account_id).where(Contact.id == parsed)
    if for_update:
        statement = statement.with_for_update()
    contact = (await session.execute(statement)).scalar_one_or_none()
    if contact is None:
        raise NotFound()
    return contact


async def contact_inboxes_of(
    session: AsyncSession, account_id: int, contact_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The contact inboxes of many contacts in one query."""
    result: dict[int, list[dict[str, Any]]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return result
    rows = await session.execute(
        sa.select(
            ContactInbox.contact_id,
            ContactInbox.source_id,
            Inbox.id,
            Inbox.avatar_url,
            Inbox.name,
            Inbox.channel_type,
            Inbox.provider,
        )
        .join(Inbox, Inbox.id == ContactInbox.inbox_id)
        .where(ContactInbox.account_id == account_id, ContactInbox.contact_id.in_(contact_ids))
        .order_by(ContactInbox.id)
    )
    for row in rows:
        result[row.contact_id].append({"source_id": row.source_id, "inbox": inbox_json(row)})
    return result


async def render(
    session: AsyncSession, contact: Contact, *, include_contact_inboxes: bool = True
) -> dict[str, Any]:
    inboxes = None
    if include_contact_inboxes:
        inboxes = (await contact_inboxes_of(session, contact.account_id, [contact.id]))[contact.id]
    return contact_json(contact, inboxes)


async def find_conflicts(
    session: AsyncSession, account_id: int, values: dict[str, Any], exclude_id: int | None = None
) -> ValidationFailed | None:
    """Which unique fields of values another contact of the account already holds."""
    wanted = [(f, m) for f, m in UNIQUE_FIELDS if values.get(f) is not None]
    if not wanted:
        return None
    conditions = [getattr(Contact, f) == values[f] for f, _ in wanted]
    statement = sa.select(
        Contact.id, Contact.email, Contact.phone_number, Contact.identifier
    ).where(Contact.account_id == account_id, sa.or_(*conditions))
    if exclude_id is not None:
        statement = statement.where(Contact.id != exclude_id)
    rows = (await session.execute(statement)).all()
    problems: list[tuple[str, str]] = []
    first_id: int | None = None
    for attribute, message in wanted:
        holder = next((r.id for r in rows if getattr(r, attribute) == values[attribute]), None)
        if holder is not None:
            problems.append((attribute, message))
            first_id = holder if first_id is None else first_id
    if not problems:
        return None
    return ValidationFailed(problems, extra={"conflicting_contact_id": first_id})


def _derive_name(values: dict[str, Any], first: str, last: str) -> None:
    """first_name/last_name without name: name is the non-empty ones joined by a space."""
    if "name" in values or not ({"first_name", "last_name"} & values.keys()):
        return
    values["name"] = " ".join(part for part in (first, last) if part)


def default_source_id(inbox: Inbox, contact: Contact) -> str:
    """The source_id an inbox gives a contact when the client sends none (contract §4.6)."""
    channel = inbox.channel_type
    if channel == "Channel::Email":
        if not contact.email:
            raise ValidationFailed(
                [("email", "Email can't be blank for an Email inbox; set it or send source_id")]
            )
        return contact.email
    if channel in ("Channel::Sms", "Channel::Whatsapp"):
        if not contact.phone_number:
            kind = channel.removeprefix("Channel::")
            message = f"Phone number can't be blank for a {kind} inbox; set it or send source_id"
            raise ValidationFailed([("phone_number", message)])
        phone = contact.phone_number
        return phone.removeprefix("+") if channel == "Channel::Whatsapp" else phone
    return str(uuid.uuid4())


@dataclass
class Created:
    contact: Contact
    inbox: Inbox | None
    source_id: str | None


async def source_holder(session: AsyncSession, inbox_id: int, source_id: str) -> int | None:
    """The contact holding source_id in the inbox (any contact: the pair is unique)."""
    found = await session.execute(
        sa.select(ContactInbox.contact_id).where(
            ContactInbox.inbox_id == inbox_id, ContactInbox.source_id == source_id
        )
    )
    return found.scalar_one_or_none()


async def parse_create_body(
    session: AsyncSession, body: dict[str, Any], account_id: int, dialect: str
) -> tuple[ContactInput, int | None, str | None]:
    """The create body (contract §5): the contact fields (custom attributes checked against
    the account's definitions), inbox_id (required in v2) and source_id; every problem is
    collected in the returned input's problems."""
    data = parse_contact_fields(body, creating=True)
    await check_contact_input(session, account_id, data)
    inbox_id = None
    if dialect == "v2" or body.get("inbox_id") is not None:
        inbox_id = parse_inbox_field(body, data.problems)
    source_id = parse_source_field(body, data.problems)
    return data, inbox_id, source_id


async def create_contact(
    session: AsyncSession,
    account_id: int,
    data: ContactInput,
    inbox_id: int | None,
    source_id: str | None,
) -> Created:
    """Insert a contact (and its contact inbox) in one transaction; duplicates become 422."""
    await check_contact_input(session, account_id, data)
    if data.problems:
        raise await reject(session, account_id, data)
    values = dict(data.values)
    _derive_name(values, values.get("first_name", ""), values.get("last_name", ""))
    for attempt in range(3):
        inbox = await get_inbox(session, account_id, inbox_id) if inbox_id is not None else None
        now = now_epoch()
        contact = Contact(
            account_id=account_id,
            created_at=now,
            updated_at=now,
            name="",
            first_name="",
            last_name="",
            blocked=False,
            thumbnail="",
            availability_status="offline",
            additional_attributes={},
            custom_attributes={},
        )
        for key, value in values.items():
            setattr(contact, key, value)
        session.add(contact)
        try:
            await session.flush()
            chosen = None
            if inbox is not None:
                chosen = source_id or default_source_id(inbox, contact)
                session.add(
                    ContactInbox(
                        account_id=account_id,
                        contact_id=contact.id,
                        inbox_id=inbox.id,
                        source_id=chosen,
                        hmac_verified=False,
                        created_at=now,
                    )
                )
                await session.flush()
            return Created(contact, inbox, chosen)
        except IntegrityError:
            await session.rollback()
        conflict = await find_conflicts(session, account_id, values)
        if conflict is not None:
            raise conflict
        holder = None
        if inbox is not None and source_id:
            holder = await source_holder(session, inbox.id, source_id)
        if holder is not None:
            raise ValidationFailed([("source_id", SOURCE_TAKEN)])
        if attempt == 2:
            break
    raise ValidationFailed([("contact", "Contact could not be saved, please retry")])


async def reject(
    session: AsyncSession,
    account_id: int,
    data: ContactInput,
    exclude_id: int | None = None,
) -> ValidationFailed:
    """Every problem of a body at once: format problems plus the fields another contact holds."""
    problems = list(data.problems)
    extra: dict[str, Any] = {}
    conflict = await find_conflicts(session, account_id, data.values, exclude_id)
    if conflict is not None:
        problems += conflict.problems
        extra = conflict.extra
    return ValidationFailed(problems, extra=extra)


async def update_contact(session: AsyncSession, contact: Contact, data: ContactInput) -> Contact:
    """Apply the sent fields; JSON attributes merge top-level keys into the stored objects.

    The caller fetched the contact with for_update=True, so concurrent merges do not lose keys.
    """
    account_id, own_id = contact.account_id, contact.id  # a rollback below expires the object
    await check_contact_input(session, account_id, data)
    if data.problems:
        raise await reject(session, account_id, data, own_id)
    values = dict(data.values)
    _derive_name(
        values,
        values.get("first_name", contact.first_name),
        values.get("last_name", contact.last_name),
    )
    conflict = await find_conflicts(session, account_id, values, exclude_id=own_id)
    if conflict is not None:
        raise conflict
    for key, value in values.items():
        if key in ("custom_attributes", "additional_attributes"):
            value = {**(getattr(contact, key) or {}), **value}
        setattr(contact, key, value)
    contact.updated_at = now_epoch()
    try:
        await session.flush()
    except IntegrityError:
        # Another request took the value between our check and our write.
        await session.rollback()
        conflict = await find_conflicts(session, account_id, values, exclude_id=own_id)
        raise conflict or ValidationFailed(
            [("contact", "Contact could not be saved, please retry")]
        ) from None
    return contact


def parse_attribute_keys(body: dict[str, Any]) -> list[str]:
    """{"custom_attributes": ["key", ...]}: a list of non-empty strings."""
    keys = body.get("custom_attributes")
    valid = isinstance(keys, list) and all(
        isinstance(key, str) and key and "\x00" not in key for key in keys
    )
    if not valid:
        raise ValidationFailed([("custom_attributes", "Custom attributes must be a list of keys")])
    return list(keys) if isinstance(keys, list) else []


async def destroy_custom_attributes(
    session: AsyncSession, contact: Contact, keys: list[str]
) -> Contact:
    """Remove these keys from the contact's custom attributes; absent keys are ignored.

    The caller fetched the contact with for_update=True, so a concurrent merge keeps its keys.
    """
    remaining = {k: v for k, v in (contact.custom_attributes or {}).items() if k not in keys}
    if remaining != (contact.custom_attributes or {}):
        contact.custom_attributes = remaining
        contact.updated_at = now_epoch()
        await session.flush()
    return contact


async def delete_contact(session: AsyncSession, account_id: int, contact_id: str) -> None:
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    result = await session.execute(
        sa.delete(Contact)
        .where(Contact.account_id == account_id, Contact.id == parsed)
        .returning(Contact.id)
    )
    if result.first() is None:
        raise NotFound()


async def _label_ids(session: AsyncSession, account_id: int, names: tuple[str, ...]) -> list[int]:
    rows = await session.execute(
        sa.select(Label.id).where(Label.account_id == account_id, Label.name_lower.in_(names))
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

    def shape(self, dialect: str, query: ListQuery) -> tuple[Any, ...]:
        conditions = self.filter.shape if self.filter is not None else None
        return (
            dialect,
            query.sort,
            query.descending,
            self.labels,
            self.search,
            self.total,
            conditions,
        )


async def _plan(
    session: AsyncSession,
    dialect: str,
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
        search, search_values = search_params(dialect, query.q)
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


def _conditions(dialect: str, plan: _Plan) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [Contact.account_id == counters.account_param()]
    if plan.labels == "none":
        conditions.append(sa.false())
    elif plan.labels == "ids":
        # EXISTS, not IN: the planner then walks the sort's index and probes each row's
        # labels for a common label instead of reading every contact to join them.
        conditions.append(
            sa.exists().where(
                ContactLabel.contact_id == Contact.id,
                ContactLabel.label_id.in_(
                    sa.bindparam("label_ids", expanding=True, literal_execute=True)
                ),
            )
        )
    if plan.search is not None:
        conditions.append(search_condition(dialect, *plan.search))
    if plan.filter is not None:
        conditions.append(filter_condition(dialect, plan.filter))
    return conditions


_TOTALS = {"account": counters.account_total, "label": counters.label_total}


async def _count(session: AsyncSession, dialect: str, plan: _Plan, query: ListQuery) -> int:
    """The exact number of matching contacts, from a counter whenever one answers."""
    if plan.total in _TOTALS:
        statement = sa.select(_TOTALS[plan.total]())
        return int(await session.scalar(statement, plan.params) or 0)

    def count_query() -> sa.Select[Any]:
        return sa.select(sa.func.count()).select_from(Contact).where(*_conditions(dialect, plan))

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
    dialect: str, plan: _Plan, query: ListQuery, part: str, inboxes: bool
) -> sa.Select[Any]:
    """The page query of a shape: filter, order and skip on (id, sort value) alone, then read
    only the page's rows whole, with their contact inboxes (PostgreSQL) and the counter."""
    key = (*plan.shape(dialect, query), part, inboxes)
    statement = _PAGE_STATEMENTS.get(key)
    if statement is not None:
        return statement
    where = _conditions(dialect, plan)
    if part != "offset":
        where.append(cursor_condition(dialect, query.sort, query.descending, part))
    sort_value = sort_expression(dialect, query.sort)
    inner = (
        sa.select(Contact.id.label("page_id"), sort_value.label("sort_value"))
        .where(*where)
        .order_by(*order_by(dialect, query))
        .limit(sa.bindparam("limit", type_=sa.BigInteger))
        .offset(sa.bindparam("offset", type_=sa.BigInteger))
        .subquery("page")
    )
    columns: list[sa.ColumnElement[Any]] = [*Contact.__table__.columns, inner.c.sort_value]
    if plan.total == "filter":
        # A unique-key lookup matches a handful of rows: counting them with the page costs
        # less than a second round trip. Uncorrelated: it counts the account's matches.
        count = sa.select(sa.func.count()).select_from(Contact).where(*_conditions(dialect, plan))
        columns.append(count.scalar_subquery().correlate(None).label("total"))
    elif plan.total:
        columns.append(_TOTALS[plan.total]().label("total"))
    if inboxes:
        columns.append(_PG_CONTACT_INBOXES.label("inboxes_json"))
    built: sa.Select[Any] = (
        sa.select(*columns)
        .join_from(inner, Contact, Contact.id == inner.c.page_id)
        .order_by(*ordered(inner.c.sort_value, query.sort, query.descending))
    )
    if len(_PAGE_STATEMENTS) < 4096:
        _PAGE_STATEMENTS[key] = built
    return built


async def _page(
    session: AsyncSession, dialect: str, plan: _Plan, query: ListQuery
) -> tuple[list[Any], Cursor | None]:
    """One page (by offset or after a cursor) and the cursor of the page that follows it."""
    inboxes = dialect == "postgresql" and query.include_contact_inboxes

    async def fetch(part: str, params: dict[str, Any]) -> list[Any]:
        statement = _page_statement(dialect, plan, query, part, inboxes)
        return list((await session.execute(statement, {**plan.params, **params})).all())

    custom_plan = plan.search is not None or (plan.filter is not None and not plan.total)
    if dialect == "postgresql" and custom_plan:
        # The term decides the plan: a common one walks the sort's index, a rare one starts
        # from the trigram index. A cached generic plan, costed for no term in particular,
        # picked the trigram index for every term (850 ms for a common one, against 5 ms).
        # Filter values vary as much (a rare email, a common city), so they are planned alike.
        await session.execute(_CUSTOM_PLANS)
        try:
            return await _page_rows(dialect, query, fetch)
        finally:
            await session.execute(_CACHED_PLANS)
    return await _page_rows(dialect, query, fetch)


_CUSTOM_PLANS = sa.text("SET plan_cache_mode = force_custom_plan")
_CACHED_PLANS = sa.text("RESET plan_cache_mode")


async def _page_rows(
    dialect: str,
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
        at = cursor_params(dialect, query.after)
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
    dialect = session.get_bind().dialect.name
    plan = await _plan(session, dialect, account_id, query, filter_)
    rows, following = await _page(session, dialect, plan, query)
    if rows and plan.total:
        count = int(rows[0].total)  # read with the page, in the same statement
    else:
        count = await _count(session, dialect, plan, query)
    inboxes: dict[int, list[dict[str, Any]]] = {}
    if query.include_contact_inboxes:
        if dialect == "postgresql":
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
