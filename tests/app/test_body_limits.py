"""The transport-level bounds of a request (issue 10): body size (413) and time (408) in the
request gate, request target (414) and headers (431) in the server's HTTP protocol, JSON depth
(400) in contactdesk.body. Each answers JSON; the connection stays open after a 4xx unless the
rest of the request was never read (413, 408, a head refused unread).

Most cases run against one real `contactdesk serve` process for the module, over raw sockets
where a client library cannot say it (a stalled body, a chunked body, a huge head); the gate
and the JSON parser are also checked directly, without a server.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

import tests.app.test_server as test_server
from contactdesk.body import parse_json
from contactdesk.errors import BadRequest
from contactdesk.gate import RequestGate
from contactdesk.limits import install, limits
from contactdesk.transport import HEAD_SLACK
from tests.app.test_server import Server, running_server
from tests.support import DIALECTS, Tenant, basic

MiB = 1024 * 1024
BODY_TIMEOUT = 1.0  # the module's server answers 408 after this


# -- a server with other settings, and a raw HTTP/1.1 connection -------------------------------


@contextmanager
def serving(database_url: str, log: Path, env: dict[str, str]) -> Iterator[Server]:
    """running_server (tests/app/test_server.py), one worker, with these CONTACTDESK_ settings
    in its environment (running_server passes none but the database URL)."""
    plain = test_server.cli_env
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_server, "cli_env", lambda url: {**plain(url), **env})
        with running_server(database_url, log, "--workers", "1") as server:
            patch.undo()
            yield server


@pytest.fixture(scope="module")
def bounded_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("body-limits") / "serve.log"
    with serving(database_url, log, {"CONTACTDESK_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT)}) as s:
        yield s


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def error(self) -> str:
        """The JSON error message; the body must be {"error": ...}."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        data = self.json()
        assert isinstance(data, dict), data
        assert set(data) == {"error"}, data
        message: str = data["error"]
        return message


class Connection:
    """One keep-alive HTTP/1.1 connection, written and read byte by byte."""

    def __init__(self, server: Server, timeout: float = 10.0) -> None:
        host, port = server.base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.pending = b""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> bool:
        """Send; False when the server has closed the connection (it stops reading when it
        refuses a request it will not read)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"the server closed the connection; unread: {self.pending[:200]!r}")
        self.pending += chunk

    def reply(self) -> Reply:
        while b"\r\n\r\n" not in self.pending:
            self._more()
        head, _, self.pending = self.pending.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.pending) < length:
            self._more()
        body, self.pending = self.pending[:length], self.pending[length:]
        return Reply(int(status_line.split()[1]), headers, body)

    def closed_by_server(self) -> bool:
        """Whether the server closes the connection (before the socket's timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def has_reply(self) -> bool:
        """Whether anything has arrived yet (without waiting)."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)


def http(method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> bytes:
    """The bytes of a request; a body gets its Content-Length (unless headers set one)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *map(": ".join, headers.items())]
    if body is not None and "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def credentials(dialect: str, tenant: Tenant) -> tuple[str, dict[str, str]]:
    """(path prefix, headers) of the tenant's administrator in a dialect."""
    if dialect == "v2":
        return "/api/v2/accounts", basic(tenant.key, tenant.secret)
    return f"/api/v1/accounts/{tenant.account_id}", {"api_access_token": tenant.admin_token}


JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> bytes:
    """A JSON array nested `depth` levels deep."""
    return b"[" * depth + b"]" * depth


def assert_listed(conn: Connection, dialect: str, tenant: Tenant) -> None:
    """The connection still serves: a GET of the contacts list answers 200."""
    prefix, auth = credentials(dialect, tenant)
    assert conn.send(http("GET", f"{prefix}/contacts", auth))
    reply = conn.reply()
    assert reply.status == 200, reply
    assert "payload" in reply.json()


