"""Screening settings and the quarantine: list, release or delete what the screener held back."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Query

from agentmem.api.deps import ConnDep, OperatorDep, ReadDep, ServicesDep
from agentmem.api.schemas.screening import QuarantinedOut, ReleasedOut, ScreeningSettingsIn, ScreeningSettingsOut
from agentmem.memory import quarantine
from agentmem.memory.write_screen import Policy

router = APIRouter(tags=["screening"])


@router.get("/settings/screening", response_model=ScreeningSettingsOut)
def get_screening_settings(who: ReadDep, conn: ConnDep) -> ScreeningSettingsOut:
    return ScreeningSettingsOut(**asdict(quarantine.get_policy(conn, who.namespace_id)))


@router.put("/settings/screening", response_model=ScreeningSettingsOut)
def put_screening_settings(body: ScreeningSettingsIn, who: OperatorDep, conn: ConnDep) -> ScreeningSettingsOut:
    policy = Policy(injection=body.injection, secrets=body.secrets)
    quarantine.set_policy(conn, who, policy)
    return ScreeningSettingsOut(**asdict(policy))


@router.get("/quarantine", response_model=list[QuarantinedOut])
def list_quarantine(who: OperatorDep, conn: ConnDep, limit: int = Query(default=100, ge=1, le=1000),
                    ) -> list[QuarantinedOut]:
    return [QuarantinedOut(**asdict(q)) for q in quarantine.list_quarantined(conn, who, limit)]


@router.post("/quarantine/{item_id}/release", response_model=ReleasedOut)
def release(item_id: uuid.UUID, who: OperatorDep, conn: ConnDep, services: ServicesDep) -> ReleasedOut:
    """The item becomes searchable and assemblable, still marked by its flags."""
    item = quarantine.release(conn, services.embedders, who, item_id, services.settings.chunk_tokens)
    return ReleasedOut(id=item_id, item=item, status="released")


@router.delete("/quarantine/{item_id}", response_model=ReleasedOut)
def delete(item_id: uuid.UUID, who: OperatorDep, conn: ConnDep) -> ReleasedOut:
    return ReleasedOut(id=item_id, item=quarantine.delete_quarantined(conn, who, item_id), status="deleted")
