"""Bodies of the admin routes: namespaces and their keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input, Text


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
