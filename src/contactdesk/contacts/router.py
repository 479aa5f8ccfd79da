"""Contacts routes; mounted once per dialect (see dialects.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from contactdesk.auth.caller import Caller
from contactdesk.auth.dependencies import Deleter, Reader, Writer
from contactdesk.body import json_object
from contactdesk.contacts import schemas
from contactdesk.contacts.fields import parse_contact_fields
from contactdesk.contacts.filter_parse import custom_keys, parse_filter
from contactdesk.contacts.list_params import parse_bool_param, parse_list_query
from contactdesk.contacts.queries import contact_document, list_contacts
from contactdesk.contacts.serialize import contact_inbox_json, contact_json
from contactdesk.contacts.service import (
    check_definitions,
    create_contact,
    delete_contact,
    destroy_custom_attributes,
    get_contact,
    parse_attribute_keys,
    parse_create_fields,
    render,
    stored_contact_inboxes,
    update_contact,
    validation_error,
)
from contactdesk.custom_attributes.validation import contact_definitions
from contactdesk.db import ReadConnectionDep, WriteConnectionDep
from contactdesk.errors import InvalidParameter, NotFound
from contactdesk.events import service as events
from contactdesk.inboxes.service import get_inbox
from contactdesk.responses import OrjsonResponse, empty_ok, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(tags=["contacts"], default_response_class=OrjsonResponse, route_class=LeanRoute)

PageParam = Annotated[
    str | None, Query(description="1-based page number (default 1); 15 contacts a page")
]
PageSizeParam = Annotated[str | None, Query(description="Contacts a page, 1-100 (default 15)")]
SortParam = Annotated[
    str | None,
    Query(
        description="email, name, phone_number, last_activity_at, created_at, company "
        "(alias company_name), city, country; a leading - sorts descending. "
        "Default: created_at descending"
    ),
]
DirectionParam = Annotated[
    str | None, Query(description="asc or desc; overrides the - prefix of sort")
]
LabelsParam = Annotated[
    list[str] | None,
    Query(description="Contacts with any of these labels (case-insensitive); a,b also works"),
]
LabelsBracketParam = Annotated[
    list[str] | None, Query(alias="labels[]", description="Same as labels")
]
IncludeParam = Annotated[
    str | None,
    Query(description="true/1 (default) or false/0: include contact_inboxes"),
]
AfterParam = Annotated[
    str | None,
    Query(
        description="EXT: an opaque cursor, meta.next_cursor of the previous page; continues "
        "in the same sort order at a flat cost at any depth. Not combined with page"
    ),
]
SearchParam = Annotated[
    str | None,
    Query(
        description="Case-insensitive substring of name, email, phone_number, identifier or "
        "company; digits also match the id"
    ),
]


@router.get(
    "/contacts",
    summary="List contacts",
    response_model=schemas.ContactList,
    responses=errors(422),
)
async def list_route(
    request: Request,
    caller: Reader,
    conn: ReadConnectionDep,
    page: PageParam = None,
    page_size: PageSizeParam = None,
    sort: SortParam = None,
    direction: DirectionParam = None,
    labels: LabelsParam = None,
    labels_brackets: LabelsBracketParam = None,
    include_contact_inboxes: IncludeParam = None,
    q: SearchParam = None,
    after: AfterParam = None,
) -> Response:
    """List the account's contacts, newest first, with an exact count."""
    query = parse_list_query(request.query_params)
    return _list_response(caller, await list_contacts(conn, caller.account_id, query))


def _list_response(caller: Caller, listed: dict[str, Any]) -> Response:
    if caller.dialect == "v1":  # contract §4.2: the v1 seed's meta carries it
        listed["meta"]["contacts_all"] = None
    return OrjsonResponse(listed)


