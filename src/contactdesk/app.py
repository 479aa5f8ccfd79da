"""create_app(): the ASGI application for both dialects."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from starlette.responses import Response

from contactdesk import __version__
from contactdesk.actions.imports import running as importing
from contactdesk.auth.caller import CredentialCache
from contactdesk.config import Settings, get_settings
from contactdesk.db import Database
from contactdesk.dbfaults import DatabaseFaults
from contactdesk.dialects import DIALECTS, mount_dialects
from contactdesk.errors import install_error_handlers
from contactdesk.gate import GateStats, RequestGate
from contactdesk.health import Readiness
from contactdesk.limits import Limits, install
from contactdesk.logs import RequestLog
from contactdesk.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from contactdesk.metrics import (
    DB_IN_USE,
    GATE_WAITING,
    GATE_WORKING,
    exposition,
    process_ended,
)
from contactdesk.ratelimit import RateLimit
from contactdesk.responses import BODY_SCHEMAS, OrjsonResponse
from contactdesk.webhooks.dispatcher import running as dispatching

DESCRIPTION = """\
The contacts service behind a customer-support desk. It serves the Contacts API in two
dialects with identical behaviour and bodies:

* **LiveDesk (v2)**: `/api/v2/accounts/...`, authenticated with
  `Authorization: Basic base64(api_key:api_secret)`; the key implies the account.
* **Chatwoot (v1)**: `/api/v1/accounts/{account_id}/...`, authenticated with an
  `api_access_token` header (or `Authorization: Bearer <token>`).

Every success is 200. Errors are JSON: `{"error": ...}`, or
`{"message": ..., "attributes": [...]}` for invalid body fields.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install(Limits.of(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded at startup (modules, routes, the OpenAPI models) lives as long as
        # the process: move it out of the collector's sight, so that full collections under
        # load do not walk it again and again (they showed as latency spikes).
        gc.collect()
        gc.freeze()
        async with contextlib.AsyncExitStack() as stack:
            app.state.dispatcher = None
            app.state.importer = None
            if settings.importer:
                app.state.importer = await stack.enter_async_context(
                    importing(app.state.db, settings)
                )
            if settings.dispatcher:
                app.state.dispatcher = await stack.enter_async_context(
                    dispatching(app.state.db, settings)
                )
            sampler = asyncio.ensure_future(_sample(app.state.db, gate))
            try:
                yield
            finally:
                sampler.cancel()
        await app.state.db.dispose()
        process_ended()

    # /docs and /redoc with their assets served from the installed fastapi-offline package,
    # not a CDN: they work on a network without internet access.
    app = FastAPIOffline(
        title="contactdesk",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        # No validator badge (Swagger UI would fetch it from validator.swagger.io).
        swagger_ui_parameters={"validatorUrl": None},
    )
    document = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with the models request bodies refer to in its components."""
        if app.openapi_schema is None:
            schema = document()
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, body_schema in BODY_SCHEMAS.items():
                known.setdefault(name, body_schema)
        return app.openapi_schema or document()

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.db = Database(settings)
    app.state.credential_cache = CredentialCache(settings.auth_cache_seconds)
    install_error_handlers(app)
    mount_dialects(app)
    # Innermost: a statement timeout answers 503; a read on a dropped connection runs again.
    app.add_middleware(
        DatabaseFaults,
        database=lambda: app.state.db,
        statement_timeout_ms=settings.statement_timeout_ms,
    )
    gate = GateStats()
    app.state.readiness = Readiness(app.state.db, gate, settings.ready_max_waiting)
    app.add_middleware(RequestGate, limit=settings.max_concurrent_requests, stats=gate)
    # Outside the gate: a client over its limit is refused without taking a slot.
    app.add_middleware(RateLimit, settings=settings)
    # Outermost: every response, a refusal too, has its request id and its log line.
    app.add_middleware(RequestLog, prefixes=tuple(prefix for prefix, _, _ in DIALECTS))

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness: the process answers",
        responses={200: {"description": '`{"status": "ok"}`'}},
    )
    async def healthz() -> Response:
        """200 while the process answers; it touches nothing else (see /readyz)."""
        return OrjsonResponse({"status": "ok"})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        responses={
            200: {
                "description": "The Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            401: {"description": "CONTACTDESK_METRICS_TOKEN is set and was not sent"},
        },
    )
    async def metrics(request: Request) -> Response:
        """Requests by route and status, latency by route, the request gate, database
        connections in use, rate-limit refusals, webhook deliveries and backlog
        (contactdesk.metrics). With CONTACTDESK_METRICS_TOKEN set: `Authorization: Bearer
        <token>`."""
        token = settings.metrics_token
        if token:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return OrjsonResponse({"error": "Invalid metrics token"}, status_code=401)
        backlog = await _webhook_backlog(request.app.state.db)
        return Response(exposition(backlog), media_type=METRICS_CONTENT_TYPE)

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: the database answers and the process is not saturated",
        responses={
            200: {"description": '`{"status": "ok"}`'},
            503: {"description": '`{"status": "unavailable", "error": ...}`: not ready'},
        },
    )
    async def readyz(request: Request) -> Response:
        """200 when the database answers within 1 s (one check at a time per process, its
        answer reused for 1 s) and the request gate has at most
        CONTACTDESK_READY_MAX_WAITING requests waiting; 503 otherwise."""
        readiness: Readiness = request.app.state.readiness
        problem = await readiness.problem()
        if problem is not None:
            return OrjsonResponse({"status": "unavailable", "error": problem}, status_code=503)
        return OrjsonResponse({"status": "ok"})

    return app


POOL_SAMPLE_SECONDS = 1.0


async def _sample(db: Database, gate: GateStats) -> None:
    """The gauges of this process, every second: connections in use, the request gate."""
    while True:
        for pool, in_use in db.connections_in_use().items():
            DB_IN_USE.labels(pool).set(in_use)
        GATE_WORKING.set(gate.working)
        GATE_WAITING.set(gate.waiting)
        await asyncio.sleep(POOL_SAMPLE_SECONDS)


async def _webhook_backlog(db: Database) -> int | None:
    """Deliveries waiting to be sent, over every account (an operator's figure); None when
    the database does not answer within a second."""
    try:
        async with asyncio.timeout(1.0), db.engine.connect() as connection:
            found = await connection.execute(
                sa.text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            )
            return int(found.scalar_one())
    except Exception:  # a scrape still answers with the process's own figures
        return None
