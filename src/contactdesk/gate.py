"""A first-come, first-served limit on the requests a process works on at once.

Without it, every open connection's request runs at once: dozens of requests interleave in
one event loop, each holding a PostgreSQL backend, and the CPU is shared out unevenly, so some
requests take many times the median (see docs/performance.md). With it, requests beyond the
limit wait in arrival order (asyncio.Semaphore hands a released slot to the oldest waiter),
and each admitted request finishes quickly. A request's body is read before it takes a slot,
and the slot is given back as soon as its last response byte is handed to the server, so a
slow client holds no slot.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Never queued: a health check must answer while the service is busy.
UNGATED_PATHS = frozenset({"/healthz"})
# Bodies up to this size are read before a slot is taken; a larger upload streams in the slot.
BUFFERED_BODY = 1024 * 1024


class RequestGate:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope["path"] in UNGATED_PATHS:
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created in the serving event loop
            self._slots = asyncio.Semaphore(self.limit)
        replay = await _read_body(receive)
        slots = self._slots
        await slots.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        async def gated_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()
            await send(message)

        try:
            await self.app(scope, replay, gated_send)
        finally:
            release()


async def _read_body(receive: Receive) -> Receive:
    """Read the request body now (up to BUFFERED_BODY bytes) and hand it to the app as one
    message; the rest of a larger body, and whatever the server sends next (a disconnect),
    follow from the server as usual."""
    chunks: list[bytes] = []
    size = 0
    first: Message | None = None
    while size <= BUFFERED_BODY:
        message = await receive()
        if message["type"] != "http.request":
            first = message  # the client left before the body was complete
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body", False):
            break
    if first is None:
        more = size > BUFFERED_BODY
        first = {"type": "http.request", "body": b"".join(chunks), "more_body": more}
    pending: Message | None = first

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()

    return replay