@router.get(
    "/contacts/search",
    summary="Search contacts",
    response_model=schemas.ContactList,
    responses=errors(422),
)
async def search_route(
    request: Request,
    caller: Reader,
    conn: ReadConnectionDep,
    q: SearchParam = None,
    page: PageParam = None,
    page_size: PageSizeParam = None,
    sort: SortParam = None,
    direction: DirectionParam = None,
    labels: LabelsParam = None,
    labels_brackets: LabelsBracketParam = None,
    include_contact_inboxes: IncludeParam = None,
    after: AfterParam = None,
) -> Response:
    """Search contacts by a substring; q is required."""
    query = parse_list_query(request.query_params)
    if not query.q:
        raise InvalidParameter("Specify search string with parameter q")
    return _list_response(caller, await list_contacts(conn, caller.account_id, query))


# Chatwoot clients may send these in the body of a filter instead of the query string.
_FILTER_BODY_PARAMS = ("page", "page_size", "sort", "direction", "include_contact_inboxes", "after")


@router.post(
    "/contacts/filter",
    summary="Filter contacts",
    response_model=schemas.ContactList,
    responses=errors(400, 422),
    openapi_extra=request_body(schemas.FilterBody),
)
async def filter_route(
    request: Request,
    caller: Reader,
    conn: ReadConnectionDep,
    page: PageParam = None,
    page_size: PageSizeParam = None,
    sort: SortParam = None,
    direction: DirectionParam = None,
    include_contact_inboxes: IncludeParam = None,
    after: AfterParam = None,
) -> Response:
    """Contacts matching conditions joined by AND/OR (AND binds tighter), with an exact count."""
    body = await json_object(request)
    params = list(request.query_params.multi_items())
    for name in _FILTER_BODY_PARAMS:
        value = body.get(name)
        if request.query_params.get(name) is None and isinstance(value, str | int | bool):
            params.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    query = parse_list_query(QueryParams(params))
    query = replace(query, labels=(), q="")  # as in the reference, filters ignore both
    definitions = {}
    if custom_keys(body):
        definitions = await contact_definitions(conn, caller.account_id)
    filter_ = parse_filter(body, definitions, conn.backend)
    return OrjsonResponse(await list_contacts(conn, caller.account_id, query, filter_))


@router.get(
    "/contacts/{contact_id}",
    summary="Show a contact",
    response_model=schemas.ContactShow,
    responses=errors(404, 422),
)
async def show_route(
    request: Request,
    caller: Reader,
    conn: ReadConnectionDep,
    contact_id: str,
    include_contact_inboxes: IncludeParam = None,
) -> Response:
    """One contact of the account."""
    include = parse_bool_param(request.query_params, "include_contact_inboxes", True)
    document = await contact_document(conn, caller.account_id, contact_id, contact_inboxes=include)
    return OrjsonResponse({"payload": document})


@router.post(
    "/contacts",
    summary="Create a contact",
    response_model=schemas.ContactCreated,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.ContactCreateBody),
)
async def create_route(request: Request, caller: Writer, conn: WriteConnectionDep) -> Response:
    """Create a contact, attached to an inbox when inbox_id is given (required in v2)."""
    body = await json_object(request)
    data, inbox_id, source_id, others = parse_create_fields(body, caller.dialect)
    # The inbox first: it comes with the account's definitions_version, which spares reading
    # the definitions (check_definitions). The body's problems still come before a 404.
    inbox, missing = None, None
    if inbox_id is not None:
        try:
            inbox = await get_inbox(conn, caller.account_id, inbox_id)
        except NotFound as error:
            missing = error
    await check_definitions(
        conn, caller.account_id, data, inbox.definitions_version if inbox else None
    )
    data.problems += others
    if data.problems:
        raise await validation_error(conn, caller.account_id, data)
    if missing is not None:
        raise missing
    created = await create_contact(conn, caller.account_id, data, inbox, source_id, "api")
    await conn.commit()
    contact_inboxes = []
    if created.inbox is not None and created.source_id is not None:
        contact_inboxes.append(contact_inbox_json(created.source_id, created.inbox))
    rendered = contact_json(created.contact, contact_inboxes)
    return OrjsonResponse(
        {
            "payload": {
                "contact": rendered,
                "contact_inbox": contact_inboxes[0]
                if contact_inboxes
                else {"inbox": None, "source_id": None},
            }
        }
    )


