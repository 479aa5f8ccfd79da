"""The per-process request gate (contactdesk.gate): a first-come, first-served limit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from contactdesk.config import Settings
from contactdesk.gate import RequestGate
from contactdesk.limits import limits


class Recorder:
    """An ASGI app that echoes the body it received and records how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.admitted: list[str] = []
        self.hold = asyncio.Event()
        self.changed = asyncio.Condition()

    async def until(self, ready: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(ready), timeout=5)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        self.admitted.append(scope["path"])
        async with self.changed:
            self.changed.notify_all()
        try:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            if scope["path"].startswith("/wait"):
                await self.hold.wait()
            if scope["path"] == "/fail":
                raise RuntimeError("boom")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.running -= 1


def client_for(app: RequestGate) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_no_more_than_the_limit_run_at_once_and_all_are_served() -> None:
    recorder = Recorder()
    async with client_for(RequestGate(recorder, limit=3)) as client:
        tasks = [
            asyncio.create_task(client.post(f"/wait/{n}", content=f"body {n}".encode()))
            for n in range(20)
        ]
        await recorder.until(lambda: len(recorder.admitted) >= 3)
        await asyncio.sleep(0.05)  # the other 17 had every chance to start
        assert recorder.running == 3
        recorder.hold.set()
        responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * 20
    assert [r.content for r in responses] == [f"body {n}".encode() for n in range(20)]
    assert recorder.most == 3


async def test_waiting_requests_are_admitted_in_arrival_order() -> None:
    recorder = Recorder()
    gate = RequestGate(recorder, limit=1)
    async with client_for(gate) as client:
        first = asyncio.create_task(client.get("/wait/0"))
        await recorder.until(lambda: bool(recorder.admitted))
        later = []
        for n in range(1, 6):
            later.append(asyncio.create_task(client.get(f"/wait/{n}")))
            await asyncio.sleep(0.01)  # arrive one after the other
        recorder.hold.set()
        await asyncio.gather(first, *later)
    assert recorder.admitted == [f"/wait/{n}" for n in range(6)]


async def test_health_checks_are_never_queued() -> None:
    recorder = Recorder()
    async with client_for(RequestGate(recorder, limit=1)) as client:
        busy = asyncio.create_task(client.get("/wait/busy"))
        await recorder.until(lambda: bool(recorder.admitted))
        health = await asyncio.wait_for(client.get("/healthz"), timeout=5)
        assert health.status_code == 200
        recorder.hold.set()
        assert (await busy).status_code == 200


async def test_a_failing_request_gives_its_slot_back() -> None:
    recorder = Recorder()
    recorder.hold.set()
    async with client_for(RequestGate(recorder, limit=1)) as client:
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await client.get("/fail")
        response = await asyncio.wait_for(client.get("/ok"), timeout=5)
    assert response.status_code == 200


async def test_large_and_chunked_bodies_arrive_whole() -> None:
    recorder = Recorder()
    big = (bytes(range(256)) * (limits().max_body_bytes // 256))[:-5]  # just under the limit

    async def chunks() -> object:
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    async with client_for(RequestGate(recorder, limit=2)) as client:
        response = await client.post("/echo", content=chunks())  # type: ignore[arg-type]
        small = await client.post("/echo", content=b'{"a": 1}')
    assert response.content == big
    assert small.content == b'{"a": 1}'


async def test_a_client_that_leaves_mid_body_is_dropped() -> None:
    recorder = Recorder()
    messages: list[Message] = [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    chunked = [(b"transfer-encoding", b"chunked")]
    scope: Scope = {"type": "http", "path": "/echo", "method": "POST", "headers": chunked}
    await RequestGate(recorder, limit=1)(scope, receive, send)
    assert recorder.admitted == []  # the service never sees it, and it takes no slot
    assert sent == []


async def test_a_limit_of_zero_means_no_gate() -> None:
    recorder = Recorder()
    async with client_for(RequestGate(recorder, limit=0)) as client:
        tasks = [asyncio.create_task(client.get(f"/wait/{n}")) for n in range(10)]
        await recorder.until(lambda: recorder.running == 10)
        recorder.hold.set()
        await asyncio.gather(*tasks)
    assert recorder.most == 10


def test_the_default_limit() -> None:
    assert Settings().max_concurrent_requests == 3


async def _gated(gate: RequestGate, scope: Scope, messages: list[Message]) -> list[Message]:
    """Run one request through the gate, its receive() handing out `messages` and then
    waiting for ever (a client that stays and sends nothing more); what was sent back."""
    forever = asyncio.Event()

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        await forever.wait()
        return {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await gate(scope, receive, send)
    return sent


async def test_a_request_whose_client_left_while_it_waited_is_dropped() -> None:
    recorder = Recorder()
    gate = RequestGate(recorder, limit=1)
    get: Scope = {"type": "http", "path": "/gone", "method": "GET", "headers": []}
    post: Scope = {
        "type": "http",
        "path": "/gone-post",
        "method": "POST",
        "headers": [(b"content-length", b"4")],
    }
    stays: Scope = {"type": "http", "path": "/stays", "method": "GET", "headers": []}
    holder = asyncio.create_task(
        _gated(gate, {**get, "path": "/wait/1"}, [{"type": "http.request", "body": b""}])
    )
    await recorder.until(lambda: recorder.admitted == ["/wait/1"])
    waiting = [
        # A GET whose client is gone by the time a slot frees: its receive() says so at once.
        asyncio.create_task(_gated(gate, get, [{"type": "http.disconnect"}])),
        # A POST whose body arrived, then its client left.
        asyncio.create_task(
            _gated(
                gate,
                post,
                [{"type": "http.request", "body": b"gone"}, {"type": "http.disconnect"}],
            )
        ),
        # A GET whose client is still there: served, with its (empty) body.
        asyncio.create_task(_gated(gate, stays, [{"type": "http.request", "body": b""}])),
    ]
    await asyncio.sleep(0.05)
    recorder.hold.set()
    await holder
    gone, gone_post, served = await asyncio.gather(*waiting)
    assert recorder.admitted == ["/wait/1", "/stays"]
    assert gone == []
    assert gone_post == []
    assert [m["type"] for m in served] == ["http.response.start", "http.response.body"]


async def test_a_waiting_request_with_a_body_keeps_it() -> None:
    recorder = Recorder()
    async with client_for(RequestGate(recorder, limit=1)) as client:
        first = asyncio.create_task(client.post("/wait/1", content=b"first"))
        await recorder.until(lambda: len(recorder.admitted) == 1)
        second = asyncio.create_task(client.post("/echo", content=b"second body"))
        third = asyncio.create_task(client.get("/echo"))
        await asyncio.sleep(0.05)
        recorder.hold.set()
        responses = await asyncio.gather(first, second, third)
    assert [r.content for r in responses] == [b"first", b"second body", b""]
