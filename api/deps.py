"""Request dependencies as Annotated aliases: the services, a pooled connection, the caller."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Iterator

import psycopg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentmem.core.errors import PayloadTooLarge, Unauthorized
from agentmem.api.services import Services
from agentmem.memory.namespaces import Principal, resolve_key

_bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


def get_conn(services: ServicesDep) -> Iterator[psycopg.Connection[Any]]:
    with services.pool.connection() as conn:
        yield conn


ConnDep = Annotated[psycopg.Connection[Any], Depends(get_conn)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]





def get_principal(conn: ConnDep, credentials: Credentials) -> Principal:
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    principal = resolve_key(conn, credentials.credentials)
    if principal is None:
        raise Unauthorized("unknown API key; ask your operator for a key of your namespace")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(request: Request, credentials: Credentials) -> None:
    token: str = request.app.state.admin_token
    if credentials is None:
        raise Unauthorized("missing admin token: send 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise Unauthorized("wrong admin token")


AdminDep = Depends(require_admin)


def check_size(value: int, limit: int, what: str) -> None:
    if value > limit:
        raise PayloadTooLarge(f"{what} is {value:,} long; the limit is {limit:,} (split it, or raise the setting)")
