"""Issue 10 against the real server: 5,000-digit numbers anywhere answer a JSON 4xx (or, for a
page, an empty page) and the keep-alive connection stays usable for the next request."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.app.test_server import Server, running_server
from tests.support import Tenant, basic

NINES = "9" * 5000


@pytest.fixture(scope="module")
def caps_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("caps-server") / "serve.log"
    with running_server(database_url, log) as running:
        yield running


def cond(key: str, operator: str, values: list[Any], joiner: str | None = None) -> dict[str, Any]:
    return {
        "attribute_key": key,
        "filter_operator": operator,
        "values": values,
        "query_operator": joiner,
    }


def test_long_numbers_keep_the_connection(caps_server: Server, tenant: Tenant) -> None:
    parts = urlsplit(caps_server.base_url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    v1 = f"/api/v1/accounts/{tenant.account_id}"
    v1_auth = {"api_access_token": tenant.admin_token}
    v2_auth = basic(tenant.key, tenant.secret)
    ten_by_85 = [
        cond("name", "contains", [f"{n}-{v}" for v in range(85)], "OR" if n < 9 else None)
        for n in range(10)
    ]
    cases: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("GET", f"/api/v1/accounts/{NINES}/contacts", {}, None, 401),
        ("GET", f"/api/v1/accounts/{NINES}/contacts", {"api_access_token": "nope"}, None, 401),
        ("GET", f"/api/v1/accounts/{NINES}/contacts", v1_auth, None, 401),
    ]
    for prefix, auth in ((v1, v1_auth), ("/api/v2/accounts", v2_auth)):
        cases += [
            ("GET", f"{prefix}/contacts/{NINES}", auth, None, 404),
            ("GET", f"{prefix}/contacts?" + urlencode({"page": NINES}), auth, None, 200),
            ("GET", f"{prefix}/contacts?" + urlencode({"page_size": NINES}), auth, None, 422),
            (
                "POST",
                f"{prefix}/contacts/filter",
                auth,
                {"payload": [cond("created_at", "days_before", [NINES])]},
                422,
            ),
            (
                "POST",
                f"{prefix}/contacts/filter",
                auth,
                {"payload": [cond("created_at", "is_greater_than", ["9999-12-31"])]},
                200,
            ),
            ("POST", f"{prefix}/contacts/filter", auth, {"payload": ten_by_85}, 200),
            (
                "POST",
                f"{prefix}/bulk_actions",
                auth,
                {"type": "Contact", "ids": [NINES], "action_name": "delete"},
                422,
            ),
            ("POST", f"{prefix}/contacts", auth, {"inbox_id": NINES, "name": "x"}, 404),
        ]
    try:
        socket = None
        for method, path, headers, body, status in cases:
            payload = None if body is None else json.dumps(body).encode()
            sent = {**headers, "Content-Type": "application/json"} if payload else headers
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            where = (method, path[:80], response.status, raw[:200])
            assert response.status == status, where
            assert response.getheader("content-type") == "application/json", where
            assert isinstance(json.loads(raw), dict), where
            assert (response.getheader("connection") or "").lower() != "close", where
            if socket is None:
                socket = connection.sock
            assert connection.sock is socket, where  # the same keep-alive connection
    finally:
        connection.close()
