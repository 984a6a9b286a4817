"""Request and response bodies of the drift probes, the namespace quality score and its alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field

from agentmem.api.schemas.base import Input, Text
from agentmem.api.schemas.models import JobOut
from agentmem.api.schemas.retrieval import StrategyName

SourceUri = Annotated[Text, Field(max_length=2000)]


def _dedupe(expected: list[str]) -> list[str]:
    if not expected:
        raise ValueError("give at least one source_uri the query must find")
    return list(dict.fromkeys(expected))


class ProbeIn(Input):
    query: Annotated[Text, Field(max_length=10_000)]
    expected: Annotated[list[SourceUri], Field(max_length=100), AfterValidator(_dedupe)] = Field(
        description="source_uris the top k results must include (duplicates are dropped)")
    k: int = Field(default=10, ge=1, le=100)
    strategy: StrategyName | None = Field(
        default=None, description="default: the namespace's (GET /settings/retrieval)")


class ProbeRunOut(BaseModel):
    probe_id: uuid.UUID
    job_id: uuid.UUID | None
    ran_at: datetime
    recall: float
    reciprocal_rank: float
    expected_freshness: float | None
    found: list[str]
    missing: list[str]


class ProbeOut(BaseModel):
    id: uuid.UUID
    query: str
    expected: list[str]
    k: int
    strategy: str | None
    created_at: datetime
    latest_run: ProbeRunOut | None = None


class BaselineOut(BaseModel):
    score: float
    set_at: datetime
    how: Literal["first_run", "set"]
    probes: int


class AlertOut(BaseModel):
    id: uuid.UUID
    kind: Literal["probe_below_threshold", "score_dropped"]
    probe_id: uuid.UUID | None
    job_id: uuid.UUID | None
    message: str
    details: dict[str, Any]
    webhook: str | None = Field(description="null: no webhook; pending, delivered, or failed: <reason>")
    webhook_attempts: int
    created_at: datetime


class ProbeResultOut(ProbeRunOut):
    query: str
    alert: bool  # this run raised a probe_below_threshold alert for it


class ProbesRunOut(BaseModel):
    job: JobOut
    ran_here: bool = Field(description="false: another worker holds the job (202); poll GET /probes/score")
    score: float | None
    baseline: BaselineOut | None
    results: list[ProbeResultOut]
    alerts: list[AlertOut]


class ScorePointOut(BaseModel):
    score: float
    probes: int
    ran_at: datetime
    job_id: uuid.UUID | None


class AlertingOut(BaseModel):
    probe_below: float
    score_drop: float
    webhook_url: str | None
    baseline: BaselineOut | None


class QualityOut(BaseModel):
    score: float | None = Field(description="mean recall@k over the probes in the latest run")
    probes: int
    ran_at: datetime | None
    baseline: BaselineOut | None
    drop: float | None = Field(description="baseline - score, when both measured the same probes")
    history: list[ScorePointOut]
    alerts: list[AlertOut]
    settings: AlertingOut


def _webhook_url(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. https://hooks.example.com/agentmem")
    if any(c.isspace() for c in url):
        raise ValueError("must not contain spaces; percent-encode them (%20)")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("has an invalid port; give a number from 1 to 65535") from None
    return url


class AlertingIn(Input):
    """PUT /settings/alerting: absent fields take the defaults; the baseline is kept."""

    probe_below: float | None = Field(default=None, ge=0, le=1,
                                      description="alert when a probe's recall@k falls below this (default 0.5)")
    score_drop: float | None = Field(default=None, ge=0, le=1,
                                     description="alert when the score falls more than this below the baseline"
                                                 " (default 0.1)")
    webhook_url: Annotated[str | None, Field(max_length=2000), AfterValidator(_webhook_url)] = None


class BaselineIn(Input):
    score: float | None = Field(default=None, ge=0, le=1, description="default: the latest score")
