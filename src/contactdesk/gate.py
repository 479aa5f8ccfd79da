"""A first-come, first-served limit on the requests a process works on at once, and the
bounds on a request body.

Without the limit, every open connection's request runs at once: dozens of requests
interleave in one event loop, each holding a PostgreSQL backend, and the CPU is shared out
unevenly, so some requests take many times the median (see docs/performance.md). With it,
requests beyond the limit wait in arrival order (asyncio.Semaphore hands a released slot to
the oldest waiter), and each admitted request finishes quickly. The slot is given back as soon
as the request's last response byte is handed to the server, so a slow reader holds no slot.

A request's body is read whole before it takes a slot, whatever its size, within the bounds
of contactdesk.limits (read when the request arrives):

* a Content-Length over `max_body_bytes` is answered 413 before any of the body is read; a
  chunked body is cut off with a 413 as soon as it passes the limit;
* a body that has not fully arrived `body_timeout_seconds` after the request reached the
  gate is answered 408;
* both close the connection (`connection: close`: the server closes it once the answer is
  written), since the rest of the body was never read. A client that leaves mid-body is
  dropped: the service never sees its request.

A request that had to wait for its slot is dropped when its client left meanwhile (the
server's receive() reports the disconnect without waiting), so that no slot serves nobody.

A request without a body (no Content-Length, no Transfer-Encoding: a GET) costs one look at
its headers. A body that has already arrived when the gate asks for it (a small POST, whose
body comes with its head) is taken without arming a timer.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactdesk.limits import limits
from contactdesk.transport import send_refusal

# Never queued: a health check must answer while the service is busy.
UNGATED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Requests whose body the route streams itself, with its own bounds (an import's upload,
# actions/upload.py): neither read here nor holding a slot while it arrives.
STREAMED_BODY_SUFFIXES = ("/contacts/import",)
# Responses that stream for as long as they take (exports): no slot, or a long export would
# hold one of the process's few; the routes bound how many run at once.
STREAMED_RESPONSE_SUFFIXES = ("/contacts/export.csv", "/contacts/export", "/errors.csv")


def body_too_large(limit: int) -> str:
    return f"Request body is too large (the limit is {limit} bytes)"


def body_too_slow(seconds: float) -> str:
    return f"Request body did not arrive in time (the limit is {seconds:g} s)"


class GateStats:
    """What the gate holds now, for /readyz and the metrics: requests working, waiting."""

    def __init__(self) -> None:
        self.working = 0
        self.waiting = 0


class RequestGate:
    def __init__(self, app: ASGIApp, limit: int, stats: GateStats | None = None) -> None:
        self.app = app
        self.limit = limit
        self.stats = stats or GateStats()
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNGATED_PATHS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["method"] == "POST" and path.endswith(STREAMED_BODY_SUFFIXES):
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        original = receive
        if chunked or (length is not None and length != b"0"):
            replay = await _read_body(receive, send, None if chunked else length)
            if replay is None:
                return  # refused, or the client left
            receive = replay
        if self.limit <= 0 or path.endswith(STREAMED_RESPONSE_SUFFIXES):
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created in the serving event loop
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        stats = self.stats
        waited = slots.locked()
        if waited:
            stats.waiting += 1
            try:
                await slots.acquire()
            finally:
                stats.waiting -= 1
        else:
            await slots.acquire()
        stats.working += 1
        if waited:
            # It waited: its client may have left meanwhile (a load generator stopped, a
            # client timed out). Work for nobody would hold up the requests behind it.
            present = await _still_there(original, receive)
            if present is None:
                stats.working -= 1
                slots.release()
                return
            receive = present
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                stats.working -= 1
                slots.release()

        async def gated_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                release()
            await send(message)

        try:
            await self.app(scope, receive, gated_send)
        finally:
            release()


async def _read_body(receive: Receive, send: Send, length: bytes | None) -> Receive | None:
    """Read the whole body (of `length` bytes, or chunked when None) within the bounds, and
    return a receive that hands it to the app as one message; None when the request was
    answered here (413, 408) or the client left."""
    bounds = limits()
    most = bounds.max_body_bytes
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            declared = most + 1  # the server checks Content-Length; never here
        if declared > most:
            await send_refusal(send, 413, body_too_large(most), close=True)
            return None
    deadline = asyncio.get_running_loop().time() + bounds.body_timeout_seconds
    try:
        message = await _receive_by(receive, deadline)
        if message["type"] != "http.request":
            return None  # the client left before the body was complete
        if message.get("more_body", False):  # the body comes in parts: gather them
            chunks = [message.get("body", b"")]
            size = len(chunks[0])
            while size <= most:
                message = await _receive_by(receive, deadline)
                if message["type"] != "http.request":
                    return None
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if not message.get("more_body", False):
                    break
            message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        if len(message.get("body", b"")) > most:
            await send_refusal(send, 413, body_too_large(most), close=True)
            return None
    except TimeoutError:
        await send_refusal(send, 408, body_too_slow(bounds.body_timeout_seconds), close=True)
        return None
    pending: Message | None = message

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            message, pending = pending, None
            return message
        return await receive()  # after the body: the server's disconnect, as usual

    return replay


async def _still_there(original: Receive, receive: Receive) -> Receive | None:
    """None when the client has gone; else the receive to hand on. A look that would wait
    (the client is still there, nothing new arrived) is abandoned at once, unread."""
    if receive is not original:
        # The body was read and is replayed by `receive`; what comes after it on the
        # connection can only be the disconnect.
        message = _now(original())
        return None if message is not None else receive
    message = _now(original())
    if message is None:
        return receive
    if message["type"] == "http.disconnect":
        return None
    pending: Message | None = message

    async def replay() -> Message:
        nonlocal pending
        if pending is not None:
            found, pending = pending, None
            return found
        return await original()

    return replay


def _now(waiting: Any) -> Message | None:
    """The message a receive() returns without waiting, or None (the look is dropped)."""
    if not isinstance(waiting, Coroutine):
        return None
    try:
        waiting.send(None)
    except StopIteration as done:
        message: Message = done.value
        return message
    waiting.close()
    return None


async def _receive_by(receive: Receive, deadline: float) -> Message:
    """receive(), or TimeoutError at `deadline`. A message that is already there (receive()
    returns without waiting) arms no timer; only a wait for the client does."""
    waiting = receive()
    if not isinstance(waiting, Coroutine):
        async with asyncio.timeout_at(deadline):
            return await waiting
    try:
        suspended_on = waiting.send(None)
    except StopIteration as done:
        message: Message = done.value
        return message
    try:
        async with asyncio.timeout_at(deadline):
            return await _resume(waiting, suspended_on)
    finally:
        waiting.close()  # a receive() cut off by the timer is never resumed


@types.coroutine
def _resume(
    started: Coroutine[Any, Any, Message], suspended_on: Any
) -> Generator[Any, Any, Message]:
    """Finish a coroutine that was stepped once and suspended on `suspended_on`: wait for that
    (as the event loop would have), then run the coroutine on from where it stopped."""
    yield suspended_on
    message: Message = yield from started
    return message
