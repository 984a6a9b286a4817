"""Screening answers and settings at the API edge (memory/write_screen.py holds the logic)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from agentmem.api.schemas.base import Input


class RedactionOut(BaseModel):
    field: str
    kind: str
    start: int
    end: int


class ScreeningOut(BaseModel):
    """What screening did to this write: flags per field, the action taken, the secrets redacted."""
    flags: dict[str, list[str]]
    action: Literal["none", "flag", "quarantine"]
    redacted: list[RedactionOut]


class ScreeningSettingsIn(Input):
    injection: Literal["flag", "quarantine", "reject"] = "quarantine"
    secrets: Literal["redact", "refuse"] = "redact"


class ScreeningSettingsOut(BaseModel):
    injection: str
    secrets: str


class QuarantinedOut(BaseModel):
    id: uuid.UUID
    item: str
    trust: Literal["quarantined"] = "quarantined"
    source_uri: str | None
    task_id: uuid.UUID | None
    excerpt: str
    flags: dict[str, list[str]]
    written_at: datetime


class ReleasedOut(BaseModel):
    id: uuid.UUID
    item: str
    status: Literal["released", "deleted"]
