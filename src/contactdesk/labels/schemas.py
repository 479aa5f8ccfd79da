"""Label bodies, for the OpenAPI document (the route parses the body itself)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LabelList(BaseModel):
    payload: list[str]


class LabelsBody(BaseModel):
    labels: list[str] = Field(
        description="Replaces the contact's labels; [] clears them. At most 100 distinct "
        "labels (CONTACTDESK_MAX_LABELS), the most a contact may hold"
    )
