"""What operators read and set: freshness, probes and alerts, jobs, embedding models, namespaces and keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agentmem_client.types.base import Model


class FreshnessSettings(Model):
    refresh_interval_days: float
    stale_below: float
    weight: float


class DocumentFreshness(Model):
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


class Freshness(Model):
    score: float | None
    documents: int
    stale: int
    settings: FreshnessSettings
    worst: list[DocumentFreshness]


class Job(Model):
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


class ProbeRun(Model):
    probe_id: uuid.UUID
    job_id: uuid.UUID | None
    ran_at: datetime
    recall: float
    reciprocal_rank: float
    expected_freshness: float | None
    found: list[str]
    missing: list[str]


class Probe(Model):
    id: uuid.UUID
    query: str
    expected: list[str]
    k: int
    strategy: str | None
    created_at: datetime
    latest_run: ProbeRun | None = None


class Baseline(Model):
    score: float
    set_at: datetime
    how: Literal["first_run", "set"]
    probes: int


class Alert(Model):
    id: uuid.UUID
    kind: Literal["probe_below_threshold", "score_dropped"]
    probe_id: uuid.UUID | None
    job_id: uuid.UUID | None
    message: str
    details: dict[str, Any]
    webhook: str | None
    webhook_attempts: int
    created_at: datetime


class ProbeResult(ProbeRun):
    query: str
    alert: bool


class ProbesRun(Model):
    job: Job
    ran_here: bool  # false: another worker holds the job (202); poll probes.score()
    score: float | None
    baseline: Baseline | None
    results: list[ProbeResult]
    alerts: list[Alert]


class ScorePoint(Model):
    score: float
    probes: int
    ran_at: datetime
    job_id: uuid.UUID | None


class Alerting(Model):
    probe_below: float
    score_drop: float
    webhook_url: str | None
    baseline: Baseline | None


class Quality(Model):
    score: float | None
    probes: int
    ran_at: datetime | None
    baseline: Baseline | None
    drop: float | None
    history: list[ScorePoint]
    alerts: list[Alert]
    settings: Alerting


class EmbeddingModel(Model):
    name: str
    version: str
    dimension: int


class Migration(Model):
    chunks: int
    chunks_embedded: int
    entries: int
    entries_embedded: int
    job: Job | None


class EmbeddingSettings(Model):
    active: EmbeddingModel
    target: EmbeddingModel | None
    migration: Migration | None
    available: list[str]


class EmbeddingChange(Model):
    status: Literal["started", "migrating", "unchanged", "cancelled"]
    active: EmbeddingModel
    target: EmbeddingModel | None
    job: Job | None


class Namespace(Model):
    name: str
    created_at: datetime


Role = Literal["operator", "agent", "read"]


class Key(Model):
    """A new key: `key` is in this answer only (the service stores a hash)."""

    id: uuid.UUID
    key: str = Field(repr=False)
    label: str
    namespace: str
    role: Role
    expires_at: datetime | None


class KeyInfo(Model):
    """A key as listed: never the key or its hash."""

    id: uuid.UUID
    label: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None  # recorded at most once a minute
    revoked_at: datetime | None


class Health(Model):
    status: str
