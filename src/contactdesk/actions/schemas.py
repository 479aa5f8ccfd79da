"""Request and response bodies of the account actions, for the OpenAPI document only."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contactdesk.contacts.schemas import ContactOut, FilterCondition


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


class ImportOut(BaseModel):
    id: int
    account_id: int
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    filename: str | None
    file_bytes: int
    total_rows: int = Field(description="Data rows in the file")
    rows_read: int = Field(description="Rows applied so far (committed)")
    created: int
    updated: int
    unchanged: int
    failed: int = Field(description="Rows refused (GET .../errors.csv lists them)")
    duplicates_in_file: int = Field(
        description="Rows that named a contact an earlier row of the file had named (the "
        "later row updates it)"
    )
    unknown_columns: list[str] = Field(description="Header cells that name no column (ignored)")
    error: str | None = Field(description="Why a failed import stopped")
    created_at: int
    started_at: int | None
    finished_at: int | None
    rows_per_second: float | None


class ImportQueuedPayload(BaseModel):
    import_id: int
    status: Literal["queued"]
    # "import" is a Python keyword: the key is set by alias.
    import_: ImportOut = Field(alias="import")


class ImportQueued(BaseModel):
    payload: ImportQueuedPayload


class ImportShowPayload(BaseModel):
    import_: ImportOut = Field(alias="import")


class ImportShow(BaseModel):
    payload: ImportShowPayload


class ImportListPayload(BaseModel):
    imports: list[ImportOut]


class ImportList(BaseModel):
    payload: ImportListPayload


class ExportFilterBody(BaseModel):
    payload: list[FilterCondition] | None = Field(
        None,
        description="Filter conditions as POST /contacts/filter takes them; absent: every contact",
    )
