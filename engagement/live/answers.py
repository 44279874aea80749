"""The JSON answers of the HTTP API's core routes, as models: the handlers build their answers
from them and the OpenAPI document (`engagement.openapi`) describes them from the same models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Every error answer: why, in words (some add fields of their own)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="what is wrong, naming the field or header")


class RejectedItem(BaseModel):
    index: int = Field(ge=0, description="1-based position of the item in the request (0: the whole body)")
    field: str = Field(description="the field at fault, as a dotted path, or `body`")
    reason: str


class IngestAnswer(BaseModel):
    accepted: int = Field(ge=0, description="events taken (new)")
    duplicates: int = Field(ge=0, description="events whose event_id was taken before")
    rejected: int = Field(ge=0)
    rejections: list[RejectedItem]


class IgnoredDelivery(BaseModel):
    index: int = Field(ge=1)
    reason: str = Field(description="why the delivery means nothing to the triggers (a guest checkout, ...)")


class SourceAnswer(IngestAnswer):
    ignored: list[IgnoredDelivery]
    notes: list[str] = Field(description="what the sender may want to know (a currency the shop does not use, ...)")


class Health(BaseModel):
    status: Literal["ok", "failing"]
    reason: str | None = None


class Erased(BaseModel):
    customer_id: str
    erased: dict[str, int] = Field(description="records erased, by where they were kept")


class Resolved(BaseModel):
    customer_id: str
    resolved: bool
