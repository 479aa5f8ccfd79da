"""Logs and request ids (issue 13, item 3): one JSON line per request from a real server,
with the route's template and the caller, never a secret or a field value; X-Request-Id
echoed (when valid) or made; one line per unhandled error with its traceback; bind values
hidden from database errors."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.types import Receive, Scope, Send

from contactdesk.db import Database
from contactdesk.logs import RequestLog
from contactdesk.models import ApiKey
from tests.app.test_server import running_server
from tests.support import Tenant, basic

V2 = "/api/v2/accounts/contacts"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def json_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def request_lines(log: Path, request_id: str) -> list[dict[str, Any]]:
    """The log's lines for the request (the line is written once the response is sent)."""
    deadline = time.monotonic() + 10
    while True:
        found = [r for r in json_lines(log) if r.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def wait_for(log: Path, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)


async def test_json_request_lines_with_ids_and_no_personal_data(
    database_url: str, tenant: Tenant, tmp_path: Path, db: Database
) -> None:
    log = tmp_path / "serve.log"
    email = "very-private-person@example.org"
    with running_server(database_url, log) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            headers = basic(tenant.key, tenant.secret)
            created = await client.post(
                V2,
                headers={**headers, "X-Request-Id": "create-1"},
                json={"inbox_id": tenant.inbox_id, "name": "Private Person", "email": email},
            )
            assert created.status_code == 200, created.text
            assert created.headers["x-request-id"] == "create-1"
            contact_id = created.json()["payload"]["contact"]["id"]
            shown = await client.get(
                f"{V2}/{contact_id}", headers={**headers, "X-Request-Id": "show-1"}
            )
            assert shown.headers["x-request-id"] == "show-1"
            searched = await client.get(
                f"{V2}/search", params={"q": email}, headers={**headers, "X-Request-Id": "q-1"}
            )
            assert searched.status_code == 200
            # An id that is not acceptable is replaced by a new one.
            for bad in ("has spaces", "x" * 129, "a/b", ""):
                response = await client.get(V2, headers={**headers, "X-Request-Id": bad})
                assert HEX_ID.fullmatch(response.headers["x-request-id"]), bad
            made = await client.get(V2, headers=headers)
            assert HEX_ID.fullmatch(made.headers["x-request-id"])
            # Refused requests have ids too; a 401 is logged with the client's address.
            refused = await client.get(
                f"/api/v1/accounts/{tenant.account_id}/contacts",
                headers={"api_access_token": "not-a-token", "X-Request-Id": "refused-1"},
            )
            assert refused.status_code == 401
            assert refused.headers["x-request-id"] == "refused-1"
            unknown = await client.get("/no/such/path", headers={"X-Request-Id": "lost-1"})
            assert unknown.status_code == 404
            assert unknown.headers["x-request-id"] == "lost-1"
            v1_agent = await client.get(
                f"/api/v1/accounts/{tenant.account_id}/contacts",
                headers={"api_access_token": tenant.agent_token, "X-Request-Id": "agent-1"},
            )
            assert v1_agent.status_code == 200
        async with db.reader() as session:
            key_id = (
                await session.execute(sa.select(ApiKey.id).where(ApiKey.key == tenant.key))
            ).scalar_one()
        [create] = request_lines(log, "create-1")
        [show] = request_lines(log, "show-1")
        [search] = request_lines(log, "q-1")
        [refusal] = request_lines(log, "refused-1")
        [lost] = request_lines(log, "lost-1")
        [agent] = request_lines(log, "agent-1")
    assert create["method"] == "POST"
    assert create["route"] == "/api/v2/accounts/contacts"
    assert create["status"] == 200
    assert create["account_id"] == tenant.account_id
    assert create["credential"] == f"key:{key_id}"
    assert isinstance(create["duration_ms"], float | int)
    assert create["message"] == "request"
    assert create["level"] == "INFO"
    assert "time" in create
    assert "client_ip" not in create
    # The template, not the path with its id.
    assert show["route"] == "/api/v2/accounts/contacts/{contact_id}"
    assert search["route"] == "/api/v2/accounts/contacts/search"
    assert refusal["status"] == 401
    assert refusal["client_ip"] == "127.0.0.1"
    assert refusal["account_id"] is None
    assert refusal["credential"] is None
    assert lost["status"] == 404
    assert lost["route"] is None
    assert agent["route"] == "/api/v1/accounts/{account_id}/contacts"
    assert agent["credential"].startswith("user:")
    text = log.read_text()
    for secret in (email, "Private Person", tenant.secret, tenant.agent_token, "not-a-token"):
        assert secret not in text


async def test_text_log_format(database_url: str, tenant: Tenant, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    settings = {"CONTACTDESK_LOG_FORMAT": "text"}
    with running_server(database_url, log, env=settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            headers = {**basic(tenant.key, tenant.secret), "X-Request-Id": "text-1"}
            assert (await client.get(V2, headers=headers)).status_code == 200
        wait_for(log, "request_id=text-1")
    line = next(line for line in log.read_text().splitlines() if "request_id=text-1" in line)
    assert not line.startswith("{")
    assert "route=/api/v2/accounts/contacts" in line
    assert "status=200" in line


async def test_unhandled_error_logged_once_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom in a handler")

    caplog.set_level(logging.INFO, logger="contactdesk")
    transport = httpx.ASGITransport(app=RequestLog(broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/anything", headers={"X-Request-Id": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert response.headers["x-request-id"] == "boom-1"
    errors = [r for r in caplog.records if r.name == "contactdesk.errors"]
    assert len(errors) == 1
    assert errors[0].getMessage() == "unhandled error"
    assert errors[0].exc_info is not None
    assert getattr(errors[0], "request_id", None) == "boom-1"
    [line] = [r for r in caplog.records if r.name == "contactdesk.requests"]
    assert getattr(line, "status", None) == 500


async def test_database_errors_hide_bind_values(db: Database) -> None:
    secret = "bind-value-that-must-not-leak@example.org"
    async with db.writer() as session:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            await session.execute(sa.text("INSERT INTO no_such_table VALUES (:v)"), {"v": secret})
        await session.rollback()
    assert secret not in str(raised.value)
    assert "hidden" in str(raised.value)
