"""Inboxes of the account."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from contactdesk.auth.dependencies import Reader
from contactdesk.db import SessionDep
from contactdesk.inboxes import schemas
from contactdesk.inboxes.serialize import inbox_json
from contactdesk.inboxes.service import list_inboxes
from contactdesk.responses import OrjsonResponse, errors
from contactdesk.routing import LeanRoute

router = APIRouter(tags=["inboxes"], default_response_class=OrjsonResponse, route_class=LeanRoute)


@router.get(
    "/inboxes", summary="List inboxes", response_model=schemas.InboxList, responses=errors()
)
async def list_inboxes_route(caller: Reader, session: SessionDep) -> Response:
    """The account's inboxes (channels)."""
    inboxes = await list_inboxes(session, caller.account_id)
    return OrjsonResponse({"payload": [inbox_json(inbox) for inbox in inboxes]})
