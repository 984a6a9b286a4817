"""Search hits, assembled context (the string and its manifest), assemble traces, retrieval settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from agentmem_client.types.base import Model

Strategy = Literal["hybrid_rrf", "hybrid_zscore", "vector_only", "keyword_only"]


class RetrieverScore(Model):
    rank: int
    score: float


class Scores(Model):
    vector: RetrieverScore | None = None
    keyword: RetrieverScore | None = None
    fused: float


class Hit(Model):
    id: int
    document_id: uuid.UUID
    source_uri: str
    title: str | None
    kind: str
    text: str
    score: float
    metadata: dict[str, Any]
    freshness: float | None = None
    scores: Scores | None = None
    trust: Literal["untrusted", "verified", "trusted"] = "untrusted"
    origin: str = "agent"


class SearchResult(Model):
    results: list[Hit]
    strategy: str


class ContextItem(Model):
    """One item in the assembled context; `ref` is how its line starts in the context ("M3", "S12")."""

    id: str
    ref: str
    kind: str
    text: str
    tokens: int
    source_uri: str | None = None
    citations: list[dict[str, Any]] | None = None
    score: float | None = None
    trust: Literal["untrusted", "verified", "trusted"]
    origin: str | None = None
    flags: list[str]
    summarized: bool = False
    freshness: float | None = None
    stale: bool | None = None


class Section(Model):
    tier: Literal["pinned", "scratchpad", "long_term"]
    tokens: int
    items: list[ContextItem]


class Dropped(Model):
    id: str
    tier: Literal["scratchpad", "long_term"]
    reason: Literal["budget", "duplicate", "filtered", "below_min_trust"]


class Message(Model):
    role: Literal["system", "user"]
    content: str


class Assembled(Model):
    """The context to put in the prompt (`context`: a string, or messages with format="messages") and its
    manifest: what each section holds (`sections`), what was left out and why (`dropped`)."""

    context: str | list[Message]
    tokens: int
    budget_tokens: int
    sections: list[Section]
    dropped: list[Dropped]
    trace_id: uuid.UUID
    timings_ms: dict[str, float]

    @property
    def manifest(self) -> list[ContextItem]:
        """Every item included, pinned first, in the order of the context."""
        return [item for section in self.sections for item in section.items]

    @property
    def text(self) -> str:
        """The context as one string, whichever format was asked for."""
        if isinstance(self.context, str):
            return self.context
        return "\n\n".join(m.content for m in self.context)


class Trace(Model):
    trace_id: uuid.UUID
    task_id: uuid.UUID | None
    query: str
    budget_tokens: int
    tokens: int
    included: dict[str, list[str]]
    dropped: list[dict[str, str]]
    timings_ms: dict[str, float]
    created_at: datetime


class Weights(Model):
    vector: float | None = None
    keyword: float | None = None


class RetrievalSettings(Model):
    strategy: Strategy | None = None
    rrf_k: float | None = None
    weights: Weights | None = None
    candidates: int | None = None