# -- 413: a body over max_body_bytes ------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_content_length_over_the_limit_is_413_before_the_body_is_read(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    with Connection(bounded_server) as conn:
        declared = {**auth, **JSON, "Content-Length": str(MiB + 1)}
        assert conn.send(http("POST", f"{prefix}/contacts", declared))  # the head, no body
        started = time.monotonic()
        reply = conn.reply()
        assert time.monotonic() - started < BODY_TIMEOUT  # answered, not timed out
        assert reply.status == 413
        assert reply.error() == "Request body is too large (the limit is 1048576 bytes)"
        assert reply.headers["connection"] == "close"
        assert conn.closed_by_server()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_client_that_sends_a_large_body_anyway_reads_the_413(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    for path in ("/contacts", "/contacts/filter"):
        body = b'{"payload": [' + b'"x",' * (3 * MiB // 4) + b'"x"]}'
        response = httpx.post(
            bounded_server.base_url + prefix + path, content=body, headers=auth, timeout=10
        )
        assert response.status_code == 413, response.text
        assert response.json() == {
            "error": "Request body is too large (the limit is 1048576 bytes)"
        }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_chunked_body_is_cut_off_at_the_limit(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    with Connection(bounded_server) as conn:
        head = {**auth, **JSON, "Transfer-Encoding": "chunked"}
        assert conn.send(http("POST", f"{prefix}/contacts/filter", head))
        piece = 64 * 1024
        chunk = f"{piece:x}\r\n".encode() + b" " * piece + b"\r\n"
        for _ in range(MiB // piece + 1):  # one chunk past the limit, and no last chunk
            if not conn.send(chunk):
                break
        reply = conn.reply()
        assert reply.status == 413
        assert "too large" in reply.error()
        assert reply.headers["connection"] == "close"
        assert conn.closed_by_server()


def test_a_body_at_the_limit_is_read(bounded_server: Server, tenant: Tenant) -> None:
    """Exactly max_body_bytes, in a chunked body of many parts: it reaches the route (whose
    answer is the filter's own 422 about the payload, not a bound)."""
    prefix, auth = credentials("v2", tenant)
    filler = b" " * (MiB - len(b'{"payload": 1}'))
    body = b'{"payload": 1' + filler + b"}"
    assert len(body) == MiB

    def parts() -> Iterator[bytes]:
        for start in range(0, len(body), 50_000):
            yield body[start : start + 50_000]

    response = httpx.post(
        bounded_server.base_url + prefix + "/contacts/filter",
        content=parts(),
        headers={**auth, **JSON},
        timeout=10,
    )
    assert response.status_code in (400, 422), response.text
    assert "too large" not in response.text


# -- 408: a body that does not arrive in time ---------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stalled_body_gets_408_and_the_connection_is_closed(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    sized = Connection(bounded_server)
    chunked = Connection(bounded_server)
    with sized, chunked:
        started = time.monotonic()
        head = {**auth, **JSON, "Content-Length": "1000"}
        assert sized.send(http("POST", f"{prefix}/contacts", head) + b'{"name": "Sl')
        head = {**auth, **JSON, "Transfer-Encoding": "chunked"}
        assert chunked.send(http("POST", f"{prefix}/contacts/filter", head) + b'5\r\n{"pay\r\n')
        for conn in (sized, chunked):
            reply = conn.reply()
            assert reply.status == 408
            assert reply.error() == "Request body did not arrive in time (the limit is 1 s)"
            assert reply.headers["connection"] == "close"
            assert conn.closed_by_server()
        assert BODY_TIMEOUT * 0.9 <= time.monotonic() - started < BODY_TIMEOUT + 4


def test_stalled_uploads_take_no_slot(bounded_server: Server, tenant: Tenant) -> None:
    """Twice as many stalled uploads as the gate has slots (8): another request is served at
    once, while every upload is still waiting for its body."""
    prefix, auth = credentials("v2", tenant)
    stalled = [Connection(bounded_server) for _ in range(16)]
    try:
        for conn in stalled:
            head = {**auth, **JSON, "Content-Length": str(MiB)}
            assert conn.send(http("POST", f"{prefix}/contacts", head) + b"{" + b" " * 300_000)
        with Connection(bounded_server) as other:
            started = time.monotonic()
            assert_listed(other, "v2", tenant)
            assert time.monotonic() - started < BODY_TIMEOUT / 2
        assert not any(conn.has_reply() for conn in stalled)
        for conn in stalled:
            assert conn.reply().status == 408
    finally:
        for conn in stalled:
            conn.close()


# -- 414 and 431: the request head --------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_url_over_the_limit_is_414_and_the_connection_goes_on(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    with Connection(bounded_server) as conn:
        target = f"{prefix}/contacts?q=" + "a" * 8192
        assert conn.send(http("GET", target, auth))
        reply = conn.reply()
        assert reply.status == 414
        assert reply.error() == "Request URL is too long (the limit is 8192 bytes)"
        assert "connection" not in reply.headers
        assert_listed(conn, dialect, tenant)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_headers_over_the_limit_are_431_and_the_connection_goes_on(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    with Connection(bounded_server) as conn:
        many = {f"X-Padding-{n}": "p" * 100 for n in range(170)}  # 17,680 bytes as sent
        assert conn.send(http("GET", f"{prefix}/contacts", {**auth, **many}))
        reply = conn.reply()
        assert reply.status == 431
        assert reply.error() == "Request headers are too large (the limit is 16384 bytes)"
        assert "connection" not in reply.headers
        one = {"X-Padding": "p" * 16_384}
        assert conn.send(http("GET", f"{prefix}/contacts", {**auth, **one}))
        assert conn.reply().status == 431
        assert_listed(conn, dialect, tenant)


def test_headers_just_under_the_limit_are_served(bounded_server: Server, tenant: Tenant) -> None:
    prefix, auth = credentials("v1", tenant)
    with Connection(bounded_server) as conn:
        sent = sum(len(k) + len(v) + 4 for k, v in {**auth, "Host": "127.0.0.1"}.items())
        padding = {"X-Padding": "p" * (16_384 - sent - len("X-Padding") - 4)}
        assert conn.send(http("GET", f"{prefix}/contacts", {**auth, **padding}))
        assert conn.reply().status == 200


def test_a_refused_head_with_a_body_closes_the_connection(
    bounded_server: Server, tenant: Tenant
) -> None:
    """The body of a request refused for its head is never read: the connection ends."""
    prefix, auth = credentials("v2", tenant)
    with Connection(bounded_server) as conn:
        target = f"{prefix}/contacts?x=" + "a" * 9000
        assert conn.send(http("POST", target, {**auth, **JSON}, b'{"name": "x"}'))
        reply = conn.reply()
        assert reply.status == 414
        assert reply.headers["connection"] == "close"
        assert conn.closed_by_server()


@pytest.mark.parametrize(("where", "status"), [("url", 414), ("header", 431), ("headers", 431)])
def test_a_head_far_over_the_limits_is_refused_unread(
    bounded_server: Server, where: str, status: int
) -> None:
    """uvicorn alone buffers a head of any size (a 1 MB header was served) and answers a target
    over 64 KiB with a plain-text 400; the service answers JSON and stops reading once the head
    passes twice the limits."""
    cap = 2 * (8192 + 16_384) + HEAD_SLACK
    with Connection(bounded_server) as conn:
        if where == "url":
            start = b"GET /api/v2/accounts/contacts?q="
        elif where == "header":
            start = b"GET /api/v2/accounts/contacts HTTP/1.1\r\nHost: x\r\nX-Big: "
        else:
            start = b"GET /api/v2/accounts/contacts HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 10
        assert conn.send(start)
        filler = b"X: y\r\n" * 2000 if where == "headers" else b"a" * 12_000
        for _ in range(4 * cap // len(filler)):  # the head never ends
            if not conn.send(filler):
                break
            time.sleep(0.001)
        reply = conn.reply()
        assert reply.status == status
        assert reply.headers["connection"] == "close"
        assert "too" in reply.error()
        assert conn.closed_by_server()


def test_a_url_over_64_kib_is_414_not_a_plain_400(bounded_server: Server, tenant: Tenant) -> None:
    """A whole head (sent at once) with a 100 KB target: 414 in JSON where httptools' URL
    parser alone answers a plain-text 400."""
    prefix, auth = credentials("v2", tenant)
    with Connection(bounded_server) as conn:
        conn.send(http("GET", f"{prefix}/contacts?q=" + "a" * 100_000, auth))
        reply = conn.reply()
        assert reply.status == 414
        assert "too long" in reply.error()


# -- 400: JSON nested too deeply, and numbers too long ----------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deep_json_is_400_and_the_connection_goes_on(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    prefix, auth = credentials(dialect, tenant)
    created = httpx.post(
        bounded_server.base_url + prefix + "/contacts",
        json={"inbox_id": tenant.inbox_id, "name": "Deep"},
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 200, created.text
    contact_id = created.json()["payload"]["contact"]["id"]
    with Connection(bounded_server) as conn:
        for depth in (32, 1000, 1100, 100_000):  # inside an object: 33 levels and more
            inner = nested(depth)
            bodies = [
                ("POST", "/contacts", b'{"name": "x", "custom_attributes": {"a": ' + inner + b"}}"),
                ("PATCH", f"/contacts/{contact_id}", b'{"additional_attributes": ' + inner + b"}"),
                (
                    "POST",
                    "/contacts/filter",
                    b'{"payload": [{"attribute_key": "name", "filter_operator": "equal_to", '
                    b'"values": ' + inner + b', "query_operator": null}]}',
                ),
                ("POST", f"/contacts/{contact_id}/labels", b'{"labels": ' + inner + b"}"),
            ]
            for method, path, body in bodies:
                assert conn.send(http(method, prefix + path, {**auth, **JSON}, body))
                reply = conn.reply()
                assert reply.status == 400, (method, path, depth, reply)
                assert reply.error() == (
                    "Malformed JSON body: nested too deeply (the limit is 32 levels)"
                )
        assert_listed(conn, dialect, tenant)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_number_of_5000_digits_in_a_body_is_400(
    bounded_server: Server, tenant: Tenant, dialect: str
) -> None:
    """orjson refuses an integer past 64 bits and Python's json past 4,300 digits (ValueError):
    a 400, not a 500."""
    prefix, auth = credentials(dialect, tenant)
    digits = b"9" * 5000
    with Connection(bounded_server) as conn:
        for body in (
            b'{"inbox_id": ' + digits + b', "name": "x"}',
            b'{"name": "x", "last_activity_at": ' + digits + b"}",
        ):
            assert conn.send(http("POST", f"{prefix}/contacts", {**auth, **JSON}, body))
            reply = conn.reply()
            assert reply.status == 400, reply
            assert reply.error().startswith("Malformed JSON body")
        assert_listed(conn, dialect, tenant)


# -- the gate and the parser, without a server --------------------------------------------------


@contextmanager
def bounds(**changes: Any) -> Iterator[None]:
    saved = limits()
    install(replace(saved, **changes))
    try:
        yield
    finally:
        install(saved)


class Echo:
    """An ASGI app that answers the body it received; counts the requests it saw."""

    def __init__(self) -> None:
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen += 1
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def post_scope(headers: list[tuple[bytes, bytes]]) -> Scope:
    return {"type": "http", "path": "/x", "method": "POST", "headers": headers}


class Client:
    """The server's side of one request: messages to hand out, and what the gate sent."""

    def __init__(self, messages: list[Message | asyncio.Event]) -> None:
        self.messages = messages
        self.sent: list[Message] = []
        self.received = 0
        self.waiting = 0  # receive() calls cut off while waiting

    async def receive(self) -> Message:
        self.received += 1
        item = self.messages.pop(0)
        while isinstance(item, asyncio.Event):  # the client is slow: wait for it
            self.waiting += 1
            try:
                await item.wait()
            finally:
                self.waiting -= 1
            item = self.messages.pop(0)
        return item

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def status(self) -> int:
        status: int = self.sent[0]["status"]
        return status

    def closes(self) -> bool:
        return (b"connection", b"close") in self.sent[0]["headers"]


def body_message(body: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_the_gate_refuses_a_large_content_length_without_reading() -> None:
    app = Echo()
    client = Client([])
    with bounds(max_body_bytes=100):
        await RequestGate(app, limit=1)(
            post_scope([(b"content-length", b"101")]), client.receive, client.send
        )
    assert client.received == 0
    assert app.seen == 0
    assert client.status() == 413
    assert client.closes()


async def test_the_gate_cuts_a_chunked_body_off_at_the_limit() -> None:
    app = Echo()
    client = Client([body_message(b"x" * 40, more=True) for _ in range(10)])
    with bounds(max_body_bytes=100):
        await RequestGate(app, limit=1)(
            post_scope([(b"transfer-encoding", b"chunked")]), client.receive, client.send
        )
    assert client.received == 3  # 120 bytes: past the limit, and no further
    assert app.seen == 0
    assert client.status() == 413


async def test_a_body_that_arrives_late_and_in_parts_is_handed_on_whole() -> None:
    app = Echo()
    later = asyncio.Event()
    client = Client([body_message(b"ab", more=True), later, body_message(b"cd")])
    gate = RequestGate(app, limit=1)
    request = asyncio.create_task(
        gate(post_scope([(b"content-length", b"4")]), client.receive, client.send)
    )
    await asyncio.sleep(0.05)
    assert client.waiting == 1
    assert app.seen == 0
    later.set()
    await asyncio.wait_for(request, timeout=5)
    assert client.sent[-1]["body"] == b"abcd"


async def test_a_stalled_body_is_408_and_holds_no_slot() -> None:
    app = Echo()
    never = asyncio.Event()
    stalled = Client([body_message(b"ab", more=True), never])
    other = Client([body_message(b"ok")])
    gate = RequestGate(app, limit=1)
    with bounds(body_timeout_seconds=0.3):
        started = time.monotonic()
        waiting = asyncio.create_task(
            gate(post_scope([(b"content-length", b"10")]), stalled.receive, stalled.send)
        )
        await asyncio.sleep(0.05)
        scope = post_scope([(b"content-length", b"2")])
        await asyncio.wait_for(gate(scope, other.receive, other.send), timeout=0.2)
        assert other.status() == 200
        await asyncio.wait_for(waiting, timeout=5)
    assert 0.25 < time.monotonic() - started < 2
    assert stalled.status() == 408
    assert stalled.closes()
    assert stalled.waiting == 0  # the cut-off receive() was closed, not left pending
    assert app.seen == 1


async def test_a_request_without_a_body_is_not_read() -> None:
    app = Echo()
    client = Client([body_message(b"")])
    scope: Scope = {"type": "http", "path": "/x", "method": "GET", "headers": [(b"host", b"x")]}
    await RequestGate(app, limit=1)(scope, client.receive, client.send)
    assert client.received == 1  # by the app, not by the gate
    assert client.status() == 200


@pytest.mark.parametrize(
    "document",
    [
        nested(32),
        b'{"a": ' * 31 + b"[]" + b"}" * 31,
        b'["' + b"[" * 1000 + b'"]',  # brackets in a string are not nesting
        b'"' + b"{" * 1000 + b'"',
        b"[" + b"[[]]," * 1000 + b"[]]",  # many arrays, three deep
    ],
)
def test_json_within_the_depth_limit_is_parsed(document: bytes) -> None:
    assert parse_json(document) == orjson.loads(document)


@pytest.mark.parametrize("depth", [33, 1024, 1025, 5000, 100_000])
def test_json_over_the_depth_limit_is_400(depth: int) -> None:
    for document in (nested(depth), b'{"a": ' * depth + b"1" + b"}" * depth):
        with pytest.raises(BadRequest, match="nested too deeply"):
            parse_json(document)


def test_the_depth_limit_is_read_when_parsing() -> None:
    with bounds(max_json_depth=3):
        assert parse_json(nested(3)) == [[[]]]
        with pytest.raises(BadRequest, match="the limit is 3 levels"):
            parse_json(nested(4))
