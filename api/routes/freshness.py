"""Freshness of the key's namespace and of single documents, and the namespace's freshness settings."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agentmem.core.errors import NotFound
from agentmem.memory.namespaces import Principal
from agentmem.api.deps import ConnDep, ReadDep, ServicesDep, require_role
from agentmem.api.schemas.freshness import (
    DocumentFreshnessOut, FreshnessSettingsIn, FreshnessSettingsOut, NamespaceFreshnessOut,
)
from agentmem.memory.freshness import FreshnessPolicy
from agentmem.memory.freshness_store import document_freshness, namespace_freshness
from agentmem.memory.namespaces import set_freshness_settings

router = APIRouter(tags=["freshness"])

FreshnessEditorDep = Annotated[Principal, Depends(require_role("operator", "changing the freshness settings"))]


def _settings(policy: FreshnessPolicy) -> FreshnessSettingsOut:
    return FreshnessSettingsOut(**asdict(policy))


@router.get("/freshness", response_model=NamespaceFreshnessOut)
def get_namespace_freshness(who: ReadDep, conn: ConnDep, services: ServicesDep,
                            worst: int = Query(default=10, ge=0, le=100)) -> NamespaceFreshnessOut:
    policy = FreshnessPolicy.from_settings(who.freshness)
    f = namespace_freshness(conn, who.namespace_id, policy, services.embedders.default, worst)
    return NamespaceFreshnessOut(score=f.score, documents=f.documents, stale=f.stale, settings=_settings(policy),
                                 worst=[DocumentFreshnessOut(**asdict(d)) for d in f.worst])


@router.get("/documents/{document_id}/freshness", response_model=DocumentFreshnessOut)
def get_document_freshness(document_id: uuid.UUID, who: ReadDep, conn: ConnDep,
                           services: ServicesDep) -> DocumentFreshnessOut:
    policy = FreshnessPolicy.from_settings(who.freshness)
    d = document_freshness(conn, who.namespace_id, document_id, policy, services.embedders.default)
    if d is None:
        raise NotFound(f"no document {document_id} in this namespace")
    return DocumentFreshnessOut(**asdict(d))


@router.get("/settings/freshness", response_model=FreshnessSettingsOut)
def get_freshness_settings(who: ReadDep) -> FreshnessSettingsOut:
    return _settings(FreshnessPolicy.from_settings(who.freshness))


@router.put("/settings/freshness", response_model=FreshnessSettingsOut)
def put_freshness_settings(body: FreshnessSettingsIn, who: FreshnessEditorDep, conn: ConnDep) -> FreshnessSettingsOut:
    stored = body.model_dump(exclude_none=True)
    set_freshness_settings(conn, who, stored)
    return _settings(FreshnessPolicy.from_settings(stored))
