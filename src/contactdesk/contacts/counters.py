"""Exact counts without counting rows per request.

The account's contact count and each label's count live in sharded counter rows that database
triggers keep in the transaction of every insert and delete (migration 0002). Counts no counter
answers (a search, several labels, a filter) are computed once and cached per process, keyed by
the account's generation: the sum of its shards' versions, which every change of a contact or of
its labels bumps in the same transaction. An unchanged generation means the same rows, so a
cached count is still the exact one.

The cache is bounded in bytes (settings.count_cache_max_bytes): its keys are 16-byte digests of
the database, the account and the request's own key, whatever the filter or search sent, so
every entry has the same small size (ENTRY_BYTES) and the byte budget is an entry count.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Hashable
from typing import Any

import sqlalchemy as sa

from contactdesk.driver import BoundedCache, ReadConnection
from contactdesk.limits import limits
from contactdesk.models import ContactCounter, Label, LabelCounter
from contactdesk.models.tenancy import tenant_select

# Keep in step with migration 0002.
SHARDS = 32
# What one cache entry costs, with margin: tracemalloc measured about 300 bytes on CPython
# 3.11 (the 16-byte key, the (generation, count) tuple and its two ints, the cache's own
# entry tuple, the dict's slot, link and spare room after a resize).
# tests/contacts/test_count_cache.py checks the bound.
ENTRY_BYTES = 384

# Its budget is the process's count_cache_max_bytes, read when a count is kept.
_cache: BoundedCache[bytes, tuple[int, int]] = BoundedCache(ENTRY_BYTES)
# A future per count being computed: one per request at most, removed when it finishes, so
# bounded by the requests in progress; its keys are digests too.
_inflight: dict[bytes, asyncio.Future[None]] = {}


def max_entries() -> int:
    """How many counts the cache keeps: its byte budget divided by the size of an entry."""
    return max(1, limits().count_cache_max_bytes // ENTRY_BYTES)


def remember(cache_key: bytes, generation: int, count: int) -> None:
    """Keep a count, dropping the least recently used ones beyond max_entries()."""
    _cache.budget = max_entries() * ENTRY_BYTES
    _cache.put(cache_key, (generation, count), ENTRY_BYTES)


def cache_digest(database: str, account_id: int, key: Hashable) -> bytes:
    """The cache's key: 16 bytes, whatever the size of the request's key (a filter's values,
    a search term and label names). repr is canonical for the str, bytes, int and tuple
    values callers pass."""
    return hashlib.blake2b(repr((database, account_id, key)).encode(), digest_size=16).digest()


def account_param() -> sa.BindParameter[int]:
    """The account id, rendered into the SQL text when the statement runs (it is an integer).

    Each account then gets its own prepared statement, whose cached plan PostgreSQL costs for
    that account's own size: one account may hold a million contacts and the next a hundred,
    and a plan costed for the average account reads every contact of the big one. Planning
    each execution anew (plan_cache_mode=force_custom_plan) would cost about 0.7 ms a query.
    """
    return sa.bindparam("account_id", type_=sa.BigInteger, literal_execute=True)


def generation() -> sa.ScalarSelect[int]:
    """The account's generation (bind parameter account_id): a page statement reads it with
    its rows, so that a cached count is checked without a statement of its own."""
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


_GENERATION = sa.select(generation())


def with_generation(count: sa.Select[Any]) -> sa.Select[Any]:
    """A statement reading the generation and count's count in one snapshot: build it once
    per shape and pass it to cached_count."""
    return sa.select(generation(), count.scalar_subquery())


async def cached_count(
    conn: ReadConnection,
    key: Hashable,
    statement: Callable[[], sa.Select[Any]],
    params: dict[str, Any],
    known_generation: int | None = None,
) -> int:
    """The count statement() reads (a with_generation() statement, params hold account_id),
    recomputed when the generation moved. known_generation: the generation the caller read
    after its own writes (with its page), which spares reading it again.

    Concurrent misses of one key wait for a single computation (a burst of the same search does
    not start one scan per request), then check the generation like any other hit: a count
    computed before the caller's own write committed is never returned to it.
    """
    account = {"account_id": params["account_id"]}
    cache_key = cache_digest(conn.database, params["account_id"], key)
    for _ in range(3):
        cached = _cache.get(cache_key)
        if cached is not None:
            current = known_generation
            if current is None:
                current = int(await conn.fetchval(_GENERATION, account) or 0)
            if current == cached[0]:
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
        counted_at, count = (await conn.fetch(statement(), params))[0]
        remember(cache_key, int(counted_at), int(count))
        return int(count)
    finally:
        if own is not None:
            del _inflight[cache_key]
            own.set_result(None)
