"""One exception tree; one handler renders each error as the contract's JSON body."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

NOT_FOUND_MESSAGE = "Resource could not be found"


class AppError(Exception):
    """An error a client caused or may see; rendered as JSON, never as a 500."""

    status_code = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403

    def __init__(self, message: str = "You are not authorized to do this action") -> None:
        super().__init__(message)


class NotFound(AppError):
    status_code = 404

    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


class InvalidParameter(AppError):
    """A query parameter or a body that is not a field-level problem: {"error": ...}."""

    status_code = 422


class ValidationFailed(AppError):
    """Problems with body fields: {"message": "a, b", "attributes": ["x", "y"]}."""

    status_code = 422

    def __init__(
        self, problems: list[tuple[str, str]], *, extra: dict[str, Any] | None = None
    ) -> None:
        self.problems = problems
        self.extra = extra or {}
        super().__init__(", ".join(message for _, message in problems))

    def body(self) -> dict[str, Any]:
        attributes: list[str] = []
        for attribute, _ in self.problems:
            if attribute not in attributes:
                attributes.append(attribute)
        return {"message": self.message, "attributes": attributes, **self.extra}


# Response bodies, for the OpenAPI document.
class ErrorBody(BaseModel):
    error: str


class ValidationErrorBody(BaseModel):
    message: str
    attributes: list[str]
    conflicting_contact_id: int | None = None


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head"})


def json_response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=orjson.dumps(body),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def _app_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return json_response(exc.status_code, exc.body(), exc.headers)


def allowed_methods(request: Request) -> str | None:
    """The methods the request's path answers (from the OpenAPI document, whose paths are
    every route's template), as an Allow header; None when no route has the path."""
    app = request.app
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in app.openapi()["paths"].items():
            pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            methods = {m.upper() for m in operations if m in HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((pattern, methods))
        app.state.allow_table = table
    found: set[str] = set()
    for pattern, methods in table:
        if pattern.match(request.url.path):
            found |= methods
    if not found:
        return None
    return ", ".join(sorted(found | {"OPTIONS"}))


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return json_response(404, {"error": NOT_FOUND_MESSAGE})
    if exc.status_code == 405:
        allow = allowed_methods(request)
        headers = dict(exc.headers or {})
        if allow is not None:
            headers["Allow"] = allow
            if request.method == "OPTIONS":
                # What the path answers, for a client that asks (no body).
                return Response(status_code=204, headers=headers)
        return json_response(405, {"error": "Method not allowed"}, headers)
    return json_response(exc.status_code, {"error": str(exc.detail)}, dict(exc.headers or {}))


async def _request_validation_handler(_request: Request, exc: Exception) -> Response:
    # Routes parse their own input; this only catches what FastAPI checks itself.
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body"))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else "Invalid request"
    return json_response(422, {"error": message})


async def _unexpected_error_handler(_request: Request, _exc: Exception) -> Response:
    return json_response(500, {"error": "Internal server error"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)
