"""/healthz and /readyz (issue 13, item 5): readiness checks the database at most one
connection at a time whatever the request rate, and fails while the request gate is
saturated; neither waits at the gate or counts against a rate limit. And OPTIONS (item 7):
204 with an Allow header naming every method of the path, as a 405 does."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from contactdesk.db import Database
from contactdesk.health import Readiness


async def test_readiness_uses_one_connection_whatever_the_rate(
    app: FastAPI, client: httpx.AsyncClient, db: Database
) -> None:
    readiness: Readiness = app.state.readiness
    readiness._checked_at = -1e9
    open_now = 0
    most = 0

    def checked_out(*_: object) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)

    def checked_in(*_: object) -> None:
        nonlocal open_now
        open_now -= 1

    engine = db.engine.sync_engine
    sa.event.listen(engine, "checkout", checked_out)
    sa.event.listen(engine, "checkin", checked_in)
    try:
        responses = await asyncio.gather(*(client.get("/readyz") for _ in range(200)))
    finally:
        sa.event.remove(engine, "checkout", checked_out)
        sa.event.remove(engine, "checkin", checked_in)
    assert {r.status_code for r in responses} == {200}
    assert all(r.json() == {"status": "ok"} for r in responses)
    assert most == 1


async def test_readyz_503_while_the_gate_is_saturated(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    readiness: Readiness = app.state.readiness
    gate = readiness.gate
    gate.waiting += readiness.max_waiting + 1
    try:
        saturated = await client.get("/readyz")
        live = await client.get("/healthz")
    finally:
        gate.waiting -= readiness.max_waiting + 1
    assert saturated.status_code == 503
    assert "saturated" in saturated.json()["error"]
    assert live.status_code == 200
    assert (await client.get("/readyz")).status_code == 200


async def test_options_and_405_name_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    for path, methods in (
        ("/api/v2/accounts/contacts", "GET, HEAD, OPTIONS, POST"),
        ("/api/v2/accounts/contacts/12", "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"),
        ("/api/v1/accounts/3/contacts/12/labels", "GET, HEAD, OPTIONS, POST"),
    ):
        options = await client.options(path)
        assert options.status_code == 204, path
        assert options.headers["allow"] == methods
        assert options.content == b""
        refused = await client.request("TRACE", path)
        assert refused.status_code == 405
        assert refused.headers["allow"] == methods
        assert refused.json() == {"error": "Method not allowed"}
    assert (await client.options("/no/such/path")).status_code == 404
