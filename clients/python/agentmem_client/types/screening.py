"""Who wrote an item and what screening did to a write: flags, the action taken, secrets redacted, the quarantine."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from agentmem_client.types.base import Model

InjectionPolicy = Literal["flag", "quarantine", "reject"]
Origin = Literal["operator", "agent", "tool", "web", "user"]  # who content comes from, as its writer declares
TrustLevel = Literal["untrusted", "verified", "trusted"]  # lowest first
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


class SourceRule(Model):
    """Items whose source_uri starts with `prefix` (and, if given, of these origins) get `trust`."""

    prefix: str
    trust: str
    origins: list[str] | None = None


class TrustRules(Model):
    """An item's trust: the longest matching source rule, else its origin's level, else untrusted."""

    sources: list[SourceRule]
    origins: dict[str, str]


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
