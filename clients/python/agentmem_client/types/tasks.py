"""Tasks (pinned context), their scratchpad entries and citations, and completion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from agentmem_client.types.base import Model
from agentmem_client.types.screening import Screening, WrittenBy


class Pinned(Model):
    """A labelled piece of context the task always carries."""

    label: str
    text: str


class Task(Model):
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
    written_by: WrittenBy | None = None
    origin: Literal["operator", "agent"] = "operator"  # agent: shown apart from the operator's task


class TaskVersion(Model):
    version: int
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    created_at: datetime
    written_by: WrittenBy | None = None


class Completed(Model):
    """A completed task and the summary written to long-term memory."""

    task: Task
    summary_document_id: uuid.UUID
    summary: str
    screening: Screening | None = None


class Citation(Model):
    """Where a scratchpad claim comes from: a source (e.g. a source_uri) and optionally where in it."""

    source: str
    locator: str | None = None
    retrieved_at: datetime | None = None
    quote: str | None = None


EntryKind = Literal["fact", "result", "note"]


class Entry(Model):
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
    written_by: WrittenBy | None = None
    origin: str = "agent"
    screening: Screening | None = None


class Receipt(Model):
    """What a delete removed: rows per table (all zero: there was nothing to delete)."""

    id: str
    deleted: dict[str, int]