async def _update(
    request: Request, caller: Writer, conn: WriteConnectionDep, contact_id: str
) -> Response:
    include = parse_bool_param(request.query_params, "include_contact_inboxes", True)
    # The resource is checked before the body: an unknown contact is a 404 whatever was sent.
    # Its contact inboxes are read with it whatever `include` says: the event carries them.
    contact = await get_contact(
        conn, caller.account_id, contact_id, for_update=True, with_contact_inboxes=True
    )
    data = parse_contact_fields(await json_object(request), creating=False)
    inboxes = stored_contact_inboxes(contact)

    def event_of(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
        # The contact after the change, from the values about to be written: the event goes
        # in the UPDATE's own statement.
        before = contact_json(row, inboxes)
        after = {**before, **{k: v for k, v in values.items() if k in before}}
        return events.update_params(caller.account_id, "api", before, after)

    updated = await update_contact(conn, contact, data, event_of)
    after = contact_json(updated, inboxes)
    # The commit right after the UPDATE: its trigger holds the account's counter shard
    # (contacts/counters.py) until then, and other writers of that shard wait for it.
    await conn.commit()
    if not include:
        del after["contact_inboxes"]
    return OrjsonResponse({"payload": after})


@router.post(
    "/contacts/{contact_id}/destroy_custom_attributes",
    summary="Remove custom attributes of a contact",
    response_model=schemas.ContactShow,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.DestroyCustomAttributesBody),
)
async def destroy_custom_attributes_route(
    request: Request, caller: Writer, conn: WriteConnectionDep, contact_id: str
) -> Response:
    """Remove the listed keys from custom_attributes; keys the contact lacks are ignored."""
    contact = await get_contact(
        conn, caller.account_id, contact_id, for_update=True, with_contact_inboxes=True
    )
    keys = parse_attribute_keys(await json_object(request))
    await destroy_custom_attributes(conn, contact, keys)
    before = contact_json(contact, stored_contact_inboxes(contact))
    removed = set(keys)
    kept = {k: v for k, v in before["custom_attributes"].items() if k not in removed}
    await events.record_update(
        conn, caller.account_id, "api", before, {**before, "custom_attributes": kept}
    )
    rendered = await render(conn, contact)
    await conn.commit()
    return OrjsonResponse({"payload": rendered})


_update_doc = {
    "response_model": schemas.ContactShow,
    "responses": errors(400, 404, 422),
    "openapi_extra": request_body(schemas.ContactUpdateBody),
}


@router.patch("/contacts/{contact_id}", summary="Update a contact", **_update_doc)  # type: ignore[arg-type]
async def patch_route(
    request: Request,
    caller: Writer,
    conn: WriteConnectionDep,
    contact_id: str,
    include_contact_inboxes: IncludeParam = None,
) -> Response:
    """Change only the keys sent; custom and additional attributes are merged."""
    return await _update(request, caller, conn, contact_id)


@router.put("/contacts/{contact_id}", summary="Update a contact (PUT)", **_update_doc)  # type: ignore[arg-type]
async def put_route(
    request: Request,
    caller: Writer,
    conn: WriteConnectionDep,
    contact_id: str,
    include_contact_inboxes: IncludeParam = None,
) -> Response:
    """Same as PATCH: a partial update (an SDK updates with PUT)."""
    return await _update(request, caller, conn, contact_id)


@router.delete(
    "/contacts/{contact_id}",
    summary="Delete a contact",
    response_class=Response,
    responses={200: {"description": "Deleted; empty body"}, **errors(404)},
)
async def delete_route(caller: Deleter, conn: WriteConnectionDep, contact_id: str) -> Response:
    """Delete a contact with its contact inboxes and labels (administrators only)."""
    contact = await get_contact(
        conn, caller.account_id, contact_id, for_update=True, with_contact_inboxes=True
    )
    await delete_contact(conn, caller.account_id, contact.id)
    rendered = contact_json(contact, stored_contact_inboxes(contact))
    await events.record(
        conn, events.event_params(caller.account_id, events.DELETED, "api", rendered)
    )
    await conn.commit()
    return empty_ok()
