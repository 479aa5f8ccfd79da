"""Custom attribute definitions; bare objects and arrays, as the reference answers them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from contactdesk.auth.dependencies import Admin, Reader
from contactdesk.body import json_object
from contactdesk.custom_attributes import schemas
from contactdesk.custom_attributes.service import (
    CONTACT_MODELS,
    CONVERSATION_MODELS,
    create_definition,
    definition_json,
    delete_definition,
    get_definition,
    list_definitions,
    update_definition,
)
from contactdesk.db import SessionDep
from contactdesk.errors import InvalidParameter
from contactdesk.responses import OrjsonResponse, empty_ok, errors, request_body
from contactdesk.routing import LeanRoute

router = APIRouter(
    tags=["custom attributes"], default_response_class=OrjsonResponse, route_class=LeanRoute
)

ModelParam = Annotated[
    str | None,
    Query(
        description="contact_attribute or 1 (the default); conversation_attribute or 0 "
        "answers [] (only contact attributes are kept)"
    ),
]
PATH = "/custom_attribute_definitions"


@router.get(
    PATH,
    summary="List custom attribute definitions",
    response_model=list[schemas.DefinitionOut],
    responses=errors(422),
)
async def list_route(
    request: Request, caller: Reader, session: SessionDep, attribute_model: ModelParam = None
) -> Response:
    """The account's contact attribute definitions, oldest first, as a bare array."""
    model = request.query_params.get("attribute_model", "")
    if model in CONVERSATION_MODELS:
        return OrjsonResponse([])
    if model and model not in CONTACT_MODELS:
        raise InvalidParameter(
            "attribute_model must be contact_attribute (1) or conversation_attribute (0)"
        )
    definitions = await list_definitions(session, caller.account_id)
    return OrjsonResponse([definition_json(d) for d in definitions])


@router.post(
    PATH,
    summary="Create a custom attribute definition",
    response_model=schemas.DefinitionOut,
    responses=errors(400, 422),
    openapi_extra=request_body(schemas.DefinitionCreateBody),
)
async def create_route(request: Request, caller: Admin, session: SessionDep) -> Response:
    """Define a typed contact attribute key (administrators only)."""
    body = await json_object(request)
    definition = await create_definition(session, caller.account_id, body)
    rendered = definition_json(definition)
    await session.commit()
    return OrjsonResponse(rendered)


@router.get(
    PATH + "/{definition_id}",
    summary="Show a custom attribute definition",
    response_model=schemas.DefinitionOut,
    responses=errors(404),
)
async def show_route(caller: Reader, session: SessionDep, definition_id: str) -> Response:
    """One definition of the account."""
    definition = await get_definition(session, caller.account_id, definition_id)
    return OrjsonResponse(definition_json(definition))


@router.patch(
    PATH + "/{definition_id}",
    summary="Update a custom attribute definition",
    response_model=schemas.DefinitionOut,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.DefinitionUpdateBody),
)
async def update_route(
    request: Request, caller: Admin, session: SessionDep, definition_id: str
) -> Response:
    """Change the keys sent; the result must be a valid definition as a whole."""
    # The resource is checked before the body: an unknown definition is a 404 whatever was sent.
    definition = await get_definition(session, caller.account_id, definition_id, for_update=True)
    body = await json_object(request)
    definition = await update_definition(session, definition, body)
    rendered = definition_json(definition)
    await session.commit()
    return OrjsonResponse(rendered)


@router.delete(
    PATH + "/{definition_id}",
    summary="Delete a custom attribute definition",
    response_class=Response,
    responses={200: {"description": "Deleted; empty body"}, **errors(404)},
)
async def delete_route(caller: Admin, session: SessionDep, definition_id: str) -> Response:
    """Remove a definition; contacts keep their values, now free-form (administrators only)."""
    await delete_definition(session, caller.account_id, definition_id)
    await session.commit()
    return empty_ok()
