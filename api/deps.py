"""Request dependencies as Annotated aliases: the services, a pooled connection, the caller."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, AsyncIterator, Iterator

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentmem.api.admission_middleware import TICKET, Gatekeeper
from agentmem.api.services import Services
from agentmem.core.errors import PayloadTooLarge, Unauthorized
from agentmem.core.settings import Settings
from agentmem.core.tokens import count_many
from agentmem.memory.namespaces import Principal, resolve_key

_bearer = HTTPBearer(auto_error=False)


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


_HELD = "agentmem.conn"  # the scope key of the connection a route holds (ConnDep), while it holds it


def get_conn(request: Request, services: ServicesDep) -> Iterator[psycopg.Connection[Any]]:
    """A route's connection, given back when the route returns, before the response is sent."""
    with services.pool.connection() as conn:
        request.scope[_HELD] = conn
        try:
            yield conn
        finally:
            request.scope.pop(_HELD, None)


ConnDep = Annotated[psycopg.Connection[Any], Depends(get_conn, scope="function")]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_keeper(request: Request) -> Gatekeeper:
    return request.app.state.keeper  # type: ignore[no-any-return]


def get_principal(request: Request, services: ServicesDep, credentials: Credentials) -> Principal:
    """Who calls, then their namespace's admission (429 above its limits: api/admission.py).

    The lookup borrows the route's own connection when the route has taken it already, else takes
    one for the one statement: a request never waits for a second connection while holding one."""
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    held = request.scope.get(_HELD)
    if held is not None:
        principal = resolve_key(held, credentials.credentials)
    else:
        with services.pool.connection() as conn:
            principal = resolve_key(conn, credentials.credentials)
    if principal is None:
        raise Unauthorized("unknown API key; ask your operator for a key of your namespace")
    get_keeper(request).admit_principal(request.scope.get(TICKET), principal.namespace)
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


def document_texts(body: Any, settings: Settings) -> list[str]:
    """The texts of a document write's body (PUT /documents or POST /documents/batch) that it may embed:
    a text or a batch over its size limit is refused by the route (413), so it is not counted."""
    docs = body.get("documents") if isinstance(body, dict) and "documents" in body else [body]
    if not isinstance(docs, list) or len(docs) > settings.max_batch_documents:
        return []
    return [d["text"] for d in docs if isinstance(d, dict) and isinstance(d.get("text"), str)
            and len(d["text"]) <= settings.max_text_chars]


async def ingest_admission(request: Request, who: PrincipalDep) -> AsyncIterator[None]:
    """Count the tokens of the documents a write brings against its namespace's ingest limit (429 above
    it) until the response is sent. The body was parsed already; its tokens are counted off the loop."""
    try:
        body = await request.json()  # parsed already (and kept) by FastAPI when it is JSON
    except (ValueError, RecursionError):  # not JSON: the route answers 400/422, nothing is embedded
        body = None
    texts = document_texts(body, get_services(request).settings)
    tokens = sum(await run_in_threadpool(count_many, texts)) if texts else 0
    admission = get_keeper(request).admission
    admission.enter_ingest(who.namespace, tokens)
    try:
        yield
    finally:
        admission.leave_ingest(who.namespace, tokens)


IngestDep = Depends(ingest_admission)
