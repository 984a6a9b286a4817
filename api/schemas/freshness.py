"""Bodies of the freshness routes and settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input
from agentmem.memory.freshness import MAX_REFRESH_DAYS, MIN_REFRESH_DAYS


class FreshnessSettingsIn(Input):
    """PUT /settings/freshness: absent fields take the defaults (memory/freshness.py)."""

    refresh_interval_days: float | None = Field(
        default=None, ge=MIN_REFRESH_DAYS, le=MAX_REFRESH_DAYS,
        description="one minute (1/1440) to 100 years: the range where the formula is defined")
    stale_below: float | None = Field(default=None, ge=0, le=1)
    weight: float | None = Field(default=None, ge=0, le=1, description="ranking weight of freshness; 0 = off")


class FreshnessSettingsOut(BaseModel):
    refresh_interval_days: float
    stale_below: float
    weight: float


class DocumentFreshnessOut(BaseModel):
    document_id: uuid.UUID
    source_uri: str
    kind: str
    score: float
    stale: bool
    last_verified_at: datetime
    source_updated_at: datetime | None
    ingested_at: datetime
    updated_at: datetime
    content_hash: str
    refresh_interval_days: float
    vectors_current: bool
    embedding_models: list[str]


class NamespaceFreshnessOut(BaseModel):
    score: float | None
    documents: int
    stale: int
    settings: FreshnessSettingsOut
    worst: list[DocumentFreshnessOut]
