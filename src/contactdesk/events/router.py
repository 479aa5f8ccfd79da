"""GET /events: the account's contact events in commit order, after a cursor."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from contactdesk.auth.dependencies import Reader
from contactdesk.db import Database, ReadConnectionDep
from contactdesk.errors import InvalidParameter
from contactdesk.events import feed, schemas
from contactdesk.responses import OrjsonResponse, errors
from contactdesk.routing import LeanRoute

router = APIRouter(tags=["events"], default_response_class=OrjsonResponse, route_class=LeanRoute)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR = 2**62
PLACE_ROUNDS = 3
CURSOR_ERROR = "after must be a cursor from meta.next_cursor"
LIMIT_ERROR = f"limit must be between 1 and {MAX_LIMIT}"


def _number(raw: str | None, default: int, most: int, error: str) -> int:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidParameter(error)
    value = int(raw)
    if value > most:
        raise InvalidParameter(error)
    return value


@router.get(
    "/events",
    summary="Read the event feed",
    response_model=schemas.Feed,
    responses=errors(422),
)
async def feed_route(
    request: Request,
    caller: Reader,
    conn: ReadConnectionDep,
    after: Annotated[
        str | None,
        Query(
            description="meta.next_cursor of the previous page (digits); from the oldest "
            "kept event when absent"
        ),
    ] = None,
    limit: Annotated[
        str | None, Query(description=f"Events per page, 1 to {MAX_LIMIT} (default 100)")
    ] = None,
) -> Response:
    """The account's contact events in the order they committed, after the cursor. Following
    next_cursor, a poller sees every committed event once."""
    params = request.query_params
    cursor = _number(params.get("after"), 0, MAX_CURSOR, CURSOR_ERROR)
    count = _number(params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT, LIMIT_ERROR)
    if count < 1:
        raise InvalidParameter(LIMIT_ERROR)
    db: Database = request.app.state.db
    # Place what has committed (the dispatcher does too; whoever comes first), oldest first,
    # a bounded number of batches: behind a large backlog the page shows what is placed.
    for _ in range(PLACE_ROUNDS):
        if not await feed.has_unplaced(conn, caller.account_id):
            break
        async with db.write_connection() as writer:
            await feed.place(writer)
            await writer.commit()
    rows = await feed.read(conn, caller.account_id, cursor, count)
    items = [
        {
            "id": f"evt_{row[0]}",
            "event": row[2],
            "created_at": row[3],
            "payload": orjson.Fragment(row[4]),
        }
        for row in rows
    ]
    next_cursor = str(rows[-1][1]) if rows else str(cursor)
    return OrjsonResponse({"payload": items, "meta": {"next_cursor": next_cursor}})
