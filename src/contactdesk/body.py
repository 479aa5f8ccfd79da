"""Reading JSON request bodies with errors a person can act on."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from contactdesk.errors import BadRequest, InvalidParameter
from contactdesk.limits import limits

NOT_AN_OBJECT = "Request body must be a JSON object"


def parse_json(raw: bytes) -> Any:
    """Parse raw bytes; a malformed document is a 400 naming what is wrong, line and column,
    and so is one nested deeper than limits().max_json_depth."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as std:
            raise BadRequest(f"Malformed JSON body: {std}") from None
        except UnicodeDecodeError:
            raise BadRequest("Malformed JSON body: the body is not valid UTF-8") from None
        except RecursionError:  # deeper than Python parses (orjson stops at 1024 levels)
            raise _too_deep() from None
        except ValueError as too_long:  # an integer of more than 4300 digits
            raise BadRequest(f"Malformed JSON body: {too_long}") from None
        # Valid for Python but not for orjson: deeper than 1024 levels, numbers out of 64-bit
        # range and the like.
        _check_depth(data, raw)
        raise BadRequest(f"Malformed JSON body: {exc}") from None
    _check_depth(data, raw)
    return data


def _too_deep() -> BadRequest:
    return BadRequest(
        f"Malformed JSON body: nested too deeply (the limit is {limits().max_json_depth} levels)"
    )


def _check_depth(data: Any, raw: bytes) -> None:
    """Refuse a document with objects and arrays nested deeper than the limit.

    A document cannot nest deeper than it has opening brackets: counting them (in C) clears an
    ordinary body at once. Otherwise the parsed document is walked a level at a time, without
    recursion, and the walk stops at the first level past the limit."""
    most = limits().max_json_depth
    if raw.count(b"[") + raw.count(b"{") <= most:
        return
    level = [data] if type(data) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > most:
            raise _too_deep()
        below: list[Any] = []
        for node in level:
            items = node.values() if type(node) is dict else node
            if not _CONTAINERS.isdisjoint(map(type, items)):  # the types are taken in C
                below.extend(item for item in items if type(item) in _CONTAINERS)
        level = below


_CONTAINERS = frozenset({dict, list})


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as {}."""
    raw = await request.body()
    if not raw.strip():
        return {}
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise InvalidParameter(NOT_AN_OBJECT)
    return data
