"""Request and response bodies: Pydantic lives here, at the edge, and nowhere in the core."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

NUL = "\x00"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable_text(value: str, where: str) -> str | None:
    if NUL in value:
        return f"{where} contains a NUL character (\\u0000), which cannot be stored; remove it and retry"
    if _SURROGATE.search(value):
        return f"{where} contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode; send valid UTF-8"
    return None


def unstorable(value: Any, path: str = "body") -> str | None:
    """What in this parsed JSON PostgreSQL cannot store (NUL, lone surrogates, NaN/Infinity), naming where."""
    if isinstance(value, str):
        return _unstorable_text(value, path)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} is {value}, which JSON cannot store; send a finite number or a string"
    if isinstance(value, dict):
        for k, v in value.items():
            found = (isinstance(k, str) and _unstorable_text(k, f"{path}.{k!r}")) or unstorable(v, f"{path}.{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = unstorable(v, f"{path}[{i}]")
            if found:
                return found
    return None


class Input(BaseModel):
    """Every request body: unknown fields refused, and what PostgreSQL cannot store refused, never stripped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable(cls, data: Any) -> Any:
        problem = unstorable(data)
        if problem:
            raise ValueError(problem)
        return data


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be empty or only whitespace")
    return v


def _utc(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=timezone.utc)  # a naive timestamp is taken as UTC
    return v


Text = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]
Timestamp = Annotated[datetime, AfterValidator(_utc)]


# --- admin -------------------------------------------------------------------------------------

