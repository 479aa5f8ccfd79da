"""LeanRoute: FastAPI routes whose requests skip FastAPI's general dependency solver.

FastAPI reads a route's signature twice: once at startup to write the OpenAPI document, and
on every request to solve its dependencies and validate its parameters. The second cost a
fifth of a worker's CPU on the hot reads (docs/performance.md, issue 10). The routes of this
service use a small subset of what the solver can do: the request, path and query parameters
declared as plain strings (documented in OpenAPI; the route parses them itself from
request.query_params), and dependencies that take the request (and path parameters) and
return a value or yield one. LeanRoute builds, once per route, a plan that calls exactly
those, in FastAPI's order, and calls the endpoint; the OpenAPI document is unchanged. A route
that uses anything else (a body model, headers, cookies, a typed parameter) falls back to
FastAPI's own handler, so nothing is silently skipped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

try:
    from fastapi.routing import _effective_route_context_var
except ImportError:  # pragma: no cover  (a FastAPI that copies included routes instead)
    _effective_route_context_var = None  # type: ignore[assignment]

_STRING = str | None
_STRINGS = list[str] | None


@dataclass(frozen=True)
class _Step:
    """One dependency (or the endpoint): call it with these arguments."""

    call: Callable[..., Any]
    request_name: str | None
    path: tuple[tuple[str, str], ...]  # (argument, path parameter)
    query: tuple[tuple[str, str, bool], ...]  # (argument, query alias, is a list)
    needs: tuple[tuple[str, int], ...]  # (argument, index of an earlier step's value)
    generator: bool


def _plain(annotation: Any) -> str | None:
    """ "one" for str | None, "many" for list[str] | None, None for anything else."""
    if annotation in (str, _STRING):
        return "one"
    if annotation == _STRINGS or (
        get_origin(annotation) is Union and list[str] in get_args(annotation)
    ):
        return "many"
    return None


def _plan(dependant: Dependant, steps: list[_Step], seen: dict[Any, int]) -> int | None:
    """Append the steps that compute dependant (dependencies first); its step's index, or
    None when the route needs more than LeanRoute does."""
    if dependant.header_params or dependant.cookie_params or dependant.body_params:
        return None
    if (
        dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    needs: list[tuple[str, int]] = []
    for sub in dependant.dependencies:
        key = (sub.call, sub.use_cache)
        index = seen.get(key) if sub.use_cache else None
        if index is None:
            index = _plan(sub, steps, seen)
            if index is None:
                return None
            if sub.use_cache:
                seen[key] = index
        if sub.name is not None:
            needs.append((sub.name, index))
    path: list[tuple[str, str]] = []
    for field in dependant.path_params:
        if _plain(field.field_info.annotation) != "one":
            return None
        path.append((field.name, field.alias))
    query: list[tuple[str, str, bool]] = []
    for field in dependant.query_params:
        kind = _plain(field.field_info.annotation)
        if kind is None:
            return None
        query.append((field.name, field.alias, kind == "many"))
    call = dependant.call
    if call is None:
        return None
    target = call.__call__ if not inspect.isroutine(call) else call  # type: ignore[operator]
    generator = inspect.isasyncgenfunction(target)
    if not generator and not inspect.iscoroutinefunction(target):
        return None
    steps.append(
        _Step(
            call=call,
            request_name=dependant.request_param_name,
            path=tuple(path),
            query=tuple(query),
            needs=tuple(needs),
            generator=generator,
        )
    )
    return len(steps) - 1


def _handler(steps: list[_Step]) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    async def handle(request: Request) -> Response:
        values: list[Any] = []
        path_params = request.path_params
        async with AsyncExitStack() as stack:
            for step in steps:
                kwargs: dict[str, Any] = {}
                if step.request_name is not None:
                    kwargs[step.request_name] = request
                for name, alias in step.path:
                    kwargs[name] = path_params[alias]
                if step.query:
                    params = request.query_params
                    for name, alias, many in step.query:
                        if many:
                            kwargs[name] = params.getlist(alias) or None
                        else:
                            kwargs[name] = params.get(alias)
                for name, index in step.needs:
                    kwargs[name] = values[index]
                if step.generator:
                    value = await stack.enter_async_context(
                        asynccontextmanager(step.call)(**kwargs)
                    )
                else:
                    value = await step.call(**kwargs)
                values.append(value)
        response = values[-1]
        if not isinstance(response, Response):
            raise TypeError(f"{steps[-1].call.__name__} must return a Response")
        return response

    return handle


class LeanRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI builds the handler of an included route under a context that holds the
        # route's effective dependant (the including routers' dependencies added).
        context = _effective_route_context_var.get() if _effective_route_context_var else None
        dependant = self.dependant
        if context is not None and getattr(context, "original_route", None) is self:
            dependant = context.dependant
        steps: list[_Step] = []
        if _plan(dependant, steps, {}) is None:
            return super().get_route_handler()
        return _handler(steps)
