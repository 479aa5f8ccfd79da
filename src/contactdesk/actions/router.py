"""Actions that coordinate several domains: upsert, contact merge and bulk actions; mounted
once per API dialect (dialects.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from contactdesk.actions import schemas
from contactdesk.actions.bulk import parse_bulk_body, run_bulk_action
from contactdesk.actions.merge import merge_contacts, parse_merge_body
from contactdesk.actions.upsert import upsert_contact
from contactdesk.auth.caller import Caller, Permission
from contactdesk.auth.dependencies import Writer, current_caller
from contactdesk.body import json_object
from contactdesk.contacts.queries import contact_state, contact_states
from contactdesk.contacts.schemas import ContactCreateBody, ContactOut
from contactdesk.contacts.service import parse_create_body, render
from contactdesk.db import SessionDep, connection_of
from contactdesk.errors import Forbidden, ValidationFailed
from contactdesk.events import service as events
from contactdesk.labels.service import labels_by_contact
from contactdesk.responses import OrjsonResponse, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(tags=["actions"], default_response_class=OrjsonResponse, route_class=LeanRoute)
# Upsert is documented with the contacts routes, as before it moved here.
upsert_router = APIRouter(
    tags=["contacts"], default_response_class=OrjsonResponse, route_class=LeanRoute
)


async def require_write_or_delete(request: Request) -> Caller:
    """A bulk action needs contacts:write (labels) or contacts:delete (delete), which scopes
    grant independently: a caller with neither is refused before any session opens; the
    body then says which of the two the action needs."""
    caller = current_caller(request)
    if not caller.permissions & {Permission.write, Permission.delete}:
        raise Forbidden()
    return caller


BulkCaller = Annotated[Caller, Depends(require_write_or_delete)]


@upsert_router.post(
    "/contacts/upsert",
    summary="Create or update a contact by identifier, email or phone number",
    response_model=schemas.Upserted,
    responses={
        **errors(400, 404, 422),
        409: {
            "model": schemas.ConflictBody,
            "description": "The keys sent match different contacts",
        },
    },
    openapi_extra=request_body(ContactCreateBody),
)
async def upsert_route(request: Request, caller: Writer, session: SessionDep) -> Response:
    """EXT: update the contact matched by identifier, then email, then phone, or create it.

    Takes the create body (inbox_id required in v2) and attaches the inbox on both paths.
    Keys matching different contacts → 409 with conflicting_contact_ids.
    """
    body = await json_object(request)
    data, inbox_id, source_id = await parse_create_body(
        connection_of(session), body, caller.account_id, caller.dialect
    )
    if data.problems:
        raise ValidationFailed(data.problems)
    contact, created, before = await upsert_contact(
        session, caller.account_id, data, inbox_id, source_id
    )
    conn = connection_of(session)
    rendered = await render(conn, contact)
    after = await contact_state(conn, caller.account_id, contact.id)
    if created:
        await events.record(
            conn, events.event_params(caller.account_id, events.CREATED, "api", after)
        )
    elif before is not None:
        await events.record_update(conn, caller.account_id, "api", before, after)
    await session.commit()
    return OrjsonResponse({"payload": {"contact": rendered, "created": created}})


@router.post(
    "/actions/contact_merge",
    summary="Merge two contacts",
    response_model=ContactOut,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.ContactMergeBody),
)
async def contact_merge_route(request: Request, caller: Writer, session: SessionDep) -> Response:
    """Fold the mergee into the base contact and answer the base, bare, with contact_inboxes."""
    base_id, mergee_id = parse_merge_body(await json_object(request))
    conn = connection_of(session)
    states = await contact_states(conn, caller.account_id, [mergee_id])
    base = await merge_contacts(session, caller.account_id, base_id, mergee_id)
    rendered = await render(conn, base)
    after = await contact_state(conn, caller.account_id, base.id)
    extra = {"merged_contact_id": mergee_id}
    merged = events.event_params(caller.account_id, events.MERGED, "merge", after, extra=extra)
    await events.record(conn, merged)
    if mergee_id in states:
        gone = states[mergee_id]
        await events.record(
            conn, events.event_params(caller.account_id, events.DELETED, "merge", gone)
        )
    await session.commit()
    return OrjsonResponse(rendered)


@router.post(
    "/bulk_actions",
    summary="Delete or label many contacts",
    response_model=schemas.BulkActionResponse,
    responses=errors(400, 422),
    openapi_extra=request_body(schemas.BulkActionBody),
)
async def bulk_actions_route(request: Request, caller: BulkCaller, session: SessionDep) -> Response:
    """Delete contacts (contacts:delete, administrators) or add/remove labels (contacts:write),
    all ids in one transaction."""
    action = parse_bulk_body(await json_object(request))
    caller.require(Permission.delete if action.delete else Permission.write)
    conn = connection_of(session)
    account = caller.account_id
    if action.delete:
        states = await contact_states(conn, account, action.ids)
        processed, ignored = await run_bulk_action(session, account, action)
        for contact_id in processed:
            gone = events.event_params(account, events.DELETED, "bulk", states[contact_id])
            await events.record(conn, gone)
    else:
        before = await labels_by_contact(session, account, action.ids)
        processed, ignored = await run_bulk_action(session, account, action)
        after = await labels_by_contact(session, account, processed)
        changed = [i for i in processed if before.get(i, []) != after.get(i, [])]
        states = await contact_states(conn, account, changed)
        for contact_id in changed:
            state = states[contact_id]
            labels = (before.get(contact_id, []), after.get(contact_id, []))
            await events.record_update(conn, account, "bulk", state, state, labels=labels)
    await session.commit()
    return OrjsonResponse({"payload": {"processed_ids": processed, "ignored_ids": ignored}})
