"""A contact's labels."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from contactdesk.auth.dependencies import Reader, Writer
from contactdesk.body import json_object
from contactdesk.contacts.queries import contact_state
from contactdesk.contacts.service import get_contact
from contactdesk.db import SessionDep, connection_of
from contactdesk.events import service as events
from contactdesk.labels import schemas
from contactdesk.labels.service import labels_of, parse_labels_body, replace_labels
from contactdesk.responses import OrjsonResponse, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(tags=["labels"], default_response_class=OrjsonResponse, route_class=LeanRoute)


@router.get(
    "/contacts/{contact_id}/labels",
    summary="List a contact's labels",
    response_model=schemas.LabelList,
    responses=errors(404),
)
async def list_labels_route(caller: Reader, session: SessionDep, contact_id: str) -> Response:
    """The contact's labels, sorted case-insensitively."""
    contact = await get_contact(connection_of(session), caller.account_id, contact_id)
    return OrjsonResponse({"payload": await labels_of(session, caller.account_id, contact.id)})


@router.post(
    "/contacts/{contact_id}/labels",
    summary="Replace a contact's labels",
    response_model=schemas.LabelList,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.LabelsBody),
)
async def set_labels_route(
    request: Request, caller: Writer, session: SessionDep, contact_id: str
) -> Response:
    """Replace the whole label set; [] clears it."""
    contact = await get_contact(
        connection_of(session), caller.account_id, contact_id, for_update=True
    )
    names = parse_labels_body(await json_object(request))
    before = await labels_of(session, caller.account_id, contact.id)
    result = await replace_labels(session, caller.account_id, contact.id, names)
    if before != result:
        conn = connection_of(session)
        state = await contact_state(conn, caller.account_id, contact.id)
        await events.record_update(
            conn, caller.account_id, "api", state, state, labels=(before, result)
        )
    await session.commit()
    return OrjsonResponse({"payload": result})
