"""Operator endpoints, behind the admin token: namespaces and their keys."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from api.deps import AdminDep, ConnDep
from api.schemas import KeyIn, KeyOut, NamespaceIn, NamespaceOut, Receipt
from memory import namespaces

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post("/namespaces", status_code=201, response_model=NamespaceOut)
def create_namespace(body: NamespaceIn, conn: ConnDep) -> NamespaceOut:
    ns = namespaces.create_namespace(conn, body.name)
    return NamespaceOut(name=ns.name, created_at=ns.created_at)


@router.post("/namespaces/{name}/keys", status_code=201, response_model=KeyOut)
def create_key(name: str, body: KeyIn, conn: ConnDep) -> KeyOut:
    """The key is in this answer only: it is stored as a hash."""
    return KeyOut(**asdict(namespaces.issue_key(conn, name, body.label)))


@router.delete("/namespaces/{name}", response_model=Receipt)
def delete_namespace(name: str, conn: ConnDep) -> Receipt:
    return Receipt(id=name, deleted=namespaces.delete_namespace(conn, name))
