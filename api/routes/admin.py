"""Admin endpoints, behind the admin token: namespaces and their keys."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

import psycopg
from fastapi import APIRouter

from agentmem.api.deps import AdminDep, ConnDep, ServicesDep
from agentmem.api.schemas.admin import KeyIn, KeyInfoOut, KeyOut, NamespaceIn, NamespaceOut, Receipt
from agentmem.embeddings.models import default_model
from agentmem.memory import keys, namespaces

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post("/namespaces", status_code=201, response_model=NamespaceOut)
def create_namespace(body: NamespaceIn, conn: ConnDep, services: ServicesDep) -> NamespaceOut:
    """Its vectors will come from the service's default embedding model (AGENTMEM_EMBEDDING_MODEL)."""
    ns = namespaces.create_namespace(conn, body.name, default_model(conn, services.embedders).id)
    return NamespaceOut(name=ns.name, created_at=ns.created_at)


def issue(conn: psycopg.Connection[Any], namespace: str, body: KeyIn) -> KeyOut:
    """A new key of the namespace, as the body asks (also for an operator's own keys: api/routes/keys.py)."""
    issued = namespaces.issue_key(conn, namespace, body.label, body.role, body.expires_at, body.expires_in_days)
    return KeyOut(**asdict(issued))


@router.post("/namespaces/{name}/keys", status_code=201, response_model=KeyOut)
def create_key(name: str, body: KeyIn, conn: ConnDep) -> KeyOut:
    """The key is in this answer only: it is stored as a hash."""
    return issue(conn, name, body)


@router.get("/namespaces/{name}/keys", response_model=list[KeyInfoOut])
def list_keys(name: str, conn: ConnDep) -> list[KeyInfoOut]:
    ns = namespaces.get_namespace(conn, name)
    return [KeyInfoOut(**asdict(k)) for k in keys.list_keys(conn, ns.id)]


@router.delete("/namespaces/{name}/keys/{key_id}", response_model=KeyInfoOut)
def revoke_key(name: str, key_id: uuid.UUID, conn: ConnDep) -> KeyInfoOut:
    """At once: the key's next request answers 401, in every process."""
    ns = namespaces.get_namespace(conn, name)
    return KeyInfoOut(**asdict(keys.revoke_key(conn, ns.id, key_id)))


@router.delete("/namespaces/{name}", response_model=Receipt)
def delete_namespace(name: str, conn: ConnDep) -> Receipt:
    return Receipt(id=name, deleted=namespaces.delete_namespace(conn, name))
