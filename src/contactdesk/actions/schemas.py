"""Request and response bodies of the account actions, for the OpenAPI document only."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contactdesk.contacts.schemas import ContactOut


class ContactMergeBody(BaseModel):
    base_contact_id: int | str = Field(description="The contact that stays (an id or digits)")
    mergee_contact_id: int | str = Field(
        description="The contact folded into the base, then deleted"
    )


class BulkLabels(BaseModel):
    add: list[str] | None = Field(
        None, description="Labels to add (case-insensitive union; created when missing)"
    )
    remove: list[str] | None = Field(None, description="Labels to remove (case-insensitive)")


class BulkActionBody(BaseModel):
    """Exactly one of action_name and labels."""

    type: Literal["Contact"]
    ids: list[int | str] = Field(
        min_length=1, max_length=1000, description="Contact ids (integers or strings of digits)"
    )
    action_name: Literal["delete"] | None = Field(
        None, description="delete: needs contacts:delete / administrator"
    )
    labels: BulkLabels | None = Field(None, description="At least one of add and remove")


class BulkResult(BaseModel):
    processed_ids: list[int] = Field(description="Ids acted on, in request order")
    ignored_ids: list[int] = Field(description="Ids not found in the account")


class BulkActionResponse(BaseModel):
    payload: BulkResult


class UpsertedPayload(BaseModel):
    contact: ContactOut
    created: bool


class Upserted(BaseModel):
    payload: UpsertedPayload


class ConflictBody(BaseModel):
    error: str
    conflicting_contact_ids: list[int]
