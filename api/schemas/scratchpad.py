"""Bodies of the scratchpad routes: step results and their citations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from agentmem.api.schemas.screening import ScreeningOut
from pydantic import BaseModel, Field

from agentmem.api.schemas.base import Input, Origin, Text, Timestamp, WrittenBy


class CitationIn(Input):
    source: Annotated[Text, Field(max_length=2000)]
    locator: str | None = Field(default=None, max_length=2000)
    retrieved_at: Timestamp | None = None
    quote: str | None = Field(default=None, max_length=20_000)



class EntryIn(Input):
    content: Text
    kind: Literal["fact", "result", "note"]
    citations: list[CitationIn] = Field(default_factory=list)
    unsourced: bool = False
    step: int | None = Field(default=None, ge=0, le=2**31 - 1)
    summary: Text | None = None
    origin: Origin | None = Field(
        default=None, description="Who this content comes from: operator, agent, tool, web or user. Default: the"
                                  " key's role (operator or agent); only an operator key may declare operator.")



class EntryOut(BaseModel):
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
    origin: str
    screening: ScreeningOut | None = None
