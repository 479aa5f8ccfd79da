"""Contact inbox routes: attach a contact to an inbox, list where it can be reached, and find
a contact by its source_id (contract §3, §4.6; the rules are in contact_inboxes/service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from contactdesk.auth.dependencies import Reader, Writer
from contactdesk.body import json_object
from contactdesk.contact_inboxes import schemas
from contactdesk.contact_inboxes.service import (
    attach_inbox,
    contactable_inboxes,
    find_by_source,
    parse_filter_body,
    parse_hmac_verified,
)
from contactdesk.contacts.fields import parse_inbox_field, parse_source_field
from contactdesk.contacts.queries import contact_state
from contactdesk.contacts.schemas import ContactInboxOut, ContactOut
from contactdesk.contacts.serialize import contact_inbox_json
from contactdesk.contacts.service import get_contact, render
from contactdesk.db import ReadSessionDep, SessionDep, connection_of
from contactdesk.errors import ValidationFailed
from contactdesk.events import service as events
from contactdesk.inboxes.service import get_inbox
from contactdesk.responses import OrjsonResponse, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(
    tags=["contact inboxes"], default_response_class=OrjsonResponse, route_class=LeanRoute
)


@router.post(
    "/contacts/{contact_id}/contact_inboxes",
    summary="Attach a contact to an inbox",
    response_model=ContactInboxOut,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.ContactInboxBody),
)
async def create_contact_inbox_route(
    request: Request, caller: Writer, session: SessionDep, contact_id: str
) -> Response:
    """Give the contact a source_id in an inbox; attaching a pair it already holds is a no-op.

    Without source_id the channel decides it (a UUID for API and WebWidget, the email for
    Email, the phone for Sms, the phone without + for Whatsapp; 422 when the contact lacks it).
    A source_id another contact holds in the inbox is 422 "Source has already been taken".
    """
    # The resource is checked before the body: an unknown contact is a 404 whatever was sent.
    contact = await get_contact(
        connection_of(session), caller.account_id, contact_id, for_update=True
    )
    body = await json_object(request)
    problems: list[tuple[str, str]] = []
    inbox_id = parse_inbox_field(body, problems)
    source_id = parse_source_field(body, problems)
    hmac_verified = parse_hmac_verified(body, problems)
    if problems or inbox_id is None:
        raise ValidationFailed(problems)
    conn = connection_of(session)
    inbox = await get_inbox(conn, caller.account_id, inbox_id)
    before = await contact_state(conn, caller.account_id, contact.id)
    chosen = await attach_inbox(session, contact, inbox, source_id, hmac_verified=hmac_verified)
    after = await contact_state(conn, caller.account_id, contact.id)
    await events.record_update(conn, caller.account_id, "api", before, after)
    await session.commit()
    return OrjsonResponse(contact_inbox_json(chosen, inbox))


@router.get(
    "/contacts/{contact_id}/contactable_inboxes",
    summary="Inboxes that can reach a contact",
    response_model=schemas.ContactableInboxes,
    responses=errors(404),
)
async def contactable_inboxes_route(
    caller: Reader, session: SessionDep, contact_id: str
) -> Response:
    """Every API inbox; Email with an email; Sms, Whatsapp with a phone; WebWidget if attached.

    Each comes with the source_id it would use (the contact's latest one there, else derived
    from the contact; a fresh UUID for an API inbox it is not in yet). Nothing is stored.
    """
    contact = await get_contact(connection_of(session), caller.account_id, contact_id)
    return OrjsonResponse({"payload": await contactable_inboxes(session, contact)})


@router.post(
    "/contact_inboxes/filter",
    summary="Find a contact by its source_id in an inbox",
    response_model=ContactOut,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.ContactInboxFilterBody),
)
async def filter_contact_inboxes_route(
    request: Request, caller: Reader, session: ReadSessionDep
) -> Response:
    """The contact (a bare object, with contact_inboxes) holding source_id in the inbox."""
    inbox_id, source_id = parse_filter_body(await json_object(request))
    conn = connection_of(session)
    inbox = await get_inbox(conn, caller.account_id, inbox_id)
    contact = await find_by_source(session, caller.account_id, inbox, source_id)
    return OrjsonResponse(await render(conn, contact))
