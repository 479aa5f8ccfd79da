"""LeanRoute (routing.py) serves every route without FastAPI's dependency solver, with the
same arguments FastAPI would pass, and leaves a route it cannot serve to FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from starlette.responses import JSONResponse, Response

from contactdesk.dialects import DOMAIN_ROUTERS
from contactdesk.routing import LeanRoute, _plan, _Step


def test_every_route_of_the_service_is_lean() -> None:
    for router in DOMAIN_ROUTERS:
        for route in router.routes:
            assert isinstance(route, LeanRoute), route
            steps: list[_Step] = []
            assert _plan(route.dependant, steps, {}) is not None, (route.path, route.methods)


async def _ask(app: FastAPI, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, **kwargs)  # type: ignore[arg-type]


events: list[str] = []


async def caller(request: Request, account_id: str) -> str:
    events.append("caller")
    return f"caller-{account_id}"


async def resource(request: Request) -> AsyncIterator[str]:
    events.append("open")
    try:
        yield "resource"
    finally:
        events.append("close")


def _app() -> FastAPI:
    events.clear()
    router = APIRouter(route_class=LeanRoute)

    @router.get("/things/{thing_id}")
    async def thing(
        request: Request,
        who: Annotated[str, Depends(caller)],
        held: Annotated[str, Depends(resource)],
        thing_id: str,
        q: Annotated[str | None, Query()] = None,
        tags: Annotated[list[str] | None, Query(alias="tags[]")] = None,
    ) -> Response:
        return JSONResponse(
            {"who": who, "held": held, "thing": thing_id, "q": q, "tags": tags, "events": events}
        )

    @router.get("/typed")
    async def typed(limit: int = 3, agent: Annotated[str | None, Header()] = None) -> Response:
        return JSONResponse({"limit": limit, "agent": agent})

    app = FastAPI()
    app.include_router(router, prefix="/accounts/{account_id}")
    return app


async def test_arguments_are_those_fastapi_passes() -> None:
    app = _app()
    body = (await _ask(app, "/accounts/7/things/x?q=a&tags[]=b&tags[]=c")).json()
    assert body == {
        "who": "caller-7",
        "held": "resource",
        "thing": "x",
        "q": "a",
        "tags": ["b", "c"],
        "events": ["caller", "open"],
    }
    # The yielded resource closed once the endpoint returned.
    again = (await _ask(app, "/accounts/7/things/y")).json()
    assert again["events"][:4] == ["caller", "open", "close", "caller"]
    assert again["q"] is None
    assert again["tags"] is None


async def test_a_route_lean_cannot_serve_is_left_to_fastapi() -> None:
    """Typed parameters and headers: FastAPI validates them as ever."""
    app = _app()
    assert (await _ask(app, "/accounts/7/typed?limit=5", headers={"agent": "z"})).json() == {
        "limit": 5,
        "agent": "z",
    }
    assert (await _ask(app, "/accounts/7/typed?limit=x")).status_code == 422
