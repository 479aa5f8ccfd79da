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
from collections.abc import Hashable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.models import ContactCounter, Label, LabelCounter

# Keep in step with migration 0002.
SHARDS = 32
CACHE_SIZE = 4096

_cache: OrderedDict[Hashable, tuple[int, int]] = OrderedDict()
_inflight: dict[Hashable, asyncio.Future[None]] = {}


def _generation(account_id: int) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(ContactCounter.version), 0))
        .where(ContactCounter.account_id == account_id)
        .scalar_subquery()
    )


def account_total(account_id: int) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(ContactCounter.contacts_count), 0))
        .where(ContactCounter.account_id == account_id)
        .scalar_subquery()
    )


def label_total(account_id: int, name_lower: str) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(LabelCounter.contacts_count), 0))
        .join(Label, Label.id == LabelCounter.label_id)
        .where(Label.account_id == account_id, Label.name_lower == name_lower)
        .scalar_subquery()
    )


async def account_count(session: AsyncSession, account_id: int) -> int:
    return int(await session.scalar(sa.select(account_total(account_id))) or 0)


async def label_count(session: AsyncSession, account_id: int, name_lower: str) -> int:
    return int(await session.scalar(sa.select(label_total(account_id, name_lower))) or 0)


async def cached_count(
    session: AsyncSession,
    account_id: int,
    key: Hashable,
    count_query: sa.Select[Any],
) -> int:
    """count_query's result, recomputed only when the account's generation moved.

    Concurrent misses of one key wait for a single computation (a burst of the same search does
    not start one scan per request), then check the generation like any other hit: a count
    computed before the caller's own write committed is never returned to it.
    """
    bind = session.get_bind()
    cache_key = (str(bind.engine.url), account_id, key)
    for _ in range(3):
        cached = _cache.get(cache_key)
        if cached is not None:
            generation = int(await session.scalar(sa.select(_generation(account_id))) or 0)
            if generation == cached[0]:
                _cache.move_to_end(cache_key)
                return cached[1]
        flight = _inflight.get(cache_key)
        if flight is None:
            break
        await asyncio.shield(flight)
    return await _compute(session, account_id, cache_key, count_query)


async def _compute(
    session: AsyncSession, account_id: int, cache_key: Hashable, count_query: sa.Select[Any]
) -> int:
    flight = _inflight.get(cache_key)
    own = flight is None
    if own:
        flight = asyncio.get_running_loop().create_future()
        _inflight[cache_key] = flight
    try:
        # One statement, one snapshot: the count belongs to exactly this generation.
        statement = sa.select(_generation(account_id), count_query.scalar_subquery())
        row = (await session.execute(statement)).one()
        generation, count = int(row[0]), int(row[1])
        _cache[cache_key] = (generation, count)
        _cache.move_to_end(cache_key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return count
    finally:
        if own and flight is not None:
            _inflight.pop(cache_key, None)
            flight.set_result(None)
