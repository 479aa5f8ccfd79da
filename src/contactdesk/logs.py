"""Logs: one line per request, one per error with its traceback, JSON by default (issue 13).

* `configure(settings)` sets the process's logging (the service's loggers and uvicorn's) to
  one JSON object a line on stderr (python-json-logger), or plain text with
  `CONTACTDESK_LOG_FORMAT=text`. `serve` hands the same configuration to uvicorn, so every
  worker logs alike.
* `RequestLog`, the outermost middleware, records each request's metrics (contactdesk.metrics)
  and gives every request an id: the client's
  `X-Request-Id` when it is 1-128 characters of letters, digits and `._:-`, else a new one;
  it is returned in `X-Request-Id` on every response. When the response is done it logs
  `request` with: request_id, method, route (the route's template, `/api/v2/accounts/
  contacts/{contact_id}`, never the path itself), status, duration_ms, account_id and
  credential (`key:<id>` or `user:<id>`, the caller the route authenticated). A 401 adds
  the client's IP. Nothing else of the request is logged: no query, body, header, secret,
  token, email or field value.
* An error no handler answered is logged once, as `unhandled error` with the request id and
  the traceback, and answered 500 `{"error": "Internal server error"}` (when the response
  has not started). SQLAlchemy's engines hide bind parameters (contactdesk.db), so no value
  of a statement reaches a traceback.
"""

from __future__ import annotations

import itertools
import logging
import logging.config
import re
import secrets
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactdesk.config import Settings
from contactdesk.metrics import observe_request

log = logging.getLogger("contactdesk.requests")
errors = logging.getLogger("contactdesk.errors")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
INTERNAL_ERROR = orjson.dumps({"error": "Internal server error"})
LOGGERS = ("contactdesk", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")


class _TextExtras(logging.Formatter):
    """Text lines with the request's fields after the message."""

    FIELDS = (
        "request_id", "method", "route", "status", "duration_ms", "account_id", "credential",
        "client_ip",
    )  # fmt: skip

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{name}={getattr(record, name)}" for name in self.FIELDS if hasattr(record, name)
        ]
        return f"{line} {' '.join(extras)}" if extras else line


def logging_config(settings: Settings) -> dict[str, Any]:
    """A logging.config.dictConfig for the service (and for uvicorn's log_config)."""
    level = settings.log_level.upper()
    if settings.log_format == "json":
        formatter: dict[str, Any] = {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {"()": _TextExtras, "fmt": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": ["stderr"], "level": level, "propagate": False} for name in LOGGERS
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def configure(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
    # uvicorn's access log would be a second line a request, with the query string.
    logging.getLogger("uvicorn.access").disabled = True


# A new request id: 16 random hex digits of the process, then a counter (unique across
# processes and machines without a random draw per request).
_PROCESS = secrets.token_hex(8)
_NEXT = itertools.count()


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1").strip()
            if REQUEST_ID.fullmatch(text):
                return text
            break
    return f"{_PROCESS}{next(_NEXT):016x}"


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class RequestLog:
    """ASGI middleware: the request id and the request's log line (module docstring).
    prefixes: the templates of the prefixes routers are included under (the dialects'): a
    matched route knows its path within its router only."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.prefixes = [
            (re.compile(re.sub(r"\{\w+\}", "[^/]+", prefix) + "(?=/)"), prefix)
            for prefix in prefixes
        ]

    def route_of(self, scope: Scope) -> str | None:
        """The template of the route that served the request (None: no route matched)."""
        route = getattr(scope.get("route"), "path", None)
        if route is None:
            return None
        for pattern, prefix in self.prefixes:
            if pattern.match(scope["path"]):
                return prefix + str(route)
        return str(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        response_started = False

        async def logged_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except Exception:
            errors.exception("unhandled error", extra={"request_id": request_id})
            if response_started:
                raise
            status = 500
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(INTERNAL_ERROR)).encode()),
                        id_header,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        finally:
            self._log(scope, state, request_id, status, started)

    def _log(
        self, scope: Scope, state: dict[str, Any], request_id: str, status: int, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        route = self.route_of(scope)
        observe_request(route, scope["method"], status, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        caller = state.get("caller")
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": scope["method"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "account_id": getattr(caller, "account_id", None),
            "credential": getattr(caller, "credential", None),
        }
        if status == 401:
            fields["client_ip"] = _client_ip(scope)
        log.info("request", extra=fields)
