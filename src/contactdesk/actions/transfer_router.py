"""Bulk import and export of contacts (administrators, or the admin scope)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response, StreamingResponse

from contactdesk.actions import schemas
from contactdesk.actions.contact_csv import FileRefused, scan
from contactdesk.actions.export import export_csv
from contactdesk.actions.imports import (
    cancel_import,
    create_import,
    error_rows,
    get_import,
    import_json,
    list_imports,
)
from contactdesk.actions.upload import Busy, LoopSlots, receive_file
from contactdesk.auth.dependencies import Admin
from contactdesk.body import json_object
from contactdesk.contacts.filter_parse import custom_keys, parse_filter
from contactdesk.contacts.list_params import parse_list_query
from contactdesk.custom_attributes.validation import contact_definitions
from contactdesk.db import Database, SessionDep
from contactdesk.errors import AppError
from contactdesk.limits import limits
from contactdesk.responses import OrjsonResponse, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(
    tags=["import and export"], default_response_class=OrjsonResponse, route_class=LeanRoute
)

FIELD = "import_file"
CSV = "text/csv; charset=utf-8"
_EXPORT_SLOTS = LoopSlots(4)


class FileNotImportable(AppError):
    status_code = 422


def _one(row: Any) -> OrjsonResponse:
    return OrjsonResponse({"payload": {"import": import_json(row)}})


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "A CSV file: UTF-8 (with or without a BOM), comma "
                            "or semicolon separated, a header row first.",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/contacts/import",
    summary="Import contacts from a CSV file",
    response_model=schemas.ImportQueued,
    responses={
        **errors(408, 413, 422, 429),
    },
    openapi_extra=_UPLOAD_BODY,
)
async def import_route(request: Request, caller: Admin) -> Response:
    """Queue an import: the file is checked whole (encoding, shape, size) and answered at
    once; its rows are applied in the background (GET /contacts/imports/{id})."""
    bounds = limits()
    db: Database = request.app.state.db
    async with receive_file(
        request, FIELD, bounds.import_max_mb * 1024 * 1024, bounds.import_upload_idle_seconds
    ) as upload:
        try:
            shape = await asyncio.to_thread(scan, upload.file)
        except FileRefused as refused:
            raise FileNotImportable(refused.message) from None
        async with db.writing() as session:
            row = await create_import(
                session, caller.account_id, shape, upload.file, upload.size, upload.filename
            )
            await session.commit()
    runner = getattr(request.app.state, "importer", None)
    if runner is not None:
        runner.wake()
    return OrjsonResponse(
        {"payload": {"import_id": row.id, "status": row.status, "import": import_json(row)}}
    )


@router.get(
    "/contacts/imports",
    summary="List imports",
    response_model=schemas.ImportList,
    responses=errors(),
)
async def imports_route(caller: Admin, session: SessionDep) -> Response:
    """The account's 100 most recent imports, newest first."""
    rows = await list_imports(session, caller.account_id)
    return OrjsonResponse({"payload": {"imports": [import_json(r) for r in rows]}})


@router.get(
    "/contacts/imports/{import_id}",
    summary="Show an import",
    response_model=schemas.ImportShow,
    responses=errors(404),
)
async def import_show_route(caller: Admin, session: SessionDep, import_id: str) -> Response:
    """Status and counts: rows read, created, updated, unchanged, failed."""
    return _one(await get_import(session, caller.account_id, import_id))


@router.post(
    "/contacts/imports/{import_id}/cancel",
    summary="Cancel an import",
    response_model=schemas.ImportShow,
    responses=errors(404),
)
async def import_cancel_route(caller: Admin, session: SessionDep, import_id: str) -> Response:
    """Stop a queued or running import; the batches it committed stay."""
    row = await cancel_import(session, caller.account_id, import_id)
    await session.commit()
    return _one(row)


@router.get(
    "/contacts/imports/{import_id}/errors.csv",
    summary="An import's refused rows",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV"}, **errors(404)},
)
async def import_errors_route(request: Request, caller: Admin, import_id: str) -> Response:
    """Each refused row as it was sent, after its line number and the reason."""
    db: Database = request.app.state.db
    async with db.reader() as session:
        row = await get_import(session, caller.account_id, import_id)

    async def body() -> AsyncIterator[bytes]:
        async with db.reader() as session:
            async for text in error_rows(session, caller.account_id, row):
                yield text.encode()

    return StreamingResponse(
        body(),
        media_type=CSV,
        headers={"content-disposition": f'attachment; filename="import-{row.id}-errors.csv"'},
    )


def _stream(request: Request, account_id: int, query: Any, filter_: Any = None) -> Response:
    slot = _EXPORT_SLOTS.get()
    if slot.locked():
        raise Busy("Too many exports at once on this server: retry in a few seconds")
    db: Database = request.app.state.db

    async def body() -> AsyncIterator[bytes]:
        async with slot:
            async for chunk in export_csv(db, account_id, query, filter_):
                yield chunk

    return StreamingResponse(
        body(),
        media_type=CSV,
        headers={"content-disposition": 'attachment; filename="contacts.csv"'},
    )


@router.get(
    "/contacts/export.csv",
    summary="Export contacts as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV"}, **errors(422, 429)},
)
async def export_route(
    request: Request,
    caller: Admin,
    q: Annotated[str | None, Query(description="Search term, as GET /contacts/search")] = None,
    labels: Annotated[str | None, Query(description="Label names, as GET /contacts")] = None,
    sort: Annotated[str | None, Query(description="Sort key, as GET /contacts")] = None,
) -> Response:
    """Every contact the list's parameters select, with the import's columns (an export
    imports back unchanged); streamed."""
    query = parse_list_query(_export_params(request.query_params))
    return _stream(request, caller.account_id, query)


def _export_params(params: QueryParams) -> QueryParams:
    # Paging is the export's own.
    return QueryParams(
        [(k, v) for k, v in params.multi_items() if k not in ("page", "page_size", "after")]
    )


@router.post(
    "/contacts/export",
    summary="Export filtered contacts as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV"},
        **errors(400, 422, 429),
    },
    openapi_extra=request_body(schemas.ExportFilterBody),
)
async def export_filter_route(
    request: Request,
    caller: Admin,
    sort: Annotated[str | None, Query(description="Sort key, as POST /contacts/filter")] = None,
) -> Response:
    """The contacts a filter payload (as POST /contacts/filter) selects, as GET
    /contacts/export.csv writes them."""
    body = await json_object(request)
    query = parse_list_query(_export_params(request.query_params))
    query = replace(query, labels=(), q="")
    definitions = {}
    if body.get("payload") is None:  # Chatwoot's export without conditions: every contact
        return _stream(request, caller.account_id, query)
    db: Database = request.app.state.db
    async with db.reads.connection() as conn:
        if custom_keys(body):
            definitions = await contact_definitions(conn, caller.account_id)
        filter_ = parse_filter(body, definitions, conn.backend)
    return _stream(request, caller.account_id, query, filter_)
