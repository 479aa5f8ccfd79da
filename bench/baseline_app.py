"""The practical ceiling: the list's page query over asyncpg, orjson bytes, nothing else.

/baseline      the page query of list_p1 (sort=-last_activity_at), no auth, no count
/chatwoot      what the reference does: COUNT(*) of the account plus the OFFSET page
Run: BENCH_DATABASE_URL=... BENCH_ACCOUNT_ID=... uvicorn bench.baseline_app:app --workers 2
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

COLUMNS = (
    "id, name, email, phone_number, identifier, blocked, thumbnail, availability_status, "
    "additional_attributes::text AS additional_attributes, "
    "custom_attributes::text AS custom_attributes, last_activity_at, created_at"
)
PAGE = (
    f"SELECT {COLUMNS} FROM contacts WHERE account_id = $1 "
    "ORDER BY last_activity_at DESC NULLS LAST, id DESC LIMIT 15 OFFSET $2"
)
COUNT = "SELECT count(*) FROM contacts WHERE account_id = $1"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_pool: asyncpg.Pool | None = None


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    out = []
    for record in records:
        row = dict(record)
        row["additional_attributes"] = orjson.loads(row["additional_attributes"])
        row["custom_attributes"] = orjson.loads(row["custom_attributes"])
        out.append(row)
    return out


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                dsn = os.environ["BENCH_DATABASE_URL"].replace("+asyncpg", "")
                _pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert _pool is not None
    account_id = int(os.environ["BENCH_ACCOUNT_ID"])
    async with _pool.acquire() as conn:
        if scope["path"] == "/chatwoot":
            count = await conn.fetchval(COUNT, account_id)
            rows = _rows(await conn.fetch(PAGE, account_id, 0))
            body = orjson.dumps({"meta": {"count": count, "current_page": 1}, "payload": rows})
        else:
            body = orjson.dumps({"payload": _rows(await conn.fetch(PAGE, account_id, 0))})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
