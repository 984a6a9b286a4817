"""Bodies of the long-term memory routes: documents, batches, memories."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from agentmem.api.schemas.screening import ScreeningOut
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentmem.api.schemas.base import Input, Origin, Text, Timestamp, WrittenBy, unstorable
from agentmem.memory.freshness import MAX_REFRESH_DAYS, MIN_REFRESH_DAYS


class DocumentIn(Input):
    source_uri: Annotated[Text, Field(max_length=2000)]
    text: Text
    title: str | None = Field(default=None, max_length=2000)
    context: str | None = Field(
        default=None,
        description="Indexed with every chunk (embedding and keywords), after the title, but never shown:"
                    " e.g. the preceding turn."
                    " At most AGENTMEM_MAX_CONTEXT_CHARS characters.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="At most AGENTMEM_MAX_METADATA_BYTES as JSON and"
                                          " AGENTMEM_MAX_METADATA_DEPTH levels deep; filterable in /search.")
    source_updated_at: Timestamp | None = None
    refresh_interval_days: float | None = Field(
        default=None, ge=MIN_REFRESH_DAYS, le=MAX_REFRESH_DAYS,
        description="How often this document's source should be re-checked; default: the namespace's.",
    )
    origin: Origin | None = Field(
        default=None, description="Who this content comes from: operator, agent, tool, web or user. Default: the"
                                  " key's role (operator or agent); only an operator key may declare operator.")



class UpsertOut(BaseModel):
    id: uuid.UUID
    version: int
    status: Literal["created", "updated", "unchanged"]
    chunks: int
    screening: ScreeningOut | None = None


class BatchIn(BaseModel):
    """Not an Input: each document is checked on its own (as a DocumentIn), so one bad item fails alone."""

    model_config = ConfigDict(extra="forbid")

    documents: list[Any]

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_outside_items(cls, data: Any) -> Any:
        problem = unstorable({k: v for k, v in data.items() if k != "documents"}) if isinstance(data, dict) else None
        if problem:
            raise ValueError(problem)
        return data


class BatchItemOut(BaseModel):
    index: int
    source_uri: str | None = None
    status: Literal["created", "updated", "unchanged", "error"]
    id: uuid.UUID | None = None
    version: int | None = None
    chunks: int | None = None
    error: str | None = None
    screening: ScreeningOut | None = None


class BatchOut(BaseModel):
    results: list[BatchItemOut]


class MemoryIn(Input):
    text: Text
    kind: Literal["summary", "fact", "preference"]
    source: str | None = Field(default=None, max_length=2000)
    origin: Origin | None = Field(
        default=None, description="Who this content comes from: operator, agent, tool, web or user. Default: the"
                                  " key's role (operator or agent); only an operator key may declare operator.")



class ChunkOut(BaseModel):
    id: int
    ord: int
    text: str
    tokens: int
    embedding_model: str
    embedding_model_version: str


class DocumentOut(BaseModel):
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
    chunks: list[ChunkOut]
