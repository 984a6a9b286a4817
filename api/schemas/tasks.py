"""Bodies of the task routes: pinned context, versions, completion."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from agentmem.api.schemas.base import Input, Origin, Text, WrittenBy, blank
from agentmem.api.schemas.screening import ScreeningOut


class PinnedItem(Input):
    label: Annotated[Text, Field(max_length=200)]
    text: Text



def _constraints_not_blank(v: list[str]) -> list[str]:
    for i, c in enumerate(v):
        if blank(c):
            raise ValueError(f"constraint {i} is empty or only whitespace (or invisible characters); remove it or write it out")
    return v


Constraints = Annotated[list[str], AfterValidator(_constraints_not_blank)]


class TaskIn(Input):
    goal: Text
    constraints: Constraints = Field(default_factory=list)
    pinned: list[PinnedItem] = Field(default_factory=list)


class TaskPatch(Input):
    goal: Text | None = None
    constraints: Constraints | None = None
    pinned: list[PinnedItem] | None = None

    @model_validator(mode="after")
    def _something(self) -> "TaskPatch":
        if self.goal is None and self.constraints is None and self.pinned is None:
            raise ValueError("nothing to change: give at least one of goal, constraints, pinned")
        return self


class TaskOut(BaseModel):
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
    origin: Literal["operator", "agent"] = Field(
        description="operator: the task heads the context as the operator's; agent: it is shown apart, as set by"
                    " an agent key")


class TaskVersionOut(BaseModel):
    version: int
    goal: str
    constraints: list[str]
    pinned: list[dict[str, str]]
    created_at: datetime
    written_by: WrittenBy | None = None


class CompleteIn(Input):
    summary: Text | None = None
    outcome: str | None = Field(default=None, max_length=10_000)
    origin: Origin | None = Field(
        default=None, description="Who the task's summary comes from: operator, agent, tool, web or user. Default: the"
                                  " key's role (operator or agent); only an operator key may declare operator.")


class CompleteOut(BaseModel):
    task: TaskOut
    summary_document_id: uuid.UUID
    summary: str
    screening: ScreeningOut | None = None
