"""Exact counts without counting rows per request.

The account's contact count and each label's count live in sharded counter rows that database
triggers keep in the transaction of every insert and delete (migration 0002). Counts no counter
answers (a search, several labels, a filter) are computed once and cached per process, keyed by
the account's generation: the sum of its shards' versions, which every change of a contact or of
its labels bumps in the same transaction. An unchanged generation means the same rows, so a
cached count is still the exact one.
"""

from __future__ import annotations

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
    """count_query's result, recomputed only when the account's generation moved."""
    bind = session.get_bind()
    cache_key = (str(bind.engine.url), account_id, key)
    cached = _cache.get(cache_key)
    if cached is not None:
        generation = int(await session.scalar(sa.select(_generation(account_id))) or 0)
        if generation == cached[0]:
            _cache.move_to_end(cache_key)
            return cached[1]
    # One statement, one snapshot: the count belongs to exactly this generation.
    row = (
        await session.execute(sa.select(_generation(account_id), count_query.scalar_subquery()))
    ).one()
    generation, count = int(row[0]), int(row[1])
    _cache[cache_key] = (generation, count)
    _cache.move_to_end(cache_key)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return count
