"""A route checks its caller before it opens a session: a refused caller never opens one, so
it never queues for SQLite's write lock (db.py, get_session)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from contactdesk.db import (
    Database,
    get_read_connection,
    get_read_session,
    get_session,
    get_write_connection,
)
from contactdesk.dialects import DOMAIN_ROUTERS
from tests.support import Api, Tenant, agent_api

SESSIONS = (get_session, get_read_session, get_read_connection, get_write_connection)
# Routes that stream (an upload, a CSV) open their sessions in the endpoint, one per piece of
# work, so that none is held while bytes travel; the caller is checked before the endpoint
# runs at all. They still need a permission dependency.
OWN_SESSIONS = {
    "/contacts/import",
    "/contacts/imports/{import_id}/errors.csv",
    "/contacts/export.csv",
    "/contacts/export",
}


def _calls(dependant: Dependant) -> list[object]:
    """The route's dependencies in the order FastAPI solves them (depth first)."""
    calls: list[object] = []
    for sub in dependant.dependencies:
        calls += _calls(sub)
        calls.append(sub.call)
    return calls


def test_every_route_checks_the_caller_before_its_session() -> None:
    """Each dialect runs its authentication first (a router dependency), then the route's
    own dependencies in order: the permission must come before the session."""
    checked = 0
    for router in DOMAIN_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            _check(route)
            checked += 1
    assert checked >= 20  # every route, mounted under both dialects


def _check(route: APIRoute) -> None:
    calls = _calls(route.dependant)
    names = [getattr(call, "__name__", "") for call in calls]
    permission = [i for i, name in enumerate(names) if name.startswith("require_")]
    session = [i for i, call in enumerate(calls) if call in SESSIONS]
    assert permission, f"{route.path} {route.methods}: no permission dependency"
    if route.path in OWN_SESSIONS:
        assert not session, f"{route.path}: listed in OWN_SESSIONS but has a session dependency"
        return
    assert session, f"{route.path} {route.methods}: no session dependency"
    assert max(permission) < min(session), (
        f"{route.path} {route.methods}: the session opens before the caller is checked"
    )


async def test_a_refused_writer_does_not_wait_for_the_write_lock(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    """While another request holds the write lock, refused callers get their 403 at once."""
    read_only = Api(client, "v2", tenant, await tenant.key_headers(["contacts:read"]))
    agent = await agent_api(client, "v1", tenant)
    async with db.writing():
        refused = await asyncio.wait_for(
            asyncio.gather(
                read_only.post("/contacts", json={"inbox_id": tenant.inbox_id, "name": "A"}),
                read_only.post("/bulk_actions", json={"type": "Contact", "ids": [1]}),
                agent.delete("/contacts/1"),
                agent.post(
                    "/custom_attribute_definitions",
                    json={"attribute_display_name": "Plan", "attribute_key": "plan"},
                ),
            ),
            timeout=10,
        )
    assert [r.status_code for r in refused] == [403, 403, 403, 403], [r.text for r in refused]
    assert all("error" in r.json() for r in refused)
