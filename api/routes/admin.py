"""Operator endpoints, behind the admin token: namespaces and their keys."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from agentmem.api.deps import AdminDep, ConnDep, ServicesDep
from agentmem.api.schemas.admin import KeyIn, KeyOut, NamespaceIn, NamespaceOut, Receipt
from agentmem.embeddings.models import default_model
from agentmem.memory import namespaces

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post("/namespaces", status_code=201, response_model=NamespaceOut)
def create_namespace(body: NamespaceIn, conn: ConnDep, services: ServicesDep) -> NamespaceOut:
    """Its vectors will come from the service's default embedding model (AGENTMEM_EMBEDDING_MODEL)."""
    ns = namespaces.create_namespace(conn, body.name, default_model(conn, services.embedders).id)
    return NamespaceOut(name=ns.name, created_at=ns.created_at)


@router.post("/namespaces/{name}/keys", status_code=201, response_model=KeyOut)
def create_key(name: str, body: KeyIn, conn: ConnDep) -> KeyOut:
    """The key is in this answer only: it is stored as a hash."""
    return KeyOut(**asdict(namespaces.issue_key(conn, name, body.label)))


@router.delete("/namespaces/{name}", response_model=Receipt)
def delete_namespace(name: str, conn: ConnDep) -> Receipt:
    return Receipt(id=name, deleted=namespaces.delete_namespace(conn, name))