class NamespaceIn(Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class NamespaceOut(BaseModel):
    name: str
    created_at: datetime


class KeyIn(Input):
    label: Annotated[Text, Field(max_length=200)]


class KeyOut(BaseModel):
    id: uuid.UUID
    key: str
    label: str
    namespace: str


class Receipt(BaseModel):
    id: str
    deleted: dict[str, int]


# --- tasks -------------------------------------------------------------------------------------

class PinnedItem(Input):
    label: Annotated[Text, Field(max_length=200)]
    text: Text



def _constraints_not_blank(v: list[str]) -> list[str]:
    for i, c in enumerate(v):
        if not c.strip():
            raise ValueError(f"constraint {i} is empty or only whitespace; remove it or write it out")
    return v


Constraints = Annotated[list[str], AfterValidator(_constraints_not_blank)]


class TaskIn(Input):
    goal: Text
    constraints: Constraints = Field(default_factory=list)
    pinned: list[PinnedItem] = Field(default_factory=list)


class TaskPatch(Input):
    goal: Text | None = None
    constraints: Constraints | None = None
    pinned: list[PinnedItem] | None = None

    @model_validator(mode="after")
    def _something(self) -> "TaskPatch":
        if self.goal is None and self.constraints is None and self.pinned is None:
            raise ValueError("nothing to change: give at least one of goal, constraints, pinned")
        return self


class TaskOut(BaseModel):
    id: uuid.UUID
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    pinned_tokens: int
    version: int
    status: str
    outcome: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskVersionOut(BaseModel):
    version: int
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    created_at: datetime


class CompleteIn(Input):
    summary: Text | None = None
    outcome: str | None = Field(default=None, max_length=10_000)


class CompleteOut(BaseModel):
    task: TaskOut
    summary_document_id: uuid.UUID
    summary: str


# --- scratchpad --------------------------------------------------------------------------------

class CitationIn(Input):
    source: Annotated[Text, Field(max_length=2000)]
    locator: str | None = Field(default=None, max_length=2000)
    retrieved_at: Timestamp | None = None
    quote: str | None = Field(default=None, max_length=20_000)



class EntryIn(Input):
    content: Text
    kind: Literal["fact", "result", "note"]
    citations: list[CitationIn] = Field(default_factory=list)
    unsourced: bool = False
    step: int | None = Field(default=None, ge=0, le=2**31 - 1)
    summary: Text | None = None



class EntryOut(BaseModel):
    id: uuid.UUID
    seq: int
    task_id: uuid.UUID
    kind: str
    content: str
    summary: str | None
    step: int | None
    citations: list[dict[str, Any]]
    unsourced: bool
    content_hash: str
    tokens: int
    summary_tokens: int | None
    created_at: datetime


# --- long-term memory --------------------------------------------------------------------------

class DocumentIn(Input):
    source_uri: Annotated[Text, Field(max_length=2000)]
    text: Text
    title: str | None = Field(default=None, max_length=2000)
    context: str | None = Field(
        default=None, max_length=20_000,
        description="Indexed with every chunk (embedding and keywords) but never shown: e.g. the preceding turn.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_updated_at: Timestamp | None = None
    refresh_interval_days: float | None = Field(
        default=None, gt=0, le=36_500,
        description="How often this document's source should be re-checked; default: the namespace's.",
    )



class UpsertOut(BaseModel):
    id: uuid.UUID
    version: int
    status: Literal["created", "updated", "unchanged"]
    chunks: int


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


class BatchOut(BaseModel):
    results: list[BatchItemOut]


class MemoryIn(Input):
    text: Text
    kind: Literal["summary", "fact", "preference"]
    source: str | None = Field(default=None, max_length=2000)



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
    chunks: list[ChunkOut]


# --- retrieval ---------------------------------------------------------------------------------

class TimeRange(Input):
    gte: Timestamp | None = None
    lt: Timestamp | None = None


class FiltersIn(Input):
    kind: list[Literal["document", "summary", "fact", "preference"]] | None = None
    metadata: dict[str, Any] | None = None
    source_updated_at: TimeRange | None = None


class WeightsIn(Input):
    vector: float | None = Field(default=None, ge=0, le=100)
    keyword: float | None = Field(default=None, ge=0, le=100)


StrategyName = Literal["hybrid_rrf", "hybrid_zscore", "vector_only", "keyword_only"]


class RetrievalDefaults(Input):
    """Per-namespace (PUT /settings/retrieval) or per-request retrieval choices."""

    strategy: StrategyName | None = None
    rrf_k: float | None = Field(default=None, ge=0, le=10_000)
    weights: WeightsIn | None = None
    candidates: int | None = Field(default=None, ge=1, le=500)


class SearchIn(Input):
    query: Annotated[Text, Field(max_length=10_000)]
    k: int = Field(default=10, ge=1, le=200)
    mode: Literal["hybrid", "vector", "keyword"] | None = None
    strategy: StrategyName | None = None
    rrf_k: float | None = Field(default=None, ge=0, le=10_000)
    weights: WeightsIn | None = None
    filters: FiltersIn | None = None
    explain: bool = False


class RetrieverScore(BaseModel):
    rank: int
    score: float


class ScoresOut(BaseModel):
    vector: RetrieverScore | None = None
    keyword: RetrieverScore | None = None
    fused: float


class SearchHitOut(BaseModel):
    id: int
    document_id: uuid.UUID
    source_uri: str
    title: str | None
    kind: str
    text: str
    score: float
    metadata: dict[str, Any]
    freshness: float | None = None
    scores: ScoresOut | None = None


class SearchOut(BaseModel):
    results: list[SearchHitOut]
    strategy: str


class ReserveIn(Input):
    pinned: int | None = Field(default=None, ge=0)
    scratchpad: int | None = Field(default=None, ge=0)
    long_term: int | None = Field(default=None, ge=0)


class AssembleIn(Input):
    task_id: uuid.UUID | None = None
    query: Annotated[Text, Field(max_length=10_000)]
    budget_tokens: int = Field(ge=1, le=2_000_000)
    reserve: ReserveIn | None = None
    filters: FiltersIn | None = None
    format: Literal["text", "messages"] = "text"
    strategy: StrategyName | None = None
    exclude_flagged: bool = False


class ContextItemOut(BaseModel):
    id: str
    ref: str  # how the context's line for this item starts: "M3", "S12"; "task" for the pinned section
    kind: str
    text: str
    tokens: int
    source_uri: str | None = None
    citations: list[dict[str, Any]] | None = None
    score: float | None = None
    trust: Literal["trusted", "untrusted"]
    flags: list[str]
    summarized: bool = False
    freshness: float | None = None  # long-term items: 1.0 just verified, 0.5 one refresh interval overdue
    stale: bool | None = None  # freshness below the namespace's stale_below


class SectionOut(BaseModel):
    tier: Literal["pinned", "scratchpad", "long_term"]
    tokens: int
    items: list[ContextItemOut]


class DroppedOut(BaseModel):
    id: str
    tier: Literal["scratchpad", "long_term"]
    reason: Literal["budget", "duplicate", "filtered"]


class MessageOut(BaseModel):
    role: Literal["system", "user"]
    content: str


class AssembleOut(BaseModel):
    context: str | list[MessageOut]
    tokens: int
    budget_tokens: int
    sections: list[SectionOut]
    dropped: list[DroppedOut]
    trace_id: uuid.UUID
    timings_ms: dict[str, float]


class TraceOut(BaseModel):
    trace_id: uuid.UUID
    task_id: uuid.UUID | None
    query: str
    budget_tokens: int
    tokens: int
    included: dict[str, list[str]]
    dropped: list[dict[str, str]]
    timings_ms: dict[str, float]
    created_at: datetime


# --- embedding models and jobs -----------------------------------------------------------------

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
class FreshnessSettingsIn(Input):
    """PUT /settings/freshness: absent fields take the defaults (memory/freshness.py)."""

    refresh_interval_days: float | None = Field(default=None, gt=0, le=36_500)
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
