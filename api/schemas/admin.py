"""Bodies of the admin routes: namespaces and their keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from agentmem.api.schemas.base import Input, Text, Timestamp


class NamespaceIn(Input):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class NamespaceOut(BaseModel):
    name: str
    created_at: datetime


Role = Literal["operator", "agent", "read"]


class KeyIn(Input):
    """A new key. `role` defaults to operator: what every key could do before roles existed."""

    label: Annotated[Text, Field(max_length=200)]
    role: Role = "operator"
    expires_at: Timestamp | None = None
    expires_in_days: float | None = Field(default=None, gt=0, le=36500)

    @model_validator(mode="after")
    def _one_expiry(self) -> "KeyIn":
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give either expires_at or expires_in_days, not both")
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            raise ValueError("expires_at is in the past; give a future time, or expires_in_days")
        return self


class KeyOut(BaseModel):
    """The key is in this answer only."""

    id: uuid.UUID
    key: str
    label: str
    namespace: str
    role: Role
    expires_at: datetime | None


class KeyInfoOut(BaseModel):
    """A key as listed: never the key or its hash."""

    id: uuid.UUID
    label: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None  # recorded at most once a minute
    revoked_at: datetime | None


class Receipt(BaseModel):
    id: str
    deleted: dict[str, int]
