"""GET /metrics (issue 13, item 4): Prometheus text with requests by route template and
status, latency by route, the request gate, database connections in use, rate-limit
refusals and webhook deliveries; behind a token when one is set; summed over the workers of
`serve --workers 2`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from contactdesk.app import create_app
from contactdesk.config import Settings
from tests.app.test_server import running_server
from tests.support import Tenant, basic

V2 = "/api/v2/accounts/contacts"
ROUTE = "/api/v2/accounts/contacts/{contact_id}"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    for line in text.splitlines():
        matched = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if matched is None or matched.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', matched.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(matched.group(3))
    return 0.0


@asynccontextmanager
async def served(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(database_url=database_url, dispatcher=False, importer=False, **settings)
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def test_metrics_count_requests_by_route_and_status(
    database_url: str, tenant: Tenant
) -> None:
    headers = basic(tenant.key, tenant.secret)
    async with served(database_url, rate_limit="2/minute", auth_failure_rate_limit="0") as c:
        before = (await c.get("/metrics")).text
        created = await c.post(V2, headers=headers, json={"inbox_id": tenant.inbox_id})
        contact_id = created.json()["payload"]["contact"]["id"]
        assert (await c.get(f"{V2}/{contact_id}", headers=headers)).status_code == 200
        assert (await c.get(f"{V2}/{contact_id}", headers=headers)).status_code == 429
        response = await c.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def grew(name: str, by: float, **labels: str) -> None:
        assert sample(text, name, **labels) - sample(before, name, **labels) == by, (
            name,
            labels,
        )

    grew("contactdesk_requests_total", 1, route=ROUTE, method="GET", status="200")
    grew("contactdesk_requests_total", 1, route=V2, method="POST", status="200")
    grew("contactdesk_request_duration_seconds_count", 1, route=ROUTE)
    grew("contactdesk_request_duration_seconds_bucket", 1, route=ROUTE, le="+Inf")
    grew("contactdesk_rate_limited_total", 1, limit="credential")
    # The refused request is counted with its status (refused before any route matched: no
    # template); the path's id is never a label.
    grew("contactdesk_requests_total", 1, route="none", method="GET", status="429")
    assert not re.search(rf'route="[^"]*/{contact_id}\b', text)
    for name in (
        "contactdesk_gate_working",
        "contactdesk_gate_waiting",
        "contactdesk_db_connections_in_use",
        "contactdesk_webhook_backlog",
    ):
        assert re.search(rf"^{name}(\{{[^}}]*\}})? ", text, re.M), name
    assert "# TYPE contactdesk_webhook_deliveries_total counter" in text


async def test_metrics_token(database_url: str) -> None:
    async with served(database_url, metrics_token="m-3tr1cs") as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json() == {"error": "Invalid metrics token"}
        right = await client.get("/metrics", headers={"Authorization": "Bearer m-3tr1cs"})
        assert right.status_code == 200
        assert "contactdesk_requests_total" in right.text


async def test_metrics_summed_over_workers(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    headers = basic(tenant.key, tenant.secret)
    with running_server(database_url, tmp_path / "serve.log", "--workers", "2") as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            for _ in range(40):
                assert (await client.get(V2, headers=headers)).status_code == 200
            # Each scrape is answered by one worker or the other; both give the sum.
            for _ in range(4):
                text = (await client.get("/metrics")).text
                count = sample(
                    text, "contactdesk_requests_total", route=V2, method="GET", status="200"
                )
                assert count == 40
