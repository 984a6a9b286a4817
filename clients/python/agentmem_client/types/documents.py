"""Long-term memory: documents upserted by source_uri, batches, single memories."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from agentmem_client.types.base import Model
from agentmem_client.types.screening import Origin, Screening, WrittenBy


class Document(BaseModel):
    """A document to upsert (documents.batch takes a list of these or of plain dicts)."""

    model_config = ConfigDict(extra="forbid")

    source_uri: str
    text: str
    title: str | None = None
    context: str | None = None
    metadata: dict[str, Any] | None = None
    source_updated_at: datetime | None = None
    refresh_interval_days: float | None = None
    origin: Origin | None = None  # default: the key's role (operator or agent)


class Upserted(Model):
    id: uuid.UUID
    version: int
    status: Literal["created", "updated", "unchanged"]
    chunks: int
    screening: Screening | None = None


class BatchItem(Model):
    index: int
    source_uri: str | None = None
    status: Literal["created", "updated", "unchanged", "error"]
    id: uuid.UUID | None = None
    version: int | None = None
    chunks: int | None = None
    error: str | None = None
    screening: Screening | None = None


class BatchResult(Model):
    results: list[BatchItem]

    @property
    def errors(self) -> list[BatchItem]:
        """The items the server refused, each with its reason: a batch answers 200 even when some fail."""
        return [r for r in self.results if r.status == "error"]


class Chunk(Model):
    id: int
    ord: int
    text: str
    tokens: int
    embedding_model: str
    embedding_model_version: str


class StoredDocument(Model):
    id: uuid.UUID
    source_uri: str
    kind: str
    title: str | None
    metadata: dict[str, Any]
    text: str
    context: str | None
    content_hash: str
    tokens: int
    version: int
    task_id: uuid.UUID | None
    source_updated_at: datetime | None
    ingested_at: datetime
    updated_at: datetime
    last_verified_at: datetime
    refresh_interval_days: float | None = None
    written_by: WrittenBy | None = None
    origin: str
    trust: Literal["untrusted", "verified", "trusted", "quarantined"]
    chunks: list[Chunk]
