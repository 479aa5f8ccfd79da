"""Account actions: contact merge and bulk actions; mounted once per dialect (dialects.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from contactdesk.actions import schemas
from contactdesk.actions.bulk import parse_bulk_body, run_bulk_action
from contactdesk.actions.merge import merge_contacts, parse_merge_body
from contactdesk.auth import Permission, SessionDep, Writer
from contactdesk.body import json_object
from contactdesk.contacts.schemas import ContactOut, request_body
from contactdesk.contacts.service import render
from contactdesk.responses import OrjsonResponse, errors

router = APIRouter(tags=["actions"], default_response_class=OrjsonResponse)


@router.post(
    "/actions/contact_merge",
    summary="Merge two contacts",
    response_model=ContactOut,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.ContactMergeBody),
)
async def contact_merge_route(request: Request, session: SessionDep, caller: Writer) -> Response:
    """Fold the mergee into the base contact and answer the base, bare, with contact_inboxes."""
    base_id, mergee_id = parse_merge_body(await json_object(request))
    base = await merge_contacts(session, caller.account_id, base_id, mergee_id)
    rendered = await render(session, base)
    await session.commit()
    return OrjsonResponse(rendered)


@router.post(
    "/bulk_actions",
    summary="Delete or label many contacts",
    response_model=schemas.BulkActionResponse,
    responses=errors(400, 422),
    openapi_extra=request_body(schemas.BulkActionBody),
)
async def bulk_actions_route(request: Request, session: SessionDep, caller: Writer) -> Response:
    """Delete contacts (administrators) or add/remove labels, all ids in one transaction."""
    action = parse_bulk_body(await json_object(request))
    if action.delete:
        caller.require(Permission.delete)
    processed, ignored = await run_bulk_action(session, caller.account_id, action)
    await session.commit()
    return OrjsonResponse({"payload": {"processed_ids": processed, "ignored_ids": ignored}})
