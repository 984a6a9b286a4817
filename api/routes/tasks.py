"""Tasks (pinned context), their scratchpad, and completion into long-term memory."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from agentmem.memory.namespaces import Principal
from agentmem.api.deps import AgentDep, ConnDep, ReadDep, ServicesDep, check_size, require_role
from agentmem.api.schemas.admin import Receipt
from agentmem.api.schemas.limits import check_count
from agentmem.api.schemas.scratchpad import EntryIn, EntryOut
from agentmem.api.schemas.screening import ScreeningOut
from agentmem.api.schemas.tasks import CompleteIn, CompleteOut, TaskIn, TaskOut, TaskPatch, TaskVersionOut
from agentmem.core.settings import Settings
from agentmem.memory import long_term, scratchpad, tasks
from agentmem.memory.provenance import declared_origin
from agentmem.memory.write_screen import Policy, screen_write

router = APIRouter(prefix="/tasks", tags=["tasks"])

PinnedEditorDep = Annotated[Principal, Depends(require_role("operator", "changing the pinned task context"))]
TaskDeleterDep = Annotated[Principal, Depends(require_role("operator", "deleting a task"))]


def _out(task: tasks.Task) -> TaskOut:
    return TaskOut(**asdict(task))


def _check_pinned_size(goal: str, constraints: list[str], pinned: list[dict[str, str]], settings: Settings) -> None:
    check_count(len(pinned), settings.max_pinned_items, "pinned items", "AGENTMEM_MAX_PINNED_ITEMS")
    check_count(len(constraints), settings.max_constraints, "constraints", "AGENTMEM_MAX_CONSTRAINTS")
    size = len(goal) + sum(map(len, constraints)) + sum(len(p["text"]) for p in pinned)
    check_size(size, settings.max_text_chars, "the task's pinned context (characters)", "AGENTMEM_MAX_TEXT_CHARS")


@router.post("", status_code=201, response_model=TaskOut)
def create_task(body: TaskIn, conn: ConnDep, who: AgentDep, services: ServicesDep) -> TaskOut:
    pinned = [p.model_dump() for p in body.pinned]
    _check_pinned_size(body.goal, body.constraints, pinned, services.settings)
    return _out(tasks.create_task(conn, who, body.goal, body.constraints, pinned))


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: uuid.UUID, conn: ConnDep, who: ReadDep) -> TaskOut:
    return _out(tasks.get_task(conn, who, task_id))


@router.patch("/{task_id}", response_model=TaskOut)
def patch_task(
    task_id: uuid.UUID, body: TaskPatch, conn: ConnDep, who: PinnedEditorDep, services: ServicesDep
) -> TaskOut:
    pinned = None if body.pinned is None else [p.model_dump() for p in body.pinned]
    old = tasks.get_task(conn, who, task_id)  # the limit is on the context the change leaves
    _check_pinned_size(
        old.goal if body.goal is None else body.goal,
        old.constraints if body.constraints is None else body.constraints,
        old.pinned if pinned is None else pinned,
        services.settings,
    )
    return _out(tasks.update_task(conn, who, task_id, body.goal, body.constraints, pinned))


@router.get("/{task_id}/versions", response_model=list[TaskVersionOut])
def get_versions(task_id: uuid.UUID, conn: ConnDep, who: ReadDep) -> list[TaskVersionOut]:
    return [TaskVersionOut(**asdict(v)) for v in tasks.task_versions(conn, who, task_id)]


@router.delete("/{task_id}", response_model=Receipt)
def delete_task(task_id: uuid.UUID, conn: ConnDep, who: TaskDeleterDep) -> Receipt:
    return Receipt(id=str(task_id), deleted=tasks.delete_task(conn, who, task_id))


@router.post("/{task_id}/scratchpad", status_code=201, response_model=EntryOut)
def add_entry(task_id: uuid.UUID, body: EntryIn, who: AgentDep, services: ServicesDep) -> EntryOut:
    check_size(len(body.content), services.settings.max_scratchpad_chars, "content (characters)",
               "AGENTMEM_MAX_SCRATCHPAD_CHARS")
    check_count(len(body.citations), services.settings.max_citations_per_entry, "citations",
                "AGENTMEM_MAX_CITATIONS_PER_ENTRY")
    if body.summary is not None:
        check_size(len(body.summary), services.settings.max_scratchpad_chars, "summary (characters)",
                   "AGENTMEM_MAX_SCRATCHPAD_CHARS")
    origin = declared_origin(who.role, body.origin)
    screened = screen_write(
        {"content": body.content, "summary": body.summary,
         "citations": [c.model_dump(mode="json", exclude_none=True) for c in body.citations]},
        Policy.from_settings(who.screening),
    )
    f = screened.fields
    entry = scratchpad.add_entry_pooled(
        services.pool, services.embedders, who, task_id,
        kind=body.kind, content=f["content"], citations=f["citations"],
        unsourced=body.unsourced, step=body.step, summary=f["summary"],
        screening=screened.state, screening_flags=screened.flags, origin=origin,
    )
    return EntryOut(**asdict(entry), screening=ScreeningOut(**screened.report()))


@router.get("/{task_id}/scratchpad", response_model=list[EntryOut])
def list_entries(task_id: uuid.UUID, conn: ConnDep, who: ReadDep, unsourced: bool = False) -> list[EntryOut]:
    return [EntryOut(**asdict(e)) for e in scratchpad.list_entries(conn, who, task_id, unsourced_only=unsourced)]


@router.post("/{task_id}/complete", response_model=CompleteOut)
def complete_task(
    task_id: uuid.UUID, body: CompleteIn, conn: ConnDep, who: AgentDep, services: ServicesDep
) -> CompleteOut:
    if body.summary is not None:
        check_size(len(body.summary), services.settings.max_text_chars, "summary (characters)",
                   "AGENTMEM_MAX_TEXT_CHARS")
    origin = declared_origin(who.role, body.origin)
    screened = screen_write({"summary": body.summary, "outcome": body.outcome}, Policy.from_settings(who.screening))
    task, written, text = long_term.complete_task(
        conn, services.embedders, who, task_id,
        summary=screened.fields["summary"], outcome=screened.fields["outcome"],
        chunk_tokens=services.settings.chunk_tokens, screening=(screened.state, screened.flags), origin=origin,
    )
    return CompleteOut(task=_out(task), summary_document_id=written.id, summary=text,
                       screening=ScreeningOut(**screened.report()))
