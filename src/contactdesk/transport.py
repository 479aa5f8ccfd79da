"""Bounds on the request head (the request line and the headers), in the HTTP protocol that
`contactdesk serve` runs, and the JSON refusals every transport-level bound answers with.

uvicorn's httptools protocol keeps no bound of its own: it buffers a request line or a header
of any length (a 1 MB header is served), and a request target over 64 KiB is refused with a
plain-text 400 by httptools' URL parser. BoundedHttpToolsProtocol answers instead:

* a request target over `max_url_bytes`: 414; headers over `max_header_bytes` in all (each
  counted as `name: value` and its line end): 431. Both with `{"error": ...}`.
* A head that is complete when it is found too large is answered by a small ASGI app in
  place of the service, so the connection stays open for the next request (unless the
  request declares a body, which would have to be read and thrown away: then it is closed).
* A head still arriving when it passes twice the two limits is answered at once and the
  connection closed, without reading the rest: no client makes the process hold more than
  that (plus one read of the socket) for a request head.

The body's bounds (413, 408) are the request gate's (contactdesk.gate), which reads the body.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from contactdesk.limits import limits

# The protocol `contactdesk serve` hands to uvicorn (a string: it reaches worker processes).
PROTOCOL = "contactdesk.transport:BoundedHttpToolsProtocol"
# A head may grow to twice the two limits (plus this) before it is refused unread.
HEAD_SLACK = 1024
JSON_HEADERS = [(b"content-type", b"application/json")]
CLOSE = (b"connection", b"close")


def refusal(status: int, message: str, *, close: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a `{"error": message}` answer; `close` ends the connection."""
    body = orjson.dumps({"error": message})
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if close:
        headers.append(CLOSE)
    return headers, body


async def send_refusal(send: Send, status: int, message: str, *, close: bool) -> None:
    headers, body = refusal(status, message, close=close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def url_too_long(limit: int) -> str:
    return f"Request URL is too long (the limit is {limit} bytes)"


def headers_too_large(limit: int) -> str:
    return f"Request headers are too large (the limit is {limit} bytes)"


def declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class Refusal:
    """An ASGI app that answers one refused request and nothing else."""

    def __init__(self, status: int, message: str, *, close: bool) -> None:
        self.status = status
        self.message = message
        self.close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_refusal(send, self.status, self.message, close=self.close)


# uvicorn's own methods, called directly (cheaper than super() on every request).
_data_received = HttpToolsProtocol.data_received
_on_headers_complete = HttpToolsProtocol.on_headers_complete
_on_message_complete = HttpToolsProtocol.on_message_complete


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the request head (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        bounds = limits()
        self._max_url = bounds.max_url_bytes
        self._max_headers = bounds.max_header_bytes
        self._head_cap = 2 * (bounds.max_url_bytes + bounds.max_header_bytes) + HEAD_SLACK
        # Bytes received since the current head began (at most one read early or late):
        # counted only while a head is being read.
        self._in_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        _data_received(self, data)
        if self._in_head and self._head_bytes > self._head_cap:
            self._refuse_unread_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers = self.headers
        size = 4 * len(headers)  # as sent: `name: value` and a line end each
        for name, value in headers:
            size += len(name) + len(value)
        if len(self.url) > self._max_url:
            refused = Refusal(414, url_too_long(self._max_url), close=declares_body(headers))
        elif size > self._max_headers:
            message = headers_too_large(self._max_headers)
            refused = Refusal(431, message, close=declares_body(headers))
        else:
            _on_headers_complete(self)
            return
        # Answer from the refusal instead of the service; the connection goes on.
        app, self.app = self.app, refused
        self.url = b"/"  # the refusal needs no path (httptools cannot parse one over 64 KiB)
        try:
            _on_headers_complete(self)
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        _on_message_complete(self)
        self._in_head = True
        self._head_bytes = 0

    def _refuse_unread_head(self) -> None:
        """Answer a head that grew past the cap and close the connection, reading no more."""
        self._in_head = False
        if self.transport.is_closing():
            return
        url: bytes = getattr(self, "url", b"")
        if len(url) > self._max_url:
            status, message = 414, url_too_long(self._max_url)
        else:
            status, message = 431, headers_too_large(self._max_headers)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A pipelined request's answer is still being written: let it finish, then close.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        headers, body = refusal(status, message, close=True)
        content = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *headers]:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
