"""An operator's keys of its own namespace: issue, list, revoke (the admin token can do the same for any)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from agentmem.api.deps import ConnDep, require_role
from agentmem.api.routes.admin import issue
from agentmem.api.schemas.admin import KeyIn, KeyInfoOut, KeyOut
from agentmem.memory import keys
from agentmem.memory.namespaces import Principal

router = APIRouter(prefix="/keys", tags=["keys"])

KeyManagerDep = Annotated[Principal, Depends(require_role("operator", "managing the namespace's keys"))]


@router.post("", status_code=201, response_model=KeyOut)
def create_key(body: KeyIn, conn: ConnDep, who: KeyManagerDep) -> KeyOut:
    """A key of the caller's namespace, of any role up to operator; the key is in this answer only."""
    return issue(conn, who.namespace, body)


@router.get("", response_model=list[KeyInfoOut])
def list_keys(conn: ConnDep, who: KeyManagerDep) -> list[KeyInfoOut]:
    return [KeyInfoOut(**asdict(k)) for k in keys.list_keys(conn, who.namespace_id)]


@router.delete("/{key_id}", response_model=KeyInfoOut)
def revoke_key(key_id: uuid.UUID, conn: ConnDep, who: KeyManagerDep) -> KeyInfoOut:
    """At once: the key's next request answers 401, in every process. A key may revoke itself."""
    return KeyInfoOut(**asdict(keys.revoke_key(conn, who.namespace_id, key_id)))
