"""Exact counts without counting rows per request.

The account's contact count and each label's count live in sharded counter rows that database
triggers keep in the transaction of every insert and delete (migration 0002). Counts no counter
answers (a search, several labels, a filter) are computed once and cached per process, keyed by
the account's generation: the sum of its shards' versions, which every change of a contact or of
its labels bumps in the same transaction. An unchanged generation means the same rows, so a
cached count is still the exact one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.models import ContactCounter, Label, LabelCounter
from contactdesk.models.tenancy import tenant_select

# Keep in step with migration 0002.
SHARDS = 32
CACHE_SIZE = 4096

_cache: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()
_inflight: dict[Hashable, asyncio.Future[None]] = {}


def account_param() -> sa.BindParameter[int]:
    """The account id, rendered into the SQL text when the statement runs (it is an integer).

    Each account then gets its own prepared statement, whose cached plan PostgreSQL costs for
    that account's own size: one account may hold a million contacts and the next a hundred,
    and a plan costed for the average account reads every contact of the big one. Planning
    each execution anew (plan_cache_mode=force_custom_plan) would cost about 0.7 ms a query.
    """
    return sa.bindparam("account_id", type_=sa.BigInteger, literal_execute=True)


def _generation() -> sa.ScalarSelect[int]:
    """The account's generation (bind parameter account_id)."""
    return tenant_select(
        account_param(), sa.func.coalesce(sa.func.sum(ContactCounter.version), 0)
    ).scalar_subquery()


def account_total() -> sa.ScalarSelect[int]:
    """The account's contact count (bind parameter account_id)."""
    return tenant_select(
        account_param(), sa.func.coalesce(sa.func.sum(ContactCounter.contacts_count), 0)
    ).scalar_subquery()


def label_total() -> sa.ScalarSelect[int]:
    """The number of the account's contacts with a label (bind parameters account_id and
    label_name, lower-cased)."""
    return (
        tenant_select(
            account_param(),
            sa.func.coalesce(sa.func.sum(LabelCounter.contacts_count), 0),
            select_from=Label,
        )
        .join(LabelCounter, LabelCounter.label_id == Label.id)
        .where(Label.name_lower == sa.bindparam("label_name", type_=sa.String))
        .scalar_subquery()
    )


_GENERATION = sa.select(_generation())


async def cached_count(
    session: AsyncSession,
    key: Hashable,
    count_query: Callable[[], sa.Select[Any]],
    params: dict[str, Any],
) -> int:
    """What count_query() counts (params hold account_id), recomputed when the generation moved.

    Concurrent misses of one key wait for a single computation (a burst of the same search does
    not start one scan per request), then check the generation like any other hit: a count
    computed before the caller's own write committed is never returned to it.
    """
    account = {"account_id": params["account_id"]}
    cache_key = (str(session.get_bind().engine.url), params["account_id"], key)
    for _ in range(3):
        cached = _cache.get(cache_key)
        if cached is not None:
            generation = int(await session.scalar(_GENERATION, account) or 0)
            if generation == cached[0]:
                _cache.move_to_end(cache_key)
                return cached[1]
        flight = _inflight.get(cache_key)
        if flight is None:
            break
        await asyncio.shield(flight)
    # Lead the computation unless another request still does (after three rounds of waiting).
    own = None
    if cache_key not in _inflight:
        own = _inflight[cache_key] = asyncio.get_running_loop().create_future()
    try:
        # One statement, one snapshot: the count belongs to exactly this generation.
        statement = sa.select(_generation(), count_query().scalar_subquery())
        generation, count = (await session.execute(statement, params)).one()
        _cache[cache_key] = (int(generation), int(count))
        _cache.move_to_end(cache_key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return int(count)
    finally:
        if own is not None:
            del _inflight[cache_key]
            own.set_result(None)
