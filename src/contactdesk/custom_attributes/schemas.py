"""Custom attribute definition bodies, for the OpenAPI document (routes parse bodies themselves)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DisplayType = Literal["text", "number", "currency", "percent", "link", "date", "list", "checkbox"]


class DefinitionOut(BaseModel):
    id: int
    attribute_display_name: str
    attribute_display_type: DisplayType
    attribute_description: str | None
    attribute_key: str
    regex_pattern: str | None = Field(description="Whole-value pattern (text only)")
    regex_cue: str | None = Field(description="Shown when a value does not match (text only)")
    attribute_values: list[str] = Field(description="The choices of a list attribute, else []")
    attribute_model: Literal["contact_attribute"]
    default_value: Any
    created_at: str = Field(description="ISO 8601, UTC", examples=["2026-11-21T10:00:00Z"])
    updated_at: str = Field(description="ISO 8601, UTC", examples=["2026-11-21T10:00:00Z"])


class DefinitionUpdateBody(BaseModel):
    """Every key is optional; only the keys sent change. Unknown keys are ignored."""

    model_config = ConfigDict(extra="allow")

    attribute_display_name: str | None = Field(None, min_length=1, max_length=255)
    attribute_key: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="ASCII letters, digits, _ and -; unique in the account; not a standard "
        "filter key (name, phone_number, email, identifier, country_code, city, company, "
        "labels, created_at, last_activity_at, blocked)",
    )
    attribute_display_type: DisplayType | int | None = Field(
        None,
        description="A name, or text 0, number 1, currency 2, percent 3, link 4, date 5, "
        "list 6, checkbox 7. Default text",
    )
    attribute_description: str | None = Field(None, max_length=4096)
    attribute_values: list[str] | None = Field(
        None, description="Required (non-empty) for list; stored as [] for other types"
    )
    regex_pattern: str | None = Field(
        None, max_length=255, description="A Python regex the whole value must match (text only)"
    )
    regex_cue: str | None = Field(None, max_length=255, description="Text only")
    attribute_model: Literal["contact_attribute", 1, "1"] | None = Field(
        None, description="Only contact attributes are kept (conversation_attribute is a 422)"
    )
    default_value: Any = Field(None, description="Any JSON value (at most 16 KB)")


class DefinitionCreateBody(DefinitionUpdateBody):
    attribute_display_name: str = Field(min_length=1, max_length=255)
    attribute_key: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$")
