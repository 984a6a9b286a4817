"""Bodies of the embedding-model settings and of jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input, Text


class EmbeddingModelOut(BaseModel):
    name: str
    version: str
    dimension: int


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class MigrationOut(BaseModel):
    """How far the namespace's migration to its target model is: vectors written / to write."""

    chunks: int
    chunks_embedded: int
    entries: int
    entries_embedded: int
    job: JobOut | None


class EmbeddingSettingsOut(BaseModel):
    active: EmbeddingModelOut
    target: EmbeddingModelOut | None
    migration: MigrationOut | None
    available: list[str]


class EmbeddingSettingsIn(Input):
    model: Annotated[Text, Field(max_length=200, description="A model name from GET /settings/embedding 'available'")]


class EmbeddingChangeOut(BaseModel):
    status: Literal["started", "migrating", "unchanged", "cancelled"]
    active: EmbeddingModelOut
    target: EmbeddingModelOut | None
    job: JobOut | None
