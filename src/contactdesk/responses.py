"""Shared response helpers and the error responses each route documents."""

from __future__ import annotations

from typing import Any

import orjson
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
        422: {
            "model": ValidationErrorBody | ErrorBody,
            "description": "Invalid body fields ({message, attributes}) or parameters ({error})",
        },
    }
    return {status: described[status] for status in (401, 403, *statuses)}
