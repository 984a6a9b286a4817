"""Bodies of /search, /context/assemble and the retrieval settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input, Text, Timestamp, TrustLevel
from agentmem.retrieval.budget import MAX_BUDGET_TOKENS


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
RRF_K_HELP = ("k of reciprocal rank fusion (hybrid_rrf); with no strategy named it asks for hybrid_rrf, since the"
              " default, hybrid_zscore, fuses standardised scores and has no k")


class RetrievalDefaults(Input):
    """Per-namespace (PUT /settings/retrieval) or per-request retrieval choices."""

    strategy: StrategyName | None = None
    rrf_k: float | None = Field(default=None, ge=0, le=10_000, description=RRF_K_HELP)
    weights: WeightsIn | None = None
    candidates: int | None = Field(default=None, ge=1, le=500)


class SearchIn(Input):
    query: Annotated[Text, Field(max_length=10_000)]
    k: int = Field(default=10, ge=1, le=200)
    mode: Literal["hybrid", "vector", "keyword"] | None = None
    strategy: StrategyName | None = None
    rrf_k: float | None = Field(default=None, ge=0, le=10_000, description=RRF_K_HELP)
    weights: WeightsIn | None = None
    filters: FiltersIn | None = None
    explain: bool = False
    unit: Literal["chunk", "document"] = Field(
        default="chunk", description="chunk: ranked chunks; document: one result per document, its best chunk")
    min_trust: TrustLevel | None = Field(
        default=None, description="Leave out items below this trust level (untrusted < verified < trusted) by the"
                                  " namespace's rules (PUT /settings/trust); default: every non-quarantined item.")


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
    trust: TrustLevel
    origin: str


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
    budget_tokens: int = Field(ge=1, le=MAX_BUDGET_TOKENS)
    reserve: ReserveIn | None = None
    filters: FiltersIn | None = None
    format: Literal["text", "messages"] = "text"
    strategy: StrategyName | None = None
    exclude_flagged: bool = False
    min_trust: TrustLevel | None = Field(
        default=None, description="Leave out items below this trust level (untrusted < verified < trusted) by the"
                                  " namespace's rules (PUT /settings/trust); default: every non-quarantined item.")


class ContextItemOut(BaseModel):
    id: str
    ref: str  # how the context's line for this item starts: "M3", "S12"; "task" for the pinned section
    kind: str
    text: str
    tokens: int
    source_uri: str | None = None
    citations: list[dict[str, Any]] | None = None
    score: float | None = None
    trust: TrustLevel
    origin: str | None = None  # as its writer declared; the pinned task: operator, or agent
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
    reason: Literal["budget", "duplicate", "filtered", "below_min_trust"]


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
