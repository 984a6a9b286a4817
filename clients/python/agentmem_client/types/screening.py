"""Who wrote an item and what screening did to a write: flags, the action taken, secrets redacted, the quarantine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from agentmem_client.types.base import Model

InjectionPolicy = Literal["flag", "quarantine", "reject"]
SecretsPolicy = Literal["redact", "refuse"]


class WrittenBy(Model):
    """Provenance: the key that wrote an item (its label may name an agent, a tool, a person)."""

    key_id: uuid.UUID
    label: str | None  # None: the key's row is gone


class Redaction(Model):
    field: str
    kind: str
    start: int
    end: int


class Screening(Model):
    """What screening did to this write: flags per field, the action taken, the secrets redacted."""

    flags: dict[str, list[str]]
    action: Literal["none", "flag", "quarantine"]
    redacted: list[Redaction]


class ScreeningSettings(Model):
    injection: str
    secrets: str


class Quarantined(Model):
    """An item the screener held back: out of search and assembly until released."""

    id: uuid.UUID
    item: str  # "document", "scratchpad_entry", ...
    trust: Literal["quarantined"] = "quarantined"
    source_uri: str | None
    task_id: uuid.UUID | None
    excerpt: str
    flags: dict[str, list[str]]
    written_at: datetime


class Released(Model):
    id: uuid.UUID
    item: str
    status: Literal["released", "deleted"]
