"""Reading JSON request bodies with errors a person can act on."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from contactdesk.errors import BadRequest, InvalidParameter

NOT_AN_OBJECT = "Request body must be a JSON object"


def parse_json(raw: bytes) -> Any:
    """Parse raw bytes; a malformed document is a 400 naming what is wrong, line and column."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            json.loads(raw)
        except json.JSONDecodeError as std:
            raise BadRequest(f"Malformed JSON body: {std}") from None
        except UnicodeDecodeError:
            raise BadRequest("Malformed JSON body: the body is not valid UTF-8") from None
        # Valid for Python but not for orjson: numbers out of 64-bit range and the like.
        raise BadRequest(f"Malformed JSON body: {exc}") from None


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as {}."""
    raw = await request.body()
    if not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidParameter(NOT_AN_OBJECT)
    return data
