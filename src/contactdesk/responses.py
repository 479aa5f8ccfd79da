"""Shared response helpers and the error responses each route documents."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from contactdesk.errors import ErrorBody, ValidationErrorBody


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def empty_ok() -> Response:
    return Response(status_code=200, content=b"")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described: dict[int, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "Malformed JSON body"},
        401: {
            "model": ErrorBody,
            "description": "Missing or invalid credentials, or not a member of the account",
        },
        403: {"model": ErrorBody, "description": "The caller lacks the role or key scope"},
        404: {"model": ErrorBody, "description": "Not found in the caller's account"},
        408: {"model": ErrorBody, "description": "The request body stalled"},
        413: {"model": ErrorBody, "description": "The request body is over its limit"},
        422: {
            "model": ValidationErrorBody | ErrorBody,
            "description": "Invalid body fields ({message, attributes}) or parameters ({error})",
        },
        429: {"model": ErrorBody, "description": "Too many at once: retry later"},
    }
    return {status: described[status] for status in (401, 403, *statuses)}


# The schemas request bodies refer to (a body model's nested models), for the document's
# components (app.py adds them): a body's own "$defs" cannot be resolved from the document.
BODY_SCHEMAS: dict[str, Any] = {}


def request_body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """openapi_extra for a route that parses its own JSON body: the body's schema, its nested
    models referred to in #/components/schemas."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    BODY_SCHEMAS.update(schema.pop("$defs", {}))
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }
